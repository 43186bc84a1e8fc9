"""The MIL heat-map figure: each tile beside the grid of its instances' tumour
probabilities (the IHC paper's Figure 8 shows such patch-level results)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save_heatmaps(tiles, scores, titles, path: str) -> None:
    """One row per tile: the tile ([S, S, 3] in [0, 1]) and its scores ([g·g], row-major)
    as a g × g grid on [0, 1]; `titles` head the rows."""
    n = len(tiles)
    fig, axes = plt.subplots(n, 2, figsize=(5, 2.5 * n), squeeze=False)
    for (left, right), tile, s, title in zip(axes, tiles, scores, titles):
        g = int(round(np.sqrt(len(s))))
        left.imshow(np.clip(tile, 0, 1))
        left.set_title(title, fontsize=8)
        shown = right.imshow(np.reshape(s, (g, g)), vmin=0, vmax=1, cmap="magma")
        right.set_title(f"instance scores, max {np.max(s):.2f}", fontsize=8)
        for ax in (left, right):
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(shown, ax=right, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
