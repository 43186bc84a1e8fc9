"""HistoGAN's classification comparison (paper §4.3.3, Tables 1–2) on the sweep machinery
(`kerasg2c.jobs.sweep`); the launcher is `python -m trainers.augment_eval`.

Six arms, each trained over the same seeds by the classifier trainer, as the linked values
of `data.root:data.augment` (one --vary key of the sweep):

  baseline       the HistoGAN run's real training patches (its `augmented/real` DATA_ROOT:
                 the patients it trained on), data.augment=False (no augmentation)
  traditional    the same DATA_ROOT, data.augment=True (random flips, brightness and
                 saturation jitter)
  unselected     its `augmented/unselected` DATA_ROOT, data.augment=True (GAN, no selection)
  entropy_only   `augmented/entropy_only`, data.augment=True
  centroid_only  `augmented/centroid_only`, data.augment=True
  selective      `augmented/selective`, data.augment=True (the paper's method)

Traditional augmentation stays on in the GAN arms: the paper adds the synthetic images on
top of the usual augmentation, so the GAN arms differ from `traditional` only by their
synthetic patches. Every arm is compared to `unselected` (mean per-seed difference, and a
paired t-test of per-patient accuracy pooled over (seed, patient) pairs), so `selective`
against `unselected` is the issue's paired test of selection.

Needs no TensorFlow: it reads the HistoGAN run's report.json and config.json only.
"""

import json
import os
import typing

from kerasg2c import json_files
from kerasg2c.errors import UserError
from kerasg2c.jobs import sweep, sweep_grid

# The DATA_ROOTs `kerasg2c.jobs.histogan_job` writes (its ARMS), in table order, and the
# one of its real training patches alone.
REAL = "real"
GAN_ARMS = ("unselected", "entropy_only", "centroid_only", "selective")
ARMS = ("baseline", "traditional", *GAN_ARMS)
# The one --vary key: both config keys vary together, one value 'ROOT:AUGMENT' per arm.
KEY = "data.root:data.augment"
# The arm every other arm is compared to.
AGAINST = "unselected"
# The metrics of the paper's tables, in their order (the stdout lines).
PAPER_METRICS = ("accuracy", "auc", "sensitivity", "specificity")
SPLITS = ("train", "val", "test")
# Longest file name most file systems take (the sweep names a cell's folder by its values).
_MAX_NAME = 255
# The sweep's flags (in its messages) as this launcher's config keys.
_FLAG_KEYS = {
    "--config": "classifier_config",
    "--trainer": "trainer",
    "--seeds": "seeds",
    "--set": "sets",
    "--vary": "histogan_run",
    "--out": "out",
}


class Arm(typing.NamedTuple):
    """One row of the comparison: its name, the DATA_ROOT and data.augment it trains with."""

    name: str
    root: str
    augment: bool

    @property
    def value(self) -> str:
        """Its value of the sweep's linked key `KEY`: 'ROOT:True'."""
        return f"{self.root}{sweep_grid.LINK}{self.augment}"


def _config_key_error(error: UserError) -> UserError:
    """A sweep error naming a flag, reworded to name this launcher's config key."""
    text = str(error)
    for flag, key in _FLAG_KEYS.items():
        if text.startswith(flag + ":"):
            return UserError(f"config key {key}:{text[len(flag) + 1 :]}")
    return error


def _report(histogan_run: str) -> tuple[str, dict]:
    path = os.path.join(histogan_run, "report.json")
    if not os.path.isfile(path):
        raise UserError(
            f"config key histogan_run: no report.json in {histogan_run} "
            "(run python -m trainers.histogan into it first)"
        )
    return path, json_files.read_object(path)


