"""The whole-slide analyses on phantom slides whose truth is known: accuracy and tissue
tiles/s, in-process and through Triton.

    python -m benchmarks.slide_analyses [--size=2048] [--mil_run=RUN] [--infogan_run=RUN]
        [--triton] [--workdir=DIR] [--out=results.json]

Writes a Ki-67, a cell and a MIL phantom slide of --size² pixels (not timed), then:
- Ki-67 (`pathology.ki67_slide`) at levels 0 and 1: detection F-score against the true
  nuclei (Hungarian matching, ≤ 6 level-0 px), the slide's and each island's Ki-67 index
  against the truth, tissue tiles/s;
- cells (`pathology.cell_slide`) with --infogan_run's Q (an untrained InfoWGAN-GP when
  none): detection F-score, Q's purity against the true types of the matched nuclei
  (beside one cluster's, the majority type's share), tissue tiles/s;
- MIL (`mil.slide_scores`) with --mil_run (an untrained MILClassifier when none): the
  heat map's instance AUC against the true tumour instances, instances/s;
- with --triton the cells and MIL runs exported (`serving.export`, python backend),
  served by `serving.server`, and the same two analyses through it (HTTP, 4 in flight),
  with their agreement with the in-process outputs.
Prints one markdown table; the last line is `images/s: X`, Ki-67 level-0 tissue tiles/s.
"""

import json
import tempfile

import numpy as np
from absl import app, flags
from PIL import Image
from scipy import optimize, spatial
from sklearn.metrics import roc_auc_score

flags.DEFINE_integer("size", 2048, "slide side in pixels (a multiple of 256, >= 1280)")
flags.DEFINE_string("mil_run", "", "a trainers.mil workdir (default: an untrained model)")
flags.DEFINE_string("infogan_run", "", "an InfoWGAN-GP run (default: an untrained model)")
flags.DEFINE_bool("triton", False, "also run cells and MIL through a local tritonserver")
flags.DEFINE_string("workdir", "", "where slides and outputs go (default: a temp folder)")
flags.DEFINE_string("out", "", "optional JSON of every figure")
FLAGS = flags.FLAGS


def match(found_xy, true_xy, reach=6.0):
    """(found index, true index) of the Hungarian matches within `reach` level-0 px."""
    cost = spatial.distance.cdist(found_xy, true_xy)
    rows, cols = optimize.linear_sum_assignment(cost)
    keep = cost[rows, cols] <= reach
    return rows[keep], cols[keep]


def f_score(found_xy, true_xy, reach=6.0) -> float:
    return 2 * len(match(found_xy, true_xy, reach)[0]) / (len(found_xy) + len(true_xy))


def purity(categories, types) -> float:
    """Share of matched nuclei whose category's most common true type is their own."""
    categories, types = np.asarray(categories), np.asarray(types)
    kept = sum(np.unique(types[categories == c], return_counts=True)[1].max()
               for c in np.unique(categories))  # fmt: skip
    return kept / len(types)


def read_xy(path):
    import csv

    with open(path, newline="") as f:
        return np.array([[float(r["x"]), float(r["y"])] for r in csv.DictReader(f)])


def ki67_rows(root):
    from kerasg2c.pathology import ki67_slide
    from kerasg2c.phantoms import ki67_slides

    truth = ki67_slides.write_slide(root / "ki67", height=FLAGS.size, width=FLAGS.size)
    nuclei = ki67_slides.read_nuclei(root / "ki67")
    rows = []
    for level in (0, 1):
        out = root / f"ki67_out{level}"
        out.mkdir(exist_ok=True)
        s = ki67_slide.analyse(root / "ki67" / "KI67.tif", out, level=level)
        found = read_xy(out / "ki67_nuclei.csv")
        islands = {r["region"]: r["index"] for r in s["regions"]}
        error = {
            "slide": s["index"] - truth["index"],
            "tumour": islands.get(1, np.nan) - truth["islands"]["tumour"]["index"],
            "normal": islands.get(2, np.nan) - truth["islands"]["normal"]["index"],
        }
        rows.append({
            "analysis": f"ki67 level {level}", "path": "in-process", "tile": "512",
            "tiles_per_s": s["tiles_per_s"],
            "f_score": f_score(found, np.stack([nuclei["x"], nuclei["y"]], 1)),
            "index_error": error, "true_index": truth["index"], "regions": len(islands),
        })  # fmt: skip
    return rows


def cells_setup(root):
    from kerasg2c.pathology import cell_slide
    from kerasg2c.phantoms import cell_slides

    cell_slides.write_slide(root / "cells", height=FLAGS.size, width=FLAGS.size)
    run = FLAGS.infogan_run or _untrained_infogan(root / "infogan")
    return run, cell_slide.load_run(run)


def cells_row(root, categoriser, path, label):
    from kerasg2c.pathology import cell_slide
    from kerasg2c.phantoms import cell_slides

    categorise, k, size = categoriser
    out = root / f"cells_{label}"
    out.mkdir(exist_ok=True)
    s = cell_slide.analyse(root / "cells" / "HE.tif", out, categorise=categorise,
                           categories=k, image_size=size)  # fmt: skip
    nuclei = cell_slides.read_nuclei(root / "cells")
    found = read_xy(out / "cells_nuclei.csv")
    truth = np.stack([nuclei["x"], nuclei["y"]], 1)
    rows, cols = match(found, truth)
    category = np.loadtxt(out / "cells_nuclei.csv", delimiter=",", skiprows=1, usecols=3)
    types = np.array(nuclei["type"])
    return {"analysis": "cells", "path": path, "tile": "512", "tiles_per_s": s["tiles_per_s"],
            "f_score": f_score(found, truth), "proportions": s["proportions"],
            "purity": purity(category[rows], types[cols]),
            "majority_type_share": purity(np.zeros(len(cols)), types[cols])}  # fmt: skip


