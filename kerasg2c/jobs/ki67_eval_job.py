"""The Ki-67 evaluation job (`python -m trainers.ki67_eval`): the IHC paper's Tables 3–4
(Ki-67 index of real vs synthetic Ki-67) for the raw and the MIL-conditioned CycleGAN
H&E → Ki-67 (its ablation, Figure 11), on H&E / Ki-67 twins with known indices.

Each step is a stage in its own sub-workdir, so each resumes on its own:

1. `mil_HE/`, `mil_KI67/`: one top-1 MIL classifier per stain (`mil_stage.*`, the MIL
   job), on `labeled/` (H&E) and on `paired/KI67/` seen as `labeled/`
   (`relabel.stain_as_labeled`).
2. Every patch's class is its own stain's classifier's prediction: the relabelled view
   `views/relabelled` (`relabel.write_view`; predicted vs true in `relabel.csv`). With
   `ki67.condition_source` `true` or `shuffled` the view holds the true classes, or those
   shuffled, instead (`ki67_conditions`).
3. `cyclegan_conditional/` (`cyclegan.condition="labels"`, on that view) and
   `cyclegan_raw/` (no condition, the same training patches as unlabeled `reference/`:
   `views/unlabeled`, `relabel.train_as_reference`), both of the `cyclegan_stage.*` keys.
   With `ki67.stage_cache` the MIL stages and the raw CycleGAN run in that cache, shared
   by the runs of the same data and seed.
4. The `ki67.splits` H&E patches translated by both generators (the conditional one given
   the H&E classifier's prediction, as in training), `pathology.ki67.ki67_index` of the
   real twins and of both synthetic sets against the phantoms' true index
   (`ki67/<split>.csv`): `ki67_patches.csv`, `ki67_table.csv` / `.md`, `ki67_figure.png`
   and `report.json`. Its scoring lives in `ki67_scoring`.
"""

import contextlib
import csv
import os

import keras
import numpy as np
from absl import logging

from kerasg2c import json_files
from kerasg2c.data import layout, pipeline, relabel, stain_pairs
from kerasg2c.errors import UserError
from kerasg2c.jobs import cyclegan_job, mil_job, reporting, shared_config, stage_cache
from kerasg2c.jobs.ki67_conditions import CONDITION_SOURCES, SHAREABLE, conditions
from kerasg2c.jobs.ki67_scoring import pooled_errors, score_split, summary_rows
from kerasg2c.mil import roles as mil_roles
from kerasg2c.phantoms import ihc

SOURCE, TARGET = "HE", "KI67"
SPLITS = ("train", "val", "test")
CYCLEGANS = {"conditional": "labels", "raw": ""}  # stage → cyclegan.condition
FIGURE = "ki67_figure.png"


def eval_splits(config) -> list[str]:
    return [s.strip() for s in config.ki67.splits.split(",") if s.strip()]


def check(config) -> None:
    """Refuses bad values of the shared, `ki67.*`, `mil_stage.*` and `cyclegan_stage.*`
    keys, naming the key."""
    shared_config.check_shared(config)
    shared_config.require_square(config, "ki67_eval")
    if config.data.tfds:
        raise UserError("config key data.tfds: ki67_eval reads H&E / Ki-67 twins (data.root)")
    shared_config.require_positive(config, "ki67.threshold", "ki67.figure_rows")
    if "he_cue" in config.data.phantoms:
        shared_config.require_fraction(config, "data.phantoms.he_cue")
    shared_config.require_choice(config, "ki67.condition_source", CONDITION_SOURCES)
    wanted = eval_splits(config)
    if not wanted or any(s not in SPLITS for s in wanted):
        raise UserError(f"config key ki67.splits={config.ki67.splits!r}: expected some of {SPLITS}")
    _derive_stages(config)
    mil_job.check(config, prefix="mil_stage.")
    cyclegan_job.check(config, prefix="cyclegan_stage.")


def _derive_stages(config) -> None:
    """The stages share this run's image size, strictness, pixel limit and seed; the
    CycleGANs translate HE → KI67."""
    for stage in (config.mil_stage, config.cyclegan_stage):
        stage.data.image_size, stage.data.strict = config.data.image_size, config.data.strict
        stage.data.max_pixels, stage.seed = config.data.max_pixels, config.seed
    config.cyclegan_stage.cyclegan.source_stain = SOURCE
    config.cyclegan_stage.cyclegan.target_stains = (TARGET,)


