"""DATA_ROOT views made of symlinks: one stain's `paired/` seen as `labeled/` (what a job
reading `labeled/` trains on), and the relabelled view in which every patch sits in the
class folder a classifier predicted for it: the IHC paper's plug-in point of its MIL
classifiers into the conditional CycleGAN ("MIL for Getting Class-Related Information").
"""

import os
import shutil

SPLITS = ("train", "val", "test")


def stain_as_labeled(root, out, stain) -> str:
    """Writes (once) a view of `root` whose `labeled/<split>/` are `paired/<stain>/<split>/`,
    with `root`'s dataset.json; returns `out`."""
    root = os.path.abspath(root)

    def fill(tmp):
        for split in SPLITS:
            source = os.path.join(root, "paired", stain, split)
            if os.path.isdir(source):
                os.symlink(source, os.path.join(tmp, "labeled", split))

    return _write_once(root, out, fill)


def write_view(root, out, stain, predictions) -> str:
    """Writes (once) the relabelled view of `root` for a `labeled/` → `stain` translator.

    `predictions`: {split: [(labeled path, predicted class, twin path, predicted class)]},
    the twin being the same patch in `paired/<stain>/`. In `val` and `test` each twin pair
    stays aligned under the labeled patch's predicted class (the translator's ground
    truth). In `train` (unpaired, each side shuffled on its own, as `stain_pairs` reads
    it) each side sits under its own predicted class: per class, pair j is the j-th
    labeled and the j-th twin predicted as that class, the shorter list cycled, so every
    patch is used; a class that only one side predicts is left out of `train`.
    `reference/` and dataset.json are those of `root`. Returns `out`.
    """

    def fill(tmp):
        link = os.path.join(os.path.abspath(root), "reference")
        if os.path.isdir(link):
            os.symlink(link, os.path.join(tmp, "reference"))
        for split, rows in predictions.items():
            for name, a, b, c in _pairs(split, rows):
                for source, folder in ((a, "labeled"), (b, os.path.join("paired", stain))):
                    path = os.path.join(tmp, folder, split, c, name)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    os.symlink(os.path.abspath(source), path)

    return _write_once(root, out, fill)


def train_as_reference(root, out, source, stain, rows) -> str:
    """Writes (once) a view of `root` whose `reference/<source>` and `reference/<stain>` are
    the training patches of `rows` (`write_view`'s rows of `train`) and their twins, with
    `root`'s `labeled/` and `paired/`: an unconditional translator trained on the very
    patches the conditional one sees, without their classes. Returns `out`."""
    root = os.path.abspath(root)

    def fill(tmp):
        os.rmdir(os.path.join(tmp, "labeled"))
        for folder in ("labeled", "paired"):
            os.symlink(os.path.join(root, folder), os.path.join(tmp, folder))
        for a, _, b, _ in rows:
            for path, stain_name in ((a, source), (b, stain)):
                link = os.path.join(tmp, "reference", stain_name, os.path.basename(path))
                os.makedirs(os.path.dirname(link), exist_ok=True)
                os.symlink(os.path.abspath(path), link)

    return _write_once(root, out, fill)


def _pairs(split, rows):
    """(file name, labeled file, twin file, class folder) of one split of the view."""
    if split != "train":
        return [(os.path.basename(a), a, b, c) for a, c, b, _ in rows]
    pairs = []
    for c in sorted({r[1] for r in rows} & {r[3] for r in rows}):
        side_a = [r[0] for r in rows if r[1] == c]
        side_b = [r[2] for r in rows if r[3] == c]
        for j in range(max(len(side_a), len(side_b))):
            a = side_a[j % len(side_a)]
            stem, ext = os.path.splitext(os.path.basename(a))
            pairs.append((f"{stem}__pair{j:05d}{ext}", a, side_b[j % len(side_b)], c))
    return pairs


def _write_once(root, out, fill) -> str:
    """`out` if complete; else `fill(tmp)` into a fresh `out.tmp` holding `labeled/` and
    `root`'s dataset.json, renamed to `out` when done."""
    if os.path.isdir(out):
        return out
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "labeled"))
    meta = os.path.join(root, "dataset.json")
    if os.path.exists(meta):
        shutil.copy(meta, os.path.join(tmp, "dataset.json"))
    fill(tmp)
    os.replace(tmp, out)
    return out
