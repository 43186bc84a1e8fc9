"""The exportable models of a run: what `serving.export` finds in a run directory.

Exportable models of a run: `WORKDIR/model.keras` (classifier, G2C: one graph from a
source-stain image to class probabilities, G2C with its generated stains as a second
output; HistoGAN: the chosen generator) and `WORKDIR/generators/<stain>.keras` (CycleGAN:
one model per target stain). Any model with a `serving_outputs(images) -> {name: tensor}`
method exports the same way; nothing here is model-specific. A model that takes something
other than images also defines `serving_inputs()` (see `serving.export.named_inputs`).
"""

import dataclasses
import os

from absl import logging

from kerasg2c import json_files


@dataclasses.dataclass
class Exportable:
    """One model of a run and what a client needs to know about it."""

    name: str
    model: object  # a keras.Model with serving_outputs (and maybe serving_inputs)
    image_size: int | tuple[int, int]  # S (square) or (height, width), see `image_shape`
    metadata: dict
    classes: tuple = ()


def find_exportables(workdir: str, name: str | None = None) -> list[Exportable]:
    """The models of run `workdir` (see the module docstring); ValueError if none.

    Args:
        workdir: the run directory (with config.json and report.json).
        name: the base model name; default the run folder's name, "-" written "_".

    Examples:

        (g2c,) = find_exportables("runs/g2c", name="g2c")
    """
    import keras

    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)
    from kerasg2c.jobs import shared_config

    workdir = os.path.abspath(workdir)
    config = json_files.read_object(os.path.join(workdir, "config.json"))
    report = json_files.read_object(os.path.join(workdir, "report.json"))
    if not config:
        raise ValueError(f"{workdir}: no config.json (is it a run directory?)")
    name = name or os.path.basename(workdir).replace("-", "_")
    height, width = shared_config.image_shape(config)  # image_height missing: square
    image_size = (height, width) if height != width else width
    run = {
        "run": workdir,
        "written": report.get("written"),
        "trainer": report.get("trainer"),
        "image_size": width,
        "image_height": height,
    }
    found = []
    path = os.path.join(workdir, "model.keras")
    if os.path.isfile(path):
        classes = tuple(report.get("classes", ()))
        metadata = {
            **run,
            "variant": report.get("variant"),
            "task": report.get("task"),
            "classes": list(classes),
            "stains": report.get("stains", []),
        }
        model = keras.saving.load_model(path, compile=False)
        found.append(Exportable(name, model, image_size, metadata, classes))
    generators = os.path.join(workdir, "generators")
    if os.path.isdir(generators):
        source = config.get("cyclegan", {}).get("source_stain") or "source"
        for file in sorted(os.listdir(generators)):
            if not file.endswith(".keras"):
                continue
            stain = file[: -len(".keras")]
            model = keras.saving.load_model(os.path.join(generators, file), compile=False)
            if (model.get_build_config() or {}).get("input_shape", [3])[-1] != 3:
                logging.warning("%s: a class-conditioned generator; not exported", file)
                continue
            metadata = dict(run)
            if not hasattr(model, "serving_inputs"):  # an image → image stain translator
                metadata |= {"source_stain": source, "target_stain": stain}
            found.append(Exportable(f"{name}_{stain.lower()}", model, image_size, metadata))
    if not found:
        raise ValueError(f"{workdir}: nothing to export (no model.keras, no generators/*.keras)")
    return found