def write_phantoms(root, config) -> None:
    """H&E / Ki-67 twins (`ihc.write_dataset`) as the DATA_ROOT when `data.root`
    is empty, sized by `data.phantoms.*`."""
    p = config.data.phantoms
    ihc.write_dataset(
        root,
        n_train=p.n_train,
        n_val=p.n_val,
        n_test=p.n_test,
        n_reference=p.n_reference,
        seed=config.seed,
        size=p.size,
        he_cue=p.get("he_cue", 1.0),
    )


def run_stage(config, context, job, stage, folder, data_root, done) -> str:
    """Runs `job` on `stage` in `context.workdir/folder` reading `data_root`, unless its
    file `done` is there (a rerun); returns the folder. With `ki67.stage_cache`, a
    `ki67_conditions.SHAREABLE` stage runs in that cache instead (`stage_cache`: keyed by
    the stage's config and the run's data and seed), once for every run that shares it."""
    stage = stage.copy_and_resolve_references()
    cache = config.ki67.stage_cache if folder in SHAREABLE else ""
    if cache:
        stage_cache.refuse_multi_worker(context.strategy, "ki67.stage_cache")
    workdir = (
        stage_cache.folder(cache, folder, stage, config.data, config.seed)
        if cache
        else os.path.join(context.workdir, folder)
    )
    with stage_cache.locked(workdir) if cache else contextlib.nullcontext():
        if not os.path.exists(os.path.join(workdir, done)):
            stage.workdir, stage.data.root = workdir, data_root
            with context.stage(stage, write_phantoms=write_phantoms) as stage_context:
                job.train_and_evaluate(stage, stage_context)
    return workdir


def mil_predictions(folder, split, image_size, classes) -> np.ndarray:
    """The class of every patch by the MIL classifier of the stage in `folder` (argmax of
    its tile probabilities), as an index of the dataset's `classes`: the classifier's
    labels 0 / 1 are its report's "classes" (negative, positive), so no role follows the
    order of the folders or of `classes`."""
    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)

    model = keras.saving.load_model(os.path.join(folder, "model.keras"), compile=False)
    images = pipeline.load_images(split, image_size)
    probs = [
        model.serving_outputs(images[i : i + 64])["probabilities"]
        for i in range(0, len(images), 64)
    ]
    roles = json_files.read_object(os.path.join(folder, "report.json"))["classes"]
    as_dataset = np.array([classes.index(c) for c in roles], np.int32)
    return as_dataset[np.concatenate([np.asarray(p) for p in probs]).argmax(1)]


