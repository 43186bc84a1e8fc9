"""One analysis over many slides: manifests, shards, restarts, failures, one merged table.

A lab runs a slide analysis over a hundred slides as a job array against shared storage.
`run` gives every slide analysis the same behaviour there:

- the slides come from one path or a manifest: a CSV with a `slide` column (a path,
  relative to the manifest's folder unless absolute) and optionally a `label` column;
- `shard_index` / `num_shards` take every `num_shards`-th slide from `shard_index` on, so
  N processes (a Slurm array, one task per GPU) share the list without talking;
- each slide's outputs go to `OUT/<slide name>/`; the summary `<analysis>.json` is written
  last, under a temporary name renamed when complete, so a slide with its summary is
  finished and a rerun skips it; two slides of one name are refused before any runs;
- a slide that fails (unreadable, no tissue) is named with its error in
  `OUT/failures-<analysis>-<shard>-of-<shards>.csv` and the run goes on;
- `merge` gathers the summaries into `OUT/<analysis>_slides.csv` and one figure.

Examples:

    results = batch.run(batch.read_manifest("slides.csv"), "out", "ki67", analyse,
                        shard_index=0, num_shards=4)
    batch.merge("out", "ki67", columns=("nuclei", "positive", "index"), plot="index")
"""

import csv
import json
import os
import pathlib
import time
import traceback

import numpy as np
from absl import logging

from kerasg2c import errors


def read_manifest(path) -> list[dict]:
    """The slides of a manifest CSV as [{"slide": path, "label": str or None}, ...].

    Raises:
      errors.UserError: naming the file, when it is missing, empty or has no `slide` column.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise errors.MissingPathError(f"manifest {path} does not exist")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise errors.UserError(f"manifest {path} lists no slide (a header and one row a slide)")
    if "slide" not in rows[0]:
        raise errors.UserError(f"manifest {path} has no 'slide' column: {list(rows[0])}")
    slides = []
    for line, row in enumerate(rows, start=2):
        name = (row["slide"] or "").strip()
        if not name:
            raise errors.UserError(f"manifest {path} line {line}: empty 'slide'")
        slide = pathlib.Path(name)
        slide = slide if slide.is_absolute() else path.parent / slide
        slides.append({"slide": str(slide), "label": (row.get("label") or "").strip() or None})
    return slides


def slide_name(path) -> str:
    """The folder a slide's outputs go to: its file name without extension."""
    return os.path.basename(os.fspath(path)).split(".")[0]


