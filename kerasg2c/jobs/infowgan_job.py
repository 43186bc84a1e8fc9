"""The InfoWGAN-GP job (`python -m trainers.infowgan`): unsupervised cell clustering (Hu et
al., "Unsupervised learning for cell-level visual representation in histopathology images
with generative adversarial networks", §III-A and §IV).

1. Data: a DATA_ROOT of single-cell crops (`labeled/<split>/<type>/`), or with an empty
   `data.root` the cell phantoms of `kerasg2c.phantoms.cells` (`write_phantoms`,
   sized by `data.phantoms.*`) written into `workdir/data`. Every cell, for training and
   for scoring, is read through `cell_split`: the paper's 32×32 rule
   (`pathology.nuclei.fit_crop`: a longer box shrunk with its aspect kept, centred on
   white), the same function that cuts the crops `kerasg2c.jobs.cells_job` scores.
2. Training: `InfoWGANGP` on `labeled/train` with the one loop; a step reads `n_critic`
   sub-batches of `train.batch_size` cells (one per critic update); the labels are read
   but not used (training is unsupervised).
3. Evaluation on the test split (chief only): each cell's cluster is argmax Q(c | x);
   purity, entropy and average F-score against the true types (`cluster_report`, Table
   III) next to k-means on raw pixels and on HOG features with k = `infogan.categories`;
   a linear SVM on the critic's block features trained on the training split and scored
   on the test split (`svm_report`, Table I). Cells of the class folder `unknown` (no
   known type, e.g. the cells job's unmatched tile crops) are trained on, never scored.
4. Outputs: `samples/` (per epoch: one row per category c, the same noise along each
   column), `generated_cells.png` (the same for the final generator, no titles),
   `model.keras` (the whole model; its `serving_outputs` are Q's probabilities, what
   `serving.export` serves), `generators/generator.keras` (G(c, z), exported with its
   declared inputs) and `report.json`.

With `infogan.k_sweep` (e.g. `(4, 5, 6)`) the job runs once per k into `workdir/k<k>/`
and tabulates Q's purity and entropy against k (`kerasg2c.jobs.infowgan_k_sweep`).
`kerasg2c.jobs.cells_job` runs this job as a stage when it is given no trained run.
Step 3 lives in `kerasg2c.jobs.infowgan_evaluation`.
"""

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from kerasg2c.data import image_source, pipeline
from kerasg2c.errors import UserError
from kerasg2c.evaluation import samples
from kerasg2c.jobs import (
    infowgan_k_sweep,
    infowgan_monitor,
    reporting,
    shared_config,
    splits,
    train_settings,
)
from kerasg2c.jobs.infowgan_evaluation import (  # noqa: F401  (public here too)
    UNKNOWN,
    assign,
    evaluate,
    typed,
)
from kerasg2c.models.infowgan import InfoWGANGP
from kerasg2c.models.infowgan_generator import check_image_size
from kerasg2c.pathology import nuclei
from kerasg2c.phantoms import cells as cell_phantoms
from kerasg2c.training import loop

GRID = "generated_cells.png"
GENERATOR = os.path.join("generators", "generator.keras")


def check(config, prefix: str = "") -> None:
    """Refuses bad values of the shared keys and the `infogan.*` / `optimizer.*` keys,
    naming the key (with `prefix` when the job runs as another job's stage)."""
    p = prefix
    shared_config.check_shared(config, prefix=p)
    shared_config.require_square(config, "InfoWGAN-GP", prefix=p)
    key = p + "data.image_size"
    try:
        check_image_size(shared_config.value(config, key))
    except ValueError as e:
        raise UserError(f"config key {key}={shared_config.value(config, key)!r}: {e}") from e
    i = p + "infogan."
    shared_config.require_positive(
        config,
        *(i + k for k in ("categories", "noise_dim", "channels", "n_critic", "svm_c")),
        i + "grid_columns",
        p + "optimizer.learning_rate",
    )
    shared_config.require_positive(config, p + "optimizer.info_learning_rate", allow_zero=True)
    shared_config.require_positive(config, i + "lambda_gp", i + "lambda_info", allow_zero=True)
    for key in ("categories", "noise_dim", "channels", "n_critic", "grid_columns"):
        value = shared_config.value(config, i + key)
        if int(value) != value:
            raise UserError(f"config key {i + key}={value!r}: expected an integer")
    if shared_config.value(config, i + "categories") < 2:
        raise UserError(
            f"config key {i}categories={shared_config.value(config, i + 'categories')!r}: "
            "expected at least 2 clusters"
        )
    sweep = shared_config.value(config, i + "k_sweep")
    if any(isinstance(k, bool) or not isinstance(k, int) or k < 2 for k in sweep) or len(
        set(sweep)
    ) != len(sweep):
        raise UserError(f"config key {i}k_sweep={tuple(sweep)!r}: expected distinct integers ≥ 2")
    select = shared_config.value(config, i + "select")
    if select not in infowgan_monitor.CRITERIA:
        raise UserError(
            f"config key {i}select={select!r}: expected one of {infowgan_monitor.CRITERIA}"
        )
    points = shared_config.value(config, i + "average_points")
    if isinstance(points, bool) or not isinstance(points, int) or points < 0:
        raise UserError(f"config key {i}average_points={points!r}: expected an integer ≥ 0")
    if select == "average" and points < 1:
        raise UserError(f"config key {i}select='average' needs {i}average_points ≥ 1")
    cells = shared_config.value(config, i + "recovery_cells")
    if isinstance(cells, bool) or not isinstance(cells, int) or cells < 1:
        raise UserError(f"config key {i}recovery_cells={cells!r}: expected a positive integer")
    if not isinstance(shared_config.value(config, i + "rotate"), bool):
        raise UserError(f"config key {i}rotate: expected True or False")
    for key in ("beta_1", "beta_2"):
        shared_config.require_fraction(config, p + "optimizer." + key)