def write_table(workdir, rows) -> None:
    """`ki67_table.csv` and `ki67_table.md`."""
    keys = list(rows[0])
    with open(os.path.join(workdir, "ki67_table.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    def cell(x):
        return "–" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)

    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(cell(r[k]) for k in keys) + " |" for r in rows]
    with open(os.path.join(workdir, "ki67_table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def write_figure(path, columns, labels, n) -> None:
    """Rows H&E | real Ki-67 | raw | conditional of up to `n` patches, tumour and normal
    alternating (Figure 11)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    tumour, normal = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    pick = [i for pair in zip(tumour, normal) for i in pair][:n] or list(range(min(n, len(labels))))
    titles = ["H&E", "real Ki-67", "raw CycleGAN", "conditional"]
    fig, axes = plt.subplots(len(pick), 4, figsize=(8, 2 * len(pick)), squeeze=False)
    for r, i in enumerate(pick):
        for c, images in enumerate(columns):
            axes[r, c].imshow(images[i])
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(titles[c])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train_and_evaluate(config, context) -> dict:
    """Steps 1–4, then `report.json`."""
    keras.utils.set_random_seed(config.seed)
    _derive_stages(config)
    root, size, workdir = context.data_root, config.data.image_size, context.workdir
    classes = layout.read_dataset_info(root).classes
    scan = {
        "strict": config.data.strict,
        "scan_cache": os.path.join(workdir, "data_scan.json"),
        "max_pixels": config.data.max_pixels,
    }
    # Refused here, naming the stage's key, before any stage trains.
    mil_roles.binary_classes(config.mil_stage, root, classes, prefix="mil_stage.")
    pairs = {}
    for s in SPLITS:
        he = pipeline.load_labeled_split(root, s, classes=classes, **scan)
        pairs[s] = stain_pairs.aligned(
            he, stain_pairs.paired_split(root, TARGET, s, classes, **scan)
        )
    views = os.path.join(
        workdir, "views" if context.task_index == 0 else f"views_worker{context.task_index}"
    )
    mil_roots = {
        SOURCE: root,
        TARGET: relabel.stain_as_labeled(root, os.path.join(views, TARGET), TARGET),
    }
    predicted, accuracy = {}, {}
    for k, stain in enumerate((SOURCE, TARGET)):
        folder = run_stage(
            config, context, mil_job, config.mil_stage, f"mil_{stain}", mil_roots[stain],
            "report.json",
        )  # fmt: skip
        predicted[stain] = {s: mil_predictions(folder, pairs[s][k], size, classes) for s in SPLITS}
        accuracy[stain] = {
            s: float(np.mean(predicted[stain][s] == pairs[s][k].labels)) for s in SPLITS
        }
    true = {st: {s: pairs[s][k].labels for s in SPLITS} for k, st in enumerate((SOURCE, TARGET))}
    given = conditions(config.ki67.condition_source, predicted, true, config.seed)
    rows = {
        s: [
            (a, classes[pa], b, classes[pb])
            for a, pa, b, pb in zip(
                pairs[s][0].paths, given[SOURCE][s], pairs[s][1].paths, given[TARGET][s]
            )
        ]
        for s in SPLITS
    }
    view = relabel.write_view(root, os.path.join(views, "relabelled"), TARGET, rows)
    unlabeled = relabel.train_as_reference(
        root, os.path.join(views, "unlabeled"), SOURCE, TARGET, rows["train"]
    )
    generators = {}
    for name, condition in CYCLEGANS.items():
        stage = config.cyclegan_stage.copy_and_resolve_references()
        stage.cyclegan.condition = condition
        data = view if condition else unlabeled
        folder = run_stage(
            config, context, cyclegan_job, stage, f"cyclegan_{name}", data,
            f"generators/{TARGET}.keras",
        )  # fmt: skip
        generators[name] = os.path.join(folder, "generators", f"{TARGET}.keras")
    if not context.chief:
        return {}
    with open(os.path.join(workdir, "relabel.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["split", "stain", "file", "true", "predicted"])
        for s in SPLITS:
            for k, stain in enumerate((SOURCE, TARGET)):
                split = pairs[s][k]
                for path, t, p in zip(split.paths, split.labels, predicted[stain][s]):
                    writer.writerow([s, stain, path, classes[t], classes[p]])
    table, patches, figure = [], [], None
    nets = {n: keras.saving.load_model(p, compile=False) for n, p in generators.items()}
    conditional_report = os.path.join(context.workdir, "cyclegan_conditional", "report.json")
    view_classes = tuple(json_files.read_object(conditional_report)["condition_classes"])
    for s in eval_splits(config):
        rows_s, columns = score_split(
            config, root, s, pairs[s], given[SOURCE][s], nets, classes, view_classes
        )
        patches += rows_s
        table += summary_rows(s, rows_s, classes)
        if figure is None or s == "test":
            figure = (columns, pairs[s][0].labels)
    with open(os.path.join(workdir, "ki67_patches.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, list(patches[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(patches)
    write_table(workdir, table)
    write_figure(os.path.join(workdir, FIGURE), *figure, config.ki67.figure_rows)
    report = {
        "trainer": "ki67_eval",
        "classes": list(classes),
        "mil": {st: {"run": f"mil_{st}", "patch_accuracy": accuracy[st]} for st in accuracy},
        "relabelled_view": view,
        "condition_source": config.ki67.condition_source,
        # What a sweep reads: the per-image index error of every source against the truth,
        # over the scored splits together.
        "metrics": {"mae_vs_true": pooled_errors(patches)},
        "cyclegan": {n: os.path.relpath(p, workdir) for n, p in generators.items()},
        "ki67_threshold": config.ki67.threshold,
        "table": table,
        "files": ["ki67_table.csv", "ki67_table.md", "ki67_patches.csv", "relabel.csv", FIGURE],
    }
    reporting.write_report(workdir, report)
    for r in table:
        logging.info(
            "ki67 %s %-11s mean %s, MAE vs true %s",
            r["split"],
            r["source"],
            r["mean_index"],
            r["mae_vs_true"],
        )
    return report
