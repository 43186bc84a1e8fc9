"""Effect maps: a method's effect against a control arm on a grid of two axes (a premise
knob × a budget), over seeds, as a heat map with the interval in each cell and a table
with every seed's values.

A cell holds the paired values of the method and the control arm, one pair per seed; its
effect is the mean of method − control with a 95 % t interval and the paired t-test's p
(`statistics.paired_t_test`).
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kerasg2c.evaluation import statistics  # noqa: E402


def cell_summary(method, control) -> dict:
    """{"n", "method_mean", "method_sd", "control_mean", "control_sd", "effect",
    "ci_low", "ci_high", "p", "method", "control"} of paired per-seed values (the last two:
    the values themselves). With one seed the effect has no interval and no p (None)."""
    method = [float(v) for v in method]
    control = [float(v) for v in control]
    if len(method) != len(control) or not method:
        raise ValueError(f"need equal, non-empty value lists, got {len(method)} and {len(control)}")

    def sd(values):
        return float(np.std(values, ddof=1)) if len(values) > 1 else None

    summary = {
        "n": len(method),
        "method_mean": float(np.mean(method)),
        "method_sd": sd(method),
        "control_mean": float(np.mean(control)),
        "control_sd": sd(control),
        "effect": float(np.mean(np.subtract(method, control))),
        "ci_low": None,
        "ci_high": None,
        "p": None,
        "method": method,
        "control": control,
    }
    if len(method) > 1:
        test = statistics.paired_t_test(control, method)
        summary |= {k: test[k] for k in ("ci_low", "ci_high", "p")}
    return summary


def mean_sd(mean, sd) -> str:
    """'0.812 ± 0.031' ('0.812' without an sd)."""
    return f"{mean:.3f}" if sd is None else f"{mean:.3f} ± {sd:.3f}"


def spread(values) -> str:
    """'0.812 ± 0.031' of per-seed values (sd with n − 1; '0.812' for one value)."""
    values = [float(v) for v in values]
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return mean_sd(float(np.mean(values)), sd)


def effect_text(summary: dict) -> str:
    """'+0.041 [−0.020, +0.102], p 0.12' (the interval and p when there are)."""
    text = f"{summary['effect']:+.3f}"
    if summary["ci_low"] is not None:
        text += f" [{summary['ci_low']:+.3f}, {summary['ci_high']:+.3f}]"
    if summary["p"] is not None:
        text += f", p {summary['p']:.2g}"
    return text


def diverging(lower_is_better=False):
    """The heat maps' colour map over [-scale, scale]: red where the method beats the
    control (an effect above 0, or below 0 for an error), blue where it loses; missing
    cells grey."""
    cmap = matplotlib.colormaps["RdBu" if lower_is_better else "RdBu_r"].copy()
    cmap.set_bad("lightgrey")
    return cmap


def save_heat_map(
    panels, rows, columns, path, *, row_name, column_name, title, lower_is_better=False
) -> None:
    """One heat map per panel of the effect per (row, column) cell, each cell annotated
    with its effect and 95 % interval; diverging colours centred on 0 on one scale for
    every panel (red: the method better than the control).

    Args:
      panels: {panel title: {(row, column): `cell_summary` dict}}; a missing cell is grey.
      rows, columns: the axis values, in order.
      path: the PNG to write.
      row_name, column_name: the axes' names.
      title: the figure's title.
      lower_is_better: the metric is an error (red then marks an effect below 0).
    """
    effects = [abs(s["effect"]) for cells in panels.values() for s in cells.values()]
    finite = [e for e in effects if np.isfinite(e)]
    scale = max([0.05, *finite])
    fig, axes = plt.subplots(
        1, len(panels), figsize=(1.2 + 2.3 * len(columns) * len(panels), 1.4 + 0.9 * len(rows)),
        squeeze=False,
    )  # fmt: skip
    for ax, (name, cells) in zip(axes[0], panels.items()):
        grid = np.full((len(rows), len(columns)), np.nan)
        for (r, c), s in cells.items():
            grid[rows.index(r), columns.index(c)] = s["effect"]
        ax.imshow(
            np.ma.masked_invalid(grid), cmap=diverging(lower_is_better), vmin=-scale, vmax=scale,
            aspect="auto",
        )  # fmt: skip
        for (r, c), s in cells.items():
            text = f"{s['effect']:+.3f}"
            if s["ci_low"] is not None:
                text += f"\n[{s['ci_low']:+.2f}, {s['ci_high']:+.2f}]"
            colour = "white" if abs(s["effect"]) > 0.6 * scale else "black"
            ax.text(
                columns.index(c), rows.index(r), text, ha="center", va="center", fontsize=8,
                color=colour,
            )  # fmt: skip
        ax.set_xticks(range(len(columns)), [str(c) for c in columns])
        ax.set_yticks(range(len(rows)), [str(r) for r in rows])
        ax.set_xlabel(column_name)
        ax.set_ylabel(row_name)
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    better = "below" if lower_is_better else "above"
    fig.text(0.5, 0.005, f"red: the arm better than the control (effect {better} 0); blue: "
             "worse; grey: no run", ha="center", va="bottom", fontsize=7)  # fmt: skip
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