def mil_setup(root):
    from kerasg2c.mil import slide_scores
    from kerasg2c.phantoms import mil_slides

    mil_slides.write_slide(root / "mil", height=FLAGS.size, width=FLAGS.size)
    run = FLAGS.mil_run or _untrained_mil(root / "milrun")
    return run, slide_scores.load_run(run)


def mil_row(root, scorer, path, label):
    from kerasg2c.mil import slide_scores

    score_blocks, instance_size, block = scorer
    out = root / f"mil_{label}"
    out.mkdir(exist_ok=True)
    s = slide_scores.analyse(root / "mil" / "HE.tif", out, score_blocks=score_blocks,
                             instance_size=instance_size, block=block)  # fmt: skip
    scores = np.load(out / "mil_scores.npy")
    truth = np.array(Image.open(root / "mil" / "instances.png"))
    scored = np.isfinite(scores) & (truth > 0)
    auc = roc_auc_score(truth[scored] == 255, scores[scored])
    return {"analysis": "mil", "path": path, "tile": str(block), "tiles_per_s": s["blocks_per_s"],
            "instances_per_s": s["instances_per_s"], "instance_auc": auc,
            "slide_score": s["slide_score"]}  # fmt: skip


def _untrained_infogan(folder):
    import tensorflow as tf

    from kerasg2c.models.infowgan import InfoWGANGP

    folder.mkdir(exist_ok=True)
    tf.keras.utils.set_random_seed(0)
    model = InfoWGANGP(categories=5, image_size=32)
    model(tf.zeros((1, 32, 32, 3)))
    model.save(folder / "model.keras")
    _run_files(folder, 32, {"trainer": "infowgan"})
    return str(folder)


def _untrained_mil(folder):
    import tensorflow as tf

    from kerasg2c.models import MILClassifier

    folder.mkdir(exist_ok=True)
    tf.keras.utils.set_random_seed(0)
    model = MILClassifier(instance_size=32, widths=(16, 32, 64), blocks_per_unit=1)
    model(tf.zeros((1, 32, 32, 3)))
    model.save(folder / "model.keras")
    _run_files(folder, 256, {"trainer": "mil", "instance_size": 32,
                             "classes": ["normal", "tumour"]})  # fmt: skip
    return str(folder)


def _run_files(folder, image_size, report):
    (folder / "config.json").write_text(json.dumps({"data": {"image_size": image_size}}))
    (folder / "report.json").write_text(json.dumps(report))


def main(argv):
    del argv
    import pathlib

    root = pathlib.Path(FLAGS.workdir or tempfile.mkdtemp(prefix="slide_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    rows = ki67_rows(root)
    cells_run, categoriser = cells_setup(root)
    rows.append(cells_row(root, categoriser, "in-process", "local"))
    mil_run, scorer = mil_setup(root)
    rows.append(mil_row(root, scorer, "in-process", "local"))
    if FLAGS.triton:
        rows += _through_triton(root, cells_run, mil_run)
    print("| analysis | path | tile (px) | tissue tiles/s | accuracy |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        tiles = f"{r['tiles_per_s']:.3g}"
        print(f"| {r['analysis']} | {r['path']} | {r['tile']} | {tiles} | {_accuracy(r)} |")
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            json.dump({"size": FLAGS.size, "rows": rows}, f, indent=1, default=float)
    print(f"images/s: {rows[0]['tiles_per_s']}")


def _accuracy(row) -> str:
    parts = []
    if "f_score" in row:
        parts.append(f"detection F {row['f_score']:.3f}")
    if "index_error" in row:
        errors = ", ".join(f"{k} {v:+.4f}" for k, v in row["index_error"].items())
        parts.append(f"Ki-67 index error {errors}")
    if "purity" in row:
        parts.append(f"Q purity vs true types {row['purity']:.3f} "
                     f"(one cluster: {row['majority_type_share']:.3f})")  # fmt: skip
    if "instance_auc" in row:
        parts.append(f"instance AUC {row['instance_auc']:.3f}")
    if "max_diff_vs_in_process" in row:
        parts.append(f"max |Triton − in-process| {row['max_diff_vs_in_process']:.1e}")
    return "; ".join(parts)


def _through_triton(root, cells_run, mil_run):
    from serving import export, server, slide_models

    repo = root / "repository"
    for name, run in (("cells_q", cells_run), ("mil", mil_run)):
        (exportable,) = export.find_exportables(str(run), name)
        export.export_model(exportable, str(repo), formats=("python",))
    ports = server.free_ports(3)
    rows = []
    with server.TritonServer(str(repo), *ports, log_path=str(root / "server.log")) as s:
        for name in ("cells_q_python", "mil_python"):
            s.wait_model_ready(name, timeout=300)
        url = f"127.0.0.1:{ports[0]}"
        categoriser = slide_models.categoriser(url, "cells_q_python", in_flight=4)
        rows.append(cells_row(root, categoriser, "Triton HTTP", "triton"))
        scorer = slide_models.block_scorer(url, "mil_python", in_flight=4)
        rows.append(mil_row(root, scorer, "Triton HTTP", "triton"))
    local = np.load(root / "mil_local" / "mil_scores.npy")
    served = np.load(root / "mil_triton" / "mil_scores.npy")
    rows[-1]["max_diff_vs_in_process"] = float(np.nanmax(np.abs(local - served)))
    return rows


if __name__ == "__main__":
    app.run(main)
