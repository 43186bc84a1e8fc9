"""The real examples an augmented HistoGAN DATA_ROOT links (step 4 of `histogan_job`): the
run's own DATA_ROOT when its examples are files, else (data.tfds) the splits written once
as PNGs into `workdir/tfds_data/`, a DATA_ROOT of its own.
"""

import hashlib
import os
import shutil

import tensorflow as tf
from absl import logging

from kerasg2c import json_files
from kerasg2c.data import decode
from kerasg2c.errors import UserError
from kerasg2c.jobs import splits

TFDS_DATA = "tfds_data"  # workdir/tfds_data/: a data.tfds run's real examples as PNGs
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def real_data_root(config, context, loaded: dict) -> tuple[str, list[str]]:
    """(the DATA_ROOT of the real examples, the training split's files in split order).

    Files (a DATA_ROOT or the phantoms): `context.data_root` and the split's own paths.
    Examples without files (data.tfds, paths ''): the splits written as PNGs into
    `workdir/tfds_data/` by `write_tfds_root`.
    """
    train = loaded["train"]
    if all(train.paths) and context.data_root is not None:
        return context.data_root, list(train.paths)
    if all(train.paths):
        raise UserError(
            "the training split has files but the run has no DATA_ROOT to list val and test "
            "from (data.root, or phantoms when data.root and data.tfds are empty)"
        )
    folder = os.path.join(context.workdir, TFDS_DATA)
    return folder, write_tfds_root(folder, loaded, config.data.tfds)


def write_tfds_root(folder, loaded: dict, name: str) -> list[str]:
    """Writes splits whose examples have no files (TFDS) as a DATA_ROOT in `folder`, once.

    `folder/labeled/<split>/<class>/<patient>__<position>.png` for every example of the
    "train", "val" and "test" splits in `loaded` (so `layout.patient_id` gives the split's
    own patient ids: TFDS's `<split>_<index>`), at the size stored; an encoded PNG is
    written byte for byte, anything else is decoded as the pipeline decodes it and saved
    as an 8-bit RGB PNG. `folder/dataset.json` lists the classes and, under "tfds", the
    dataset name and each split's count and a hash of its patients. Written into
    `folder.partial` and renamed when complete; a later call with the same examples
    reuses it (a resumed run).

    Returns:
      The training split's files, in split order.

    Raises:
      UserError: a split is missing, the splits' classes differ, a split stacks stain
        views (not one RGB image per example), or `folder` holds other examples.
    """
    missing = [s for s in splits.SPLITS if s not in loaded]
    if missing:
        raise UserError(
            f"{folder}: writing the real examples as PNGs needs the train, val and test "
            f"splits; {missing} not given"
        )
    classes = loaded["train"].classes
    for s in splits.SPLITS:
        split = loaded[s]
        if split.classes != classes:
            raise UserError(
                f"{folder}: the {s} split's classes {list(split.classes)} differ from the "
                f"training split's {list(classes)}"
            )
        if split.views:
            raise UserError(
                f"{folder}: the {s} split stacks stain views per example; only one RGB "
                "image per example can be written as a PNG"
            )
    names = {
        s: [
            os.path.join("labeled", s, classes[int(label)], f"{patient}__{i:06d}.png")
            for i, (label, patient) in enumerate(zip(loaded[s].labels, loaded[s].patients))
        ]
        for s in splits.SPLITS
    }
    expected = {
        "name": name,
        "splits": {
            s: {
                "examples": len(loaded[s]),
                "patients_sha256": hashlib.sha256(
                    "\n".join(loaded[s].patients).encode()
                ).hexdigest(),
            }
            for s in splits.SPLITS
        },
    }
    meta = os.path.join(folder, "dataset.json")
    if os.path.exists(meta):
        written = json_files.read_object(meta).get("tfds")
        if written != expected:
            raise UserError(
                f"{folder} holds other examples than this run's (written for {written}, now "
                f"{expected}; e.g. another data.tfds, data.max_train_patients or seed): use "
                f"another workdir, or delete {folder}"
            )
        logging.info("real examples already written as PNGs in %s", folder)
    elif os.path.exists(folder):
        raise UserError(
            f"{folder} exists without dataset.json: not a folder this job wrote; move it away"
        )
    else:
        partial = folder + ".partial"
        shutil.rmtree(partial, ignore_errors=True)  # an interrupted earlier attempt
        for s in splits.SPLITS:
            _write_pngs(loaded[s], [os.path.join(partial, n) for n in names[s]])
            logging.info("%s split: %d PNGs written to %s", s, len(loaded[s]), folder)
        json_files.write(
            os.path.join(partial, "dataset.json"), {"classes": list(classes), "tfds": expected}
        )
        os.rename(partial, folder)
    return [os.path.join(folder, n) for n in names["train"]]


def _write_pngs(split, paths) -> None:
    """Example i of `split` (from its source, in order) into `paths[i]`, as PNG bytes."""
    source = split.source
    keys_are_bytes = source.decode_fn is decode.decode_image_bytes

    def as_png(key, label):
        def encode():
            image = tf.clip_by_value(source.decode_fn(key), 0.0, 1.0)
            return tf.io.encode_png(tf.cast(tf.round(image * 255.0), tf.uint8))

        if not keys_are_bytes:
            return encode()
        is_png = tf.equal(tf.strings.substr(key, 0, len(_PNG_MAGIC)), _PNG_MAGIC)
        return tf.cond(is_png, lambda: key, encode)

    encoded = source.keys.map(as_png, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    count = 0
    for path, data in zip(paths, encoded.prefetch(tf.data.AUTOTUNE).as_numpy_iterator()):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        count += 1
    if count != len(paths):
        raise UserError(
            f"the {split.name} split's source gave {count} examples, its labels {len(paths)}"
        )
