"""The G2C job (`python -m trainers.g2c`): the CycleGAN stage's forward generators g_m
feed one weight-shared classifier branch per stain, trained jointly after the generators'
frozen warm-up (G2C papers, §Method; docs/METHODS.md)."""

import contextlib
import os

import keras
import tensorflow as tf
from absl import logging

from kerasg2c.data import stain_views
from kerasg2c.errors import MissingPathError, UserError
from kerasg2c.evaluation import stain_attention
from kerasg2c.jobs import (
    classifier_job,
    cyclegan_job,
    hierarchy_job,
    paired_translator_job,
    reporting,
    shared_config,
    stage_cache,
    train_settings,
)
from kerasg2c.models.g2c import G2C

# Variant → (generated stains, cross-stain attention), as named in the G2C papers.
VARIANTS = {
    "PAS_ONLY": ((), False),
    "PAS_HE": (("HE",), False),
    "PAS_MASSON": (("MASSON",), False),
    "PAS_PASM": (("PASM",), False),
    "PAS_ALL": (("HE", "MASSON", "PASM"), False),
    "PAS_ALL_PLUS": (("HE", "MASSON", "PASM"), True),
}


# Where the stains beside the patch come from: the CycleGAN stage's generators (the
# papers), generators trained with the true pairs (`paired/`, L1), or the true stains
# themselves (the stain oracle; DATA_ROOTs with `paired/<stain>/<split>` only).
STAIN_SOURCES = ("generated", "supervised", "paired")
# The stage that trains the generators of a stain source, when g2c.generators_dir is empty:
# its config key (also its folder in the workdir) and its job.
GENERATOR_STAGES = {
    "generated": ("cyclegan_stage", cyclegan_job),
    "supervised": ("supervised_stage", paired_translator_job),
}


def generator_paths(generators_dir: str, stains) -> list:
    """`generators_dir/<stain>.keras` of each stain: the exported g_m G2C loads."""
    return [os.path.join(generators_dir, f"{stain}.keras") for stain in stains]


def load_generators(generators_dir: str, stains) -> list:
    """The exported g_m of each stain (see `generator_paths`)."""
    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)

    return [keras.saving.load_model(p) for p in generator_paths(generators_dir, stains)]


def variant_stains(config) -> tuple:
    return VARIANTS[config.variant][0]


def stage_config(config):
    """The generator stage's config (`GENERATOR_STAGES` of `g2c.stain_source`), e.g.
    `cyclegan_stage` in `workdir/cyclegan/`, with this run's image size, strictness, pixel
    limit and seed, for the variant's stains (its data root is the run context's)."""
    key, _ = GENERATOR_STAGES[config.g2c.stain_source]
    stage = config[key]
    stage.workdir = os.path.join(config.workdir, _stage_folder(key))
    stage.data.image_size, stage.data.strict = config.data.image_size, config.data.strict
    stage.data.max_pixels = config.data.max_pixels
    stage.seed = config.seed
    stage.cyclegan.target_stains = variant_stains(config)
    return stage


def _stage_folder(key: str) -> str:
    return key.removesuffix("_stage")


def check(config) -> None:
    """Refuses bad values of G2C's keys, the classifier's and the CycleGAN stage's."""
    classifier_job.check(config)
    shared_config.require_square(config, "G2C")
    shared_config.require_choice(config, "variant", VARIANTS)
    shared_config.require_positive(config, "model.attention_reduction")
    if config.model.dropout_before_last_block:  # G2C's own forward pass has no dropout
        raise UserError("config key model.dropout_before_last_block: G2C trains without it (0)")
    shared_config.require_positive(config, "g2c.generator_learning_rate")
    shared_config.require_positive(config, "g2c.freeze_generators_epochs", allow_zero=True)
    shared_config.require_choice(config, "g2c.stain_source", STAIN_SOURCES)
    stains = variant_stains(config)
    if config.g2c.stain_source == "paired":
        for key in ("g2c.generators_dir", "hierarchy", "data.tfds"):
            if shared_config.value(config, key):
                raise UserError(f"config key {key}: not with g2c.stain_source=paired")
    elif stains and not config.g2c.generators_dir:
        key, job = GENERATOR_STAGES[config.g2c.stain_source]
        job.check(config, prefix=f"{key}.")
    elif stains:
        paths = generator_paths(config.g2c.generators_dir, stains)
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            raise MissingPathError(
                f"config key g2c.generators_dir: no generator {missing[0]}; train the CycleGAN "
                "stage first (python -m trainers.cyclegan --config=configs/cyclegan.py) or "
                "point g2c.generators_dir at its workdir's generators/"
            )


