"""Choosing the number of categories k (Hu et al. §IV-D, "Choosing the Number of Clusters",
Table II): the InfoWGAN-GP job once per k of `infogan.k_sweep`, its Q clustering's purity,
entropy and F-score side by side.

    python -m trainers.infowgan --config=configs/infowgan.py --config.infogan.k_sweep="(4,5,6)"

Each k trains into `workdir/k<k>/` (the same data, seed and keys, `infogan.categories = k`)
and writes its own report there; the sweep writes `k_sweep.csv` (k, purity, entropy,
f_score, info_loss: the last epoch's L_Q), `k_sweep.png` (purity and entropy against k)
and a `report.json` holding the rows.
"""

import csv
import os

from kerasg2c.errors import UserError
from kerasg2c.evaluation.plots import plt  # Agg backend, set once there
from kerasg2c.jobs import reporting

FIELDS = ("k", "purity", "entropy", "f_score", "info_loss")
TABLE = "k_sweep.csv"
FIGURE = "k_sweep.png"


def _last_info_loss(history):
    """The last epoch's Q loss of a run's history (None when it logged none)."""
    value = history[-1].get("info_loss") if history else None
    return None if value is None else float(value)


def plot(rows, path) -> None:
    """PNG of purity (left axis, higher is better) and entropy in bits (right axis, lower
    is better) of Q's clustering against k."""
    ks = [r["k"] for r in rows]
    fig, left = plt.subplots(figsize=(5, 3.6))
    left.plot(ks, [r["purity"] for r in rows], "o-", color="tab:blue", label="purity")
    left.set(xlabel="k (categories of c)", ylabel="purity", xticks=ks)
    right = left.twinx()
    right.plot(ks, [r["entropy"] for r in rows], "s--", color="tab:red", label="entropy")
    right.set_ylabel("entropy (bits)")
    fig.legend(loc="upper center", ncol=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(config, context, train_and_evaluate) -> dict:
    """Trains and scores the job once per k of `infogan.k_sweep`; returns the sweep's
    report (chief) or {} (other workers). `train_and_evaluate(config, context)` is the
    InfoWGAN-GP job's, which dispatches here."""
    rows = []
    for k in config.infogan.k_sweep:
        sub = config.copy_and_resolve_references()
        with sub.unlocked():
            sub.infogan.categories = int(k)
            sub.infogan.k_sweep = ()
            sub.workdir = os.path.join(context.workdir, f"k{int(k)}")
        with context.stage(sub) as stage_context:
            report = train_and_evaluate(sub, stage_context)
        if context.chief:
            q = report["clustering"].get("infowgan_q")
            if q is None:  # no test cell of a known type
                raise UserError(f"config key infogan.k_sweep: {report['clustering']['note']}")
            rows.append(
                {
                    "k": int(k),
                    "purity": q["purity"],
                    "entropy": q["entropy"],
                    "f_score": q["f_score"],
                    "info_loss": _last_info_loss(report["history"]),
                }
            )
    if not context.chief:
        return {}
    with open(os.path.join(context.workdir, TABLE), "w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, os.path.join(context.workdir, FIGURE))
    report = {"trainer": "infogan", "k_sweep": rows, "table": TABLE, "figure": FIGURE}
    reporting.write_report(context.workdir, report)
    return report