def run_data_root(histogan_run: str) -> str:
    """The DATA_ROOT the HistoGAN run read: its config.json's data.root (a relative one
    taken from the current directory, as the run did), or, when empty, the phantoms it wrote
    into `histogan_run/data`; with data.tfds, `histogan_run/tfds_data`, where the run wrote
    the examples it trained on (and the whole val and test splits) as PNGs. (Its
    report.json records counts, not the folder.)

    Raises UserError when that is not a folder, or when the run trained on a subset of the
    training patients (data.max_train_patients) of a DATA_ROOT: its augmented DATA_ROOTs
    then hold only those patients' real patches, and the baseline arms, on the whole
    DATA_ROOT, would train on more real data than the GAN arms. (`tfds_data` holds just
    the subset, so a data.tfds run may use one.)
    """
    path = os.path.join(histogan_run, "config.json")
    data = json_files.read_object(path).get("data") or {}
    if data.get("tfds"):
        root = os.path.join(histogan_run, "tfds_data")
        if not os.path.isdir(root):
            raise UserError(
                f"{path}: data.tfds={data['tfds']!r}: no {root} (the run writes the examples "
                "it trained on there with its augmented DATA_ROOTs; is it finished?)"
            )
        return os.path.abspath(root)
    if data.get("max_train_patients"):
        raise UserError(
            f"{path}: data.max_train_patients={data['max_train_patients']}: the augmented "
            "DATA_ROOTs hold only those patients' real patches, so baseline arms on the whole "
            "DATA_ROOT would not be comparable; run HistoGAN on a DATA_ROOT of those patients"
        )
    root = os.path.abspath(data["root"]) if data.get("root") else os.path.join(histogan_run, "data")
    if not os.path.isdir(root):
        raise UserError(
            f"{path}: the run's DATA_ROOT {root} is not a folder (data.root, or the phantoms "
            "written into the run's data/ when data.root is empty)"
        )
    return os.path.abspath(root)


def arms(histogan_run: str) -> list[Arm]:
    """The six arms, in `ARMS` order, for the HistoGAN run folder `histogan_run`.

    Raises UserError naming the file or key: no report.json, no `selection.roots` or an arm
    missing from it, a root that is not a folder or that the sweep's values cannot hold.
    """
    path, report = _report(histogan_run)
    roots = (report.get("selection") or {}).get("roots")
    if not isinstance(roots, dict) or not roots:
        raise UserError(
            f"{path}: no selection.roots (not a finished HistoGAN run: its last step writes "
            "one DATA_ROOT per arm)"
        )
    missing = [a for a in GAN_ARMS if a not in roots]
    if missing:
        raise UserError(f"{path}: selection.roots has no {missing} (has {sorted(roots)})")
    for arm in GAN_ARMS:
        if not os.path.isdir(roots[arm]):
            raise UserError(f"{path}: selection.roots.{arm}: {roots[arm]} is not a folder")
    # The run's real training patches (its drawn patients too); an older run has no REAL.
    real = os.path.abspath(roots[REAL]) if REAL in roots else run_data_root(histogan_run)
    result = [
        Arm("baseline", real, False),
        Arm("traditional", real, True),
        *(Arm(a, os.path.abspath(roots[a]), True) for a in GAN_ARMS),
    ]
    for arm in result:
        if sweep_grid.LINK in arm.root or "," in arm.root:
            raise UserError(
                f"{path}: the {arm.name} DATA_ROOT {arm.root} holds ':' or ',', which a "
                "sweep value cannot; move the runs to a path without them"
            )
    return result