def shard(slides, shard_index, num_shards) -> list:
    """Every `num_shards`-th slide from `shard_index` on."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise errors.UserError(
            f"--shard_index {shard_index} must be in [0, --num_shards {num_shards})"
        )
    return list(slides)[shard_index::num_shards]


def run(slides, out, analysis, analyse, *, shard_index=0, num_shards=1) -> dict:
    """Runs `analyse` on this shard's slides that lack a finished summary.

    Args:
      slides: [{"slide": path, "label": ...}] (`read_manifest`, or one made by hand).
      out: the output folder; each slide gets `out/<slide name>/`.
      analysis: the analysis name, its summary file `<analysis>.json`.
      analyse: `analyse(slide_path, folder)` -> JSON-able summary dict; it writes its own
        other files (GeoJSON, CSV) into `folder`, each atomically.
      shard_index, num_shards: see `shard`.

    Returns:
      {"done": [...], "skipped": [...], "failed": [(slide, error)], "failures": path}.
    """
    names = {}
    for entry in slides:
        other = names.setdefault(slide_name(entry["slide"]), entry["slide"])
        if other != entry["slide"]:
            raise errors.UserError(
                f"two slides share the output folder {slide_name(other)!r}: {other} and "
                f"{entry['slide']}; rename one"
            )
    mine = shard(slides, shard_index, num_shards)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    failures = out / f"failures-{analysis}-{shard_index}-of-{num_shards}.csv"
    result = {"done": [], "skipped": [], "failed": [], "failures": str(failures)}
    for i, entry in enumerate(mine, start=1):
        slide, folder = entry["slide"], out / slide_name(entry["slide"])
        summary_path = folder / f"{analysis}.json"
        if summary_path.is_file():
            logging.info("[%d/%d] %s: finished before, skipped", i, len(mine), slide)
            result["skipped"].append(slide)
            continue
        started = time.perf_counter()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            summary = analyse(slide, folder)
        except Exception as e:  # noqa: BLE001 — one bad slide must not stop the batch
            reason = f"{type(e).__name__}: {e}"
            logging.error("[%d/%d] %s FAILED: %s", i, len(mine), slide, reason)
            logging.debug("%s", traceback.format_exc())
            result["failed"].append((slide, reason))
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()  # nothing of the failed slide is left behind
            continue
        summary = {"slide": slide, "label": entry.get("label"), **summary}
        summary["seconds"] = round(time.perf_counter() - started, 2)
        _write_json(summary_path, summary)
        logging.info("[%d/%d] %s: done in %.1f s", i, len(mine), slide, summary["seconds"])
        result["done"].append(slide)
    if result["failed"]:
        with open(str(failures) + ".partial", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["slide", "error"])
            writer.writerows(result["failed"])
        os.replace(str(failures) + ".partial", failures)
    elif failures.exists():
        failures.unlink()  # an earlier run's failures were retried and none is left
    return result


def merge(out, analysis, *, columns, plot=None) -> dict:
    """Gathers every `out/*/<analysis>.json` into `out/<analysis>_slides.csv`.

    Args:
      out: the folder `run` wrote into (all shards).
      analysis: the analysis name.
      columns: the summary keys to tabulate, after `slide` and `label`.
      plot: one of `columns` to draw per slide in `out/<analysis>_slides.png`, or None.

    Returns:
      {"slides": n, "table": path, "figure": path or None}.
    """
    out = pathlib.Path(out)
    summaries = [json.loads(p.read_text()) for p in sorted(out.glob(f"*/{analysis}.json"))]
    if not summaries:
        raise errors.UserError(f"{out} holds no finished {analysis} summary (*/{analysis}.json)")
    table = out / f"{analysis}_slides.csv"
    header, rows = _flatten(summaries, columns)
    with open(str(table) + ".partial", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(str(table) + ".partial", table)
    figure = _plot(out / f"{analysis}_slides.png", summaries, plot, analysis) if plot else None
    return {"slides": len(summaries), "table": str(table), "figure": figure}


def _flatten(summaries, columns):
    """The table's header and rows; a list value (e.g. proportions) gives one column per
    entry, `<key>_<i>`."""
    widths = {c: max((len(s[c]) for s in summaries if isinstance(s.get(c), list)), default=0)
              for c in columns}  # fmt: skip
    header = ["slide", "label"]
    for c in columns:
        header += [f"{c}_{i}" for i in range(widths[c])] if widths[c] else [c]
    rows = []
    for s in summaries:
        row = [s["slide"], s.get("label") or ""]
        for c in columns:
            value = s.get(c, "")
            row += (list(value) + [""] * widths[c])[: widths[c]] if widths[c] else [value]
        rows.append(row)
    return header, rows


def _plot(path, summaries, key, analysis):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names = [slide_name(s["slide"]) for s in summaries]
    labels = [s.get("label") or "" for s in summaries]
    kinds = sorted(set(labels))
    colours = {k: f"C{i}" for i, k in enumerate(kinds)}
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(names) + 2), 3.2))
    if isinstance(summaries[0].get(key), list):  # shares: one stacked bar per slide
        shares = np.array([s[key] for s in summaries], np.float64)
        bottom = np.zeros(len(names))
        for i, column in enumerate(shares.T):
            ax.bar(range(len(names)), column, bottom=bottom, label=f"{key} {i}")
            bottom += column
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
        kinds = []  # the slides' labels are on the axis, not in colours
        names = [f"{n} ({k})" if k else n for n, k in zip(names, labels)]
    else:
        values = [float(s.get(key, float("nan"))) for s in summaries]
        ax.bar(range(len(names)), values, color=[colours[k] for k in labels])
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(key)
    ax.set_title(f"{analysis}: {key} per slide")
    if len(kinds) > 1:
        for k in kinds:
            ax.bar([], [], color=colours[k], label=k)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def _write_json(path, data):
    partial = str(path) + ".partial"
    with open(partial, "w") as f:
        json.dump(data, f, indent=2, allow_nan=True)
        f.write("\n")
    os.replace(partial, path)
