"""Two-step classification runs (`config.hierarchy = "s_vs_noa,ss_vs_gs"`, G2C papers): one
classification run per task in `workdir/<task>/`, then the combined evaluation.

    python -m trainers.g2c --config=configs/g2c.py --config.hierarchy=s_vs_noa,ss_vs_gs

`workdir/report.json` holds the combined 3-way metrics under "metrics" (so
`kerasg2c.tools.compare` compares hierarchies like flat runs), the second task on the patches
the first one routed correctly, and each task's own test metrics.
"""

import os

from absl import logging

from kerasg2c.data import layout, tasks
from kerasg2c.errors import UserError
from kerasg2c.evaluation import hierarchy, plots, prediction_table
from kerasg2c.jobs import reporting


def parse(value: str) -> tuple[str, str]:
    """("first", "second") from "first,second" (config key `hierarchy`)."""
    names = [n.strip() for n in value.split(",")]
    if len(names) != 2 or not all(names):
        raise UserError(
            f"config key hierarchy={value!r}: expected two task names, e.g. 's_vs_noa,ss_vs_gs'"
        )
    return names[0], names[1]


def train_and_evaluate(config, context, train_one) -> dict:
    """Trains `train_one(task_config, task_context)` for each task of `config.hierarchy`
    (a stage of `context` in `workdir/<task>/`), then evaluates the two steps together on
    val and test."""
    first, second = parse(config.hierarchy)
    workdir = context.workdir
    info = layout.read_dataset_info(context.data_root)
    refined = tasks.refined_group(info.tasks, info.classes, first, second)
    stages = {}
    for task in (first, second):
        sub = config.copy_and_resolve_references()
        sub.hierarchy, sub.data.task, sub.data.root = "", task, context.data_root
        sub.workdir = os.path.join(workdir, task)
        logging.info("hierarchy: task %s in %s", task, sub.workdir)
        with context.stage(sub) as task_context:
            stages[task] = train_one(sub, task_context)
    if not context.chief:
        return {}
    metrics, second_on_routed = {}, {}
    for split in ("val", "test"):
        rows = [
            prediction_table.read_predictions(
                os.path.join(workdir, t, f"predictions_{split}_all.csv")
            )
            for t in (first, second)
        ]
        result = hierarchy.hierarchical_metrics(
            *rows, info.classes, info.tasks[first], info.tasks[second], refined
        )
        metrics[split] = result["combined"]
        second_on_routed[split] = {"n": result["routed"], "metrics": result["second_on_routed"]}
    test = metrics["test"]
    plots.save_confusion_matrix(
        test["confusion_matrix"],
        info.classes,
        os.path.join(workdir, "confusion_matrix.png"),
        title=f"{first} then {second}: test balanced accuracy {test['balanced_accuracy']:.3f}",
    )
    report = {
        "trainer": "hierarchy",
        "variant": config.get("variant"),
        "hierarchy": [first, second],
        "refined_group": refined,
        "classes": list(info.classes),
        "metrics": metrics,
        "second_on_routed": second_on_routed,
        "stages": {t: {"workdir": t, "test": r["metrics"]["test"]} for t, r in stages.items()},
        "figures": ["confusion_matrix.png"],
    }
    path = reporting.write_report(workdir, report)
    logging.info(
        "hierarchy %s → %s: combined test balanced accuracy %.3f; report: %s",
        first,
        second,
        test["balanced_accuracy"],
        path,
    )
    return report