def make_grid(config, arm_list: list[Arm]) -> sweep_grid.Grid:
    """The sweep: the arms (linked values of `KEY`) × `config.seeds`, each cell a run of
    `config.trainer` (default trainers.<classifier_config's stem>) on
    `config.classifier_config` with `config.sets`. Raises UserError naming the config key."""
    for key in ("histogan_run", "classifier_config", "seeds", "out"):
        if not isinstance(config[key], str) or not config[key]:
            raise UserError(f"config key {key}: required, a non-empty string")
    if not isinstance(config.parallel, int) or config.parallel < 1:
        raise UserError(f"config key parallel: expected an integer >= 1, got {config.parallel!r}")
    if config.split not in SPLITS:
        raise UserError(f"config key split: expected one of {SPLITS}, got {config.split!r}")
    sets = (config.sets,) if isinstance(config.sets, str) else tuple(config.sets)
    vary = f"{KEY}={','.join(a.value for a in arm_list)}"
    try:
        grid = sweep_grid.make_grid(
            config.trainer or None, config.classifier_config, [vary], config.seeds, list(sets)
        )
    except UserError as e:
        raise _config_key_error(e) from None
    longest = max(grid.cells(), key=lambda c: len(c.name))
    if len(longest.name) > _MAX_NAME:
        raise UserError(
            f"config key histogan_run: the sweep names each run's folder by its DATA_ROOT "
            f"path, {len(longest.name)} characters for {longest.label} (at most {_MAX_NAME}); "
            "reach the HistoGAN run by a shorter path"
        )
    return grid


def record_grid(grid: sweep_grid.Grid, out: str) -> None:
    """`sweep.record_grid`, its errors naming the config key `out`."""
    try:
        sweep.record_grid(grid, out)
    except UserError as e:
        raise _config_key_error(e) from None


def baseline(arm_list: list[Arm]) -> tuple[str, str]:
    """The sweep's baseline (key, value): the `AGAINST` arm."""
    return KEY, next(a.value for a in arm_list if a.name == AGAINST)


def summarize(grid: sweep_grid.Grid, out: str, split: str, arm_list: list[Arm], command: str):
    """The sweep's summary (summary.md, summary.json, one PNG per metric) of the finished
    runs against `AGAINST`, with the arms' names added: an "arms" entry in summary.json
    ({name, root, augment, label} in table order) and an arms table at the end of
    summary.md. Returns (paths written, the summary as in summary.json)."""
    paths = sweep.summarize(grid, out, split, baseline(arm_list), command)
    names = [
        {"name": a.name, "root": a.root, "augment": a.augment, "label": f"{KEY}={a.value}"}
        for a in arm_list
    ]
    json_path = os.path.join(out, "summary.json")
    summary = json_files.read_object(json_path)
    summary["arms"] = names
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, allow_nan=False)
    table = ["", "## Arms", "", "| arm | data.root | data.augment |", "| --- | --- | --- |"]
    table += [f"| {a.name} | {a.root} | {a.augment} |" for a in arm_list]
    with open(os.path.join(out, "summary.md"), "a", encoding="utf-8") as f:
        f.write("\n".join(table) + "\n")
    return paths, summary


def _t_text(row: dict) -> str:
    if row.get("t_test_error"):
        return f"vs {AGAINST}: t-test not computed"
    t = row.get("t_test")
    if t is None:
        return f"the arm the others are compared to (paired per-patient t-test, row − {AGAINST})"
    if t["t"] is None:
        return f"vs {AGAINST}: per-patient t undefined (constant differences, n={t['n']})"
    return f"vs {AGAINST}: per-patient t={t['t']:.3f}, p={t['p']:.3g} (n={t['n']})"


def arm_lines(summary: dict, arm_list: list[Arm]) -> list[str]:
    """One line per arm: the paper's metrics as mean ± sd (n seeds) and the paired test
    against `AGAINST`; metrics no finished run has are left out."""
    lines = []
    for i, arm in enumerate(arm_list):
        parts = []
        for metric in PAPER_METRICS:
            table = summary["metrics"].get(metric)
            if table is None or table[i]["mean"] is None:
                continue
            m = table[i]
            sd = "" if m["sd"] is None else f" ± {m['sd']:.4f}"
            parts.append(f"{metric} {m['mean']:.4f}{sd}")
        row = summary["rows"][i]
        seeds = f"n={len(row['seeds'])}"
        metrics = ", ".join(parts) if parts else "no finished run"
        lines.append(f"{arm.name}: {metrics} ({seeds}); {_t_text(row)}")
    return lines
