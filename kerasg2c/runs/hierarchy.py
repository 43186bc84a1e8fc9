"""Two-step classification runs (`config.hierarchy = "s_vs_noa,ss_vs_gs"`, G2C papers): one
classification run per task in `workdir/<task>/`, then the combined evaluation.

    python -m trainers.g2c --config=configs/g2c.py --config.hierarchy=s_vs_noa,ss_vs_gs

`workdir/report.json` holds the combined 3-way metrics under "metrics" (so
`trainers.compare` compares hierarchies like flat runs), the second task on the patches
the first one routed correctly, and each task's own test metrics.
"""

import os

from absl import logging

from kerasg2c.data import layout, tasks
from kerasg2c.evaluation import hierarchy, plots
from kerasg2c.runs import common
from kerasg2c.training import runtime


def parse(value: str) -> tuple[str, str]:
    """("first", "second") from "first,second" (config key `hierarchy`)."""
    names = [n.strip() for n in value.split(",")]
    if len(names) != 2 or not all(names):
        raise ValueError(
            f"config key hierarchy={value!r}: expected two task names, e.g. 's_vs_noa,ss_vs_gs'"
        )
    return names[0], names[1]


def train_and_evaluate(config, train_one) -> dict:
    """Trains `train_one(task_config)` for each task of `config.hierarchy`, then evaluates
    the two steps together on val and test."""
    first, second = parse(config.hierarchy)
    if config.data.tfds:
        raise ValueError("config key hierarchy needs a DATA_ROOT whose dataset.json has tasks")
    strategy = runtime.configure(config.train, config.seed)
    chief = runtime.is_chief(strategy)
    workdir = common.prepare_workdir(config, chief)
    root = common.data_root(config, workdir, strategy)
    info = layout.read_dataset_info(root)
    refined = tasks.refined_group(info.tasks, info.classes, first, second)
    stages = {}
    for task in (first, second):
        sub = config.copy_and_resolve_references()
        sub.hierarchy, sub.data.task, sub.data.root = "", task, root
        sub.workdir = os.path.join(workdir, task)
        logging.info("hierarchy: task %s in %s", task, sub.workdir)
        stages[task] = train_one(sub)
    if not chief:
        return {}
    common.prepare_workdir(config, chief)  # log into this workdir again
    metrics, second_on_routed = {}, {}
    for split in ("val", "test"):
        rows = [
            hierarchy.read_predictions(os.path.join(workdir, t, f"predictions_{split}_all.csv"))
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
    path = common.write_report(workdir, report)
    logging.info(
        "hierarchy %s → %s: combined test balanced accuracy %.3f; report: %s",
        first,
        second,
        test["balanced_accuracy"],
        path,
    )
    return report