def run_generator_stage(config, context) -> str:
    """Trains g_m for the variant's stains into `workdir/cyclegan/` (CycleGAN) or
    `workdir/supervised/` (paired translator), or with `g2c.stage_cache` into that cache
    (`stage_cache`), a stage of `context` on its data, unless they are there already (a
    rerun, a resumed run, or another run of the same stage); returns its generators folder."""
    key, job = GENERATOR_STAGES[config.g2c.stain_source]
    stage = stage_config(config)
    shared = bool(config.g2c.stage_cache)
    if shared:
        stage_cache.refuse_multi_worker(context.strategy, "g2c.stage_cache")
        stage.workdir = stage_cache.folder(
            config.g2c.stage_cache, _stage_folder(key), stage, config.data, config.seed
        )
    folder = os.path.join(stage.workdir, "generators")
    paths = generator_paths(folder, variant_stains(config))
    with stage_cache.locked(stage.workdir) if shared else contextlib.nullcontext():
        if all(os.path.exists(p) for p in paths):
            if shared:
                logging.info("generators from the stage cache: %s", folder)
            return folder
        stage.data.root = context.data_root  # phantoms written once
        with context.stage(stage) as stage_context:
            job.train_and_evaluate(stage, stage_context)
    return folder


def build_model(config, num_classes: int, steps_per_epoch: int) -> G2C:
    """G2C for `config.variant`, built, with the classifier's optimizer and a copy of it at
    `g2c.generator_learning_rate` for the generators."""
    stains, attention = variant_stains(config), VARIANTS[config.variant][1]
    given = config.g2c.stain_source == "paired"
    model = G2C(
        () if given else load_generators(config.g2c.generators_dir, stains),
        num_classes,
        given_stains=len(stains) if given else 0,
        attention=attention,
        attention_reduction=config.model.attention_reduction,
        train_generators=config.g2c.train_generators,
        **classifier_job.branch_kwargs(config.model),
    )
    size = config.data.image_size
    model(tf.zeros((1, size, size, model.input_channels)), training=False)
    generator_optimizer = None
    if model.generators and config.g2c.train_generators:
        # The classifier's optimizer and schedule, at the generators' own learning rate.
        g_config = config.optimizer.copy_and_resolve_references()
        g_config.learning_rate = config.g2c.generator_learning_rate
        generator_optimizer = train_settings.make_optimizer(g_config, steps_per_epoch)
    model.compile(
        train_settings.make_optimizer(config.optimizer, steps_per_epoch), generator_optimizer
    )
    return model


def train_and_evaluate(config, context) -> dict:
    """The CycleGAN stage if needed, then the classification run of
    `classifier_job` with G2C and its freeze schedule (with the stain oracle: the true
    stains attached to every split instead)."""
    stains, prepare = variant_stains(config), None
    if config.g2c.stain_source == "paired" and stains:

        def prepare(loaded):
            return {
                name: stain_views.with_stain_views(
                    split,
                    context.data_root,
                    stains,
                    strict=config.data.strict,
                    scan_cache=os.path.join(context.workdir, "data_scan.json"),
                    max_pixels=config.data.max_pixels,
                )
                for name, split in loaded.items()
            }

    elif not config.g2c.generators_dir and stains:
        config.g2c.generators_dir = run_generator_stage(config, context)
    if config.hierarchy:  # one G2C per task, the same generators
        return hierarchy_job.train_and_evaluate(config, context, train_and_evaluate)
    freeze = config.g2c.freeze_generators_epochs

    def next_epoch(model, epoch):
        # Generators frozen for the first `freeze` epochs, then trained jointly.
        model.set_generators_trainable(epoch >= freeze)

    def describe(model):
        return {
            "variant": config.variant,
            "stains": list(variant_stains(config)),
            "stain_source": config.g2c.stain_source,
            "parameters": model.parameter_counts(),
        }

    report = classifier_job.run(
        config, context, "g2c", build_model, next_epoch, describe, prepare=prepare
    )
    if report and VARIANTS[config.variant][1] and config.g2c.stain_source != "paired":
        report = add_stain_attention(context.workdir, report, context.images.shape)
    return report


def add_stain_attention(workdir: str, report: dict, image_size: tuple[int, int]) -> dict:
    """A PAS_ALL+ run's per-class stain attention on the test split
    (`kerasg2c.evaluation.stain_attention`:
    stain_attention.json and .png) added to its report.json; returns the new report."""
    table = stain_attention.run(workdir, image_size, "test")
    report = {
        **report,
        "stain_attention": table,
        "figures": [*report.get("figures", []), "stain_attention.png"],
    }
    reporting.write_report(workdir, report)
    return report