def write_phantoms(root, config) -> None:
    """Cell phantoms (`cell_phantoms.write_cells`) as this job's DATA_ROOT when
    `data.root` is empty: `data.phantoms.n_train/n_val/n_test` cells of side
    `data.phantoms.size` at nuisance level `data.phantoms.nuisance` (0 when absent: none,
    the control; `kerasg2c.phantoms.cell_nuisance`)."""
    from kerasg2c.phantoms import cell_nuisance

    p = config.data.phantoms
    nuisance = p.get("nuisance", 0.0)
    try:
        cell_nuisance.check_level(nuisance)  # what write_cells refuses, named as a key
    except ValueError as e:
        raise UserError(f"config key data.phantoms.nuisance={nuisance!r}: {e}") from e
    cell_phantoms.write_cells(
        root, n_train=p.n_train, n_val=p.n_val, n_test=p.n_test, seed=config.seed,
        size=p.size, nuisance=nuisance,
    )  # fmt: skip


def cell_split(split, size: int):
    """`split` whose images are cell images of side `size` by `nuclei.fit_crop` (uint8
    after decoding, longer edge shrunk to `size` with the aspect kept, centred on white),
    then / 255: the one path of the cells this job trains on and scores, and of the crops
    `kerasg2c.jobs.cells_job` scores (a crop written as a PNG reads back unchanged)."""
    source = split.source

    def decode(key):
        image = source.decode_fn(key)
        image = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0), tf.uint8)
        cell = tf.numpy_function(lambda x: nuclei.fit_crop(x, size), [image], tf.uint8)
        cell.set_shape([size, size, 3])
        return tf.cast(cell, tf.float32) / 255.0

    cells = image_source.ImageSource(source.keys, decode, source.length)
    return dataclasses.replace(split, source=cells)


def cell_inputs(crops) -> np.ndarray:
    """uint8 cell images ([N, S, S, 3], e.g. `nuclei.fit_crop`'s) as the model's input,
    float32 in [0, 1]: what `cell_split`'s datasets yield for the same images."""
    return np.asarray(crops, np.uint8).astype(np.float32) / 255.0


def build_model(config) -> InfoWGANGP:
    """`InfoWGANGP` of the `infogan.*` keys, every variable created, compiled with one
    Adam (`optimizer.*`) for the critic, the generator and Q each."""
    i = config.infogan
    model = InfoWGANGP(
        categories=i.categories,
        noise_dim=i.noise_dim,
        channels=i.channels,
        image_size=config.data.image_size,
        n_critic=i.n_critic,
        lambda_gp=i.lambda_gp,
        lambda_info=i.lambda_info,
        rotate=i.rotate,
        seed=config.seed,
    )
    size = config.data.image_size
    model(tf.zeros((1, size, size, 3)))
    o = config.optimizer

    def adam(learning_rate=o.learning_rate):
        return keras.optimizers.Adam(learning_rate, beta_1=o.beta_1, beta_2=o.beta_2)

    info = adam(o.get("info_learning_rate") or o.learning_rate)
    model.compile(critic_optimizer=adam(), generator_optimizer=adam(), info_optimizer=info)
    return model


