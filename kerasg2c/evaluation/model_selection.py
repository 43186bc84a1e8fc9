"""GAN checkpoint selection by EMA-smoothed FID (HistoGAN paper §3.1.2, Eqs. 4–5, §4.2.2).

The paper saves the generator after every epoch past a warm-up ("GAN models at each epoch
are saved after the 100th epoch for model selection"), computes the FID of each (Eq. 4,
`frechet.py`, features from a classifier trained on the same data), smooths the sequence
with an exponential moving average and keeps "the epoch with the lowest adjusted FID score".
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def ema(values, alpha=0.5) -> list:
    """Exponential moving average in the paper's convention (Eq. 5): α weights the past.

    d̂_1 = d_1, d̂_t = α·d̂_{t-1} + (1 − α)·d_t; a larger α smooths more. (The other
    common convention, α·d_t + (1 − α)·d̂_{t-1}, is the same at the paper's α = 0.5.)

    Args:
      values: the sequence d_1, d_2, ... in order.
      alpha: weight of the previous smoothed value, in [0, 1].

    Returns:
      The smoothed sequence, a list of floats as long as `values`.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    smoothed = []
    for value in values:
        value = float(value)
        smoothed.append(value if not smoothed else alpha * smoothed[-1] + (1 - alpha) * value)
    return smoothed


def select_epoch(fid_by_epoch, warmup_epochs, alpha=0.5) -> tuple[int, dict]:
    """The epoch with the lowest EMA-smoothed FID after the warm-up (paper §3.1.2).

    Epochs <= `warmup_epochs` are ignored ("saved after the 100th epoch"); the rest are
    smoothed by `ema` in increasing epoch order (gaps between saved epochs are not filled),
    the EMA starting at the first epoch after the warm-up. Ties go to the earliest epoch.

    Args:
      fid_by_epoch: {epoch: FID}.
      warmup_epochs: the last epoch of the warm-up (100 in the paper).
      alpha: EMA weight of the past (Eq. 5; 0.5 in the paper).

    Returns:
      (best_epoch, {epoch: smoothed FID} for the epochs after the warm-up).
    """
    epochs = sorted(e for e in fid_by_epoch if e > warmup_epochs)
    if not epochs:
        raise ValueError(
            f"no FID after the warm-up (epoch {warmup_epochs}); epochs given: "
            f"{sorted(fid_by_epoch)}"
        )
    bad = [e for e in epochs if not np.isfinite(fid_by_epoch[e])]
    if bad:
        raise ValueError(f"FID is not finite at epochs {bad}: the EMA would carry it on")
    smoothed = dict(zip(epochs, ema([fid_by_epoch[e] for e in epochs], alpha)))
    best = min(epochs, key=lambda e: smoothed[e])  # min keeps the first of equal values
    return best, smoothed


def plot_fid_curve(fid_by_epoch, smoothed, chosen, path, warmup_epochs) -> None:
    """PNG of raw FID per epoch (points), the smoothed curve, the chosen epoch marked and
    the warm-up epochs shaded (the paper's Fig. 4)."""
    epochs = sorted(fid_by_epoch)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.axvspan(min(epochs[0], 0), warmup_epochs, color="0.85", label="warm-up")
    ax.scatter(epochs, [fid_by_epoch[e] for e in epochs], s=10, color="0.4", label="FID")
    kept = sorted(smoothed)
    ax.plot(kept, [smoothed[e] for e in kept], color="tab:blue", label="smoothed FID (EMA)")
    ax.axvline(chosen, color="tab:red", linestyle="--")
    ax.scatter(
        [chosen], [smoothed[chosen]], color="tab:red", zorder=3, label=f"chosen: epoch {chosen}"
    )
    ax.set(xlabel="epoch", ylabel="FID", title="model selection by smoothed FID")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