def grid_images(model, columns: int, seed: int) -> np.ndarray:
    """[categories · columns, S, S, 3] cells in [0, 1]: row c is category c, column j the
    same noise z_j (drawn from `seed`) in every row."""
    k = model.categories
    noise = np.random.default_rng(seed).standard_normal((columns, model.noise_dim))
    class_id = np.repeat(np.arange(k, dtype=np.int32), columns)
    return np.asarray(model.generate(class_id, np.tile(noise, (k, 1)).astype(np.float32)))


def save_mosaic(images, columns: int, path: str, gap: int = 2) -> None:
    """`images` ([N, S, S, 3] in [0, 1]) as one PNG of `columns` per row at their own
    pixels, white gaps between them."""
    images = np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
    rows = -(-len(images) // columns)
    side = images.shape[1]
    step = side + gap
    canvas = np.full((rows * step - gap, columns * step - gap, 3), 255, np.uint8)
    for n, image in enumerate(images):
        r, c = divmod(n, columns)
        canvas[r * step : r * step + side, c * step : c * step + side] = image
    Image.fromarray(canvas).save(path)


def train_and_evaluate(config, context) -> dict:
    """Steps 1–4, then `report.json`; with `infogan.k_sweep` set, once per k of it
    (`infowgan_k_sweep.run`)."""
    if tuple(config.infogan.k_sweep):
        return infowgan_k_sweep.run(config, context, train_and_evaluate)
    keras.utils.set_random_seed(config.seed)
    i = config.infogan
    size = config.data.image_size
    loaded = {name: cell_split(s, size) for name, s in splits.load_splits(config, context).items()}
    train = loaded["train"]
    batch = i.n_critic * config.train.batch_size  # n_critic sub-batches per step
    keys = ("train.batch_size", "infogan.n_critic")  # a smaller split is repeated
    spe = train_settings.steps_per_epoch(config, len(train), "the training split", keys)
    with context.strategy.scope():
        model = build_model(config)

    make_dataset = train_settings.epoch_reader(
        config, train.dataset, batch_size=batch, steps_per_epoch=spe, image_size=size, training=True
    )

    columns = i.grid_columns
    test = loaded["test"]
    known = typed(test)
    watched = pipeline.load_images(test, size)[known if known.any() else slice(None)]
    watched_labels = np.asarray(test.labels)[known] if known.any() else None
    codes = infowgan_monitor.generated_codes(model, i.recovery_cells, config.seed)
    selector = infowgan_monitor.Selector(model, i.select, context.workdir, context.chief)
    average = i.average_points and infowgan_monitor.WeightAverage(
        model, i.average_points, context.workdir, context.chief
    )

    def on_epoch_end(epoch):
        if not context.chief:
            return {}
        step = (epoch + 1) * spe
        images = grid_images(model, columns, config.seed)
        titles = [f"c={n // columns}" if n % columns == 0 else "" for n in range(len(images))]
        name = f"cells_epoch{epoch + 1:03d}"
        samples.write_image_grid(context.workdir, name, images, step, titles, columns=columns)
        row = infowgan_monitor.diagnose(model, watched, watched_labels, codes=codes)
        infowgan_monitor.log_point(row, step, i.categories)
        selector.offer(row, step)
        if average:
            average.add(step)
            row[infowgan_monitor.AVERAGE] = average.evaluate(
                lambda: infowgan_monitor.diagnose(model, watched, watched_labels, codes=codes)
            )
        return row

    history = loop.fit(
        model,
        make_dataset,
        strategy=context.strategy,
        workdir=context.workdir,
        settings=train_settings.loop_settings(config, spe),
        on_epoch_end=on_epoch_end,
    )
    if not context.chief:
        return {}
    selection = selector.restore(config.train.epochs * spe)
    if i.select == "average":
        selection = average.apply()
    save_mosaic(
        grid_images(model, columns, config.seed), columns, os.path.join(context.workdir, GRID)
    )
    model.save(os.path.join(context.workdir, "model.keras"))  # Q: what serving exports
    os.makedirs(os.path.join(context.workdir, "generators"), exist_ok=True)
    model.generator.save(os.path.join(context.workdir, GENERATOR))
    report = {
        "trainer": "infogan",
        "classes": [f"cluster {c}" for c in range(i.categories)],  # Q's outputs
        "cell_types": list(train.classes),
        "data": reporting.data_summary(loaded),
        "history": history,
        "selection": selection,
        "diagnostic": infowgan_monitor.diagnose(model, watched, watched_labels, codes=codes),
        **evaluate(config, model, loaded),
        "grid": GRID,
    }
    scored = report["clustering"].get("scored")
    q = report["clustering"].get("infowgan_q", {})
    report["metrics"] = (
        {"test": {m: q[m] for m in ("purity", "entropy", "f_score")}} if scored else {}
    )
    reporting.write_report(context.workdir, report)
    return report
