"""`python -m trainers.histogan` end to end on tiny phantoms: feature extractor stage,
HistoGAN with FID selection, selective augmentation, augmented DATA_ROOTs that load."""

import json
import os

import numpy as np
import pytest
from conftest import REPO, prefetched, prefetched_value, run_python
from job_harness import (
    assert_bad_key_named,
    assert_resumed_to_the_same_state,
    killed_after_step_3,
    trained_run,
)
from PIL import Image

from kerasg2c.augment.feature_extractor import MCDropoutExtractor
from kerasg2c.data import layout, pipeline
from kerasg2c.jobs import classifier_job, config_files, histogan_job, shared_config

TINY = [
    "--config.data.phantoms.n_train=48",
    "--config.data.phantoms.n_val=12",
    "--config.data.phantoms.n_test=12",
    "--config.data.phantoms.n_reference=4",
    "--config.data.phantoms.size=32",
    "--config.data.image_height=64",  # 64 × 32 (height × width): base (2, 1), 2 stages
    "--config.data.image_size=32",
    "--config.histogan.channels=8",
    "--config.histogan.noise_dim=8",
    "--config.histogan.minibatch_kernels=4",
    "--config.histogan.n_critic=2",
    "--config.histogan.fid_warmup_epochs=1",
    "--config.histogan.fid_samples=32",
    "--config.train.batch_size=4",
    "--config.train.epochs=3",
    "--config.feature_extractor.train.epochs=2",
    "--config.feature_extractor.train.batch_size=8",
    "--config.feature_extractor.model.widths=8,16",
    "--config.feature_extractor.model.blocks_per_unit=1",
    "--config.feature_extractor.model.stem_width=8",
]


@prefetched()
def finished_run(tmp_path_factory):
    return trained_run(tmp_path_factory, "histogan", TINY)


def test_fid_selection_keeps_the_lowest_smoothed_epoch(finished_run):
    report = json.loads((finished_run / "report.json").read_text())
    fid = {int(k): v for k, v in report["fid"].items()}
    smoothed = {int(k): v for k, v in report["fid_smoothed"].items()}
    assert sorted(fid) == [2, 3]  # epoch 1 is the warm-up
    assert smoothed[2] == fid[2] and smoothed[3] == pytest.approx(0.5 * fid[2] + 0.5 * fid[3])
    assert report["chosen_epoch"] == min(smoothed, key=smoothed.get)
    assert all(np.isfinite(v) and v >= 0 for v in fid.values())
    for name in ("best_generator.keras", "fid_curve.png", "tsne.png"):
        assert (finished_run / name).stat().st_size > 0, name
    assert (finished_run / "feature_extractor" / "model.keras").exists()
    # The feature extractor stage (the classifier job) trained on the same 64 × 32 images.
    stage_config = json.loads((finished_run / "feature_extractor" / "config.json").read_text())
    assert shared_config.image_shape(stage_config) == (64, 32)
    assert (finished_run / "feature_extractor" / "report.json").exists()
    grids = sorted(p.name for p in (finished_run / "samples").glob("stage*_epoch*.png"))
    assert grids[:2] == ["stage1_epoch001.png", "stage1_epoch002.png"] and len(grids) == 6


def test_every_arm_is_a_data_root_with_r_times_n_synthetic_images(finished_run):
    report = json.loads((finished_run / "report.json").read_text())
    per_class = report["selection"]["per_class"]
    real = pipeline.load_labeled_split(finished_run / "data", "train")
    kept_by_arm = {}
    for arm, root in report["selection"]["roots"].items():
        info = layout.read_dataset_info(root)
        assert info.classes == ("noa", "ss", "gs")
        train = pipeline.load_labeled_split(root, "train")
        synthetic = [p for p in train.patients if p.startswith("synthetic-")]
        assert len(train) == len(real) + len(synthetic)
        for c, name in enumerate(info.classes):
            n_real = int(np.sum(real.labels == c))
            assert per_class[name]["kept"] == int(np.floor(0.5 * n_real + 0.5))
            assert synthetic.count(f"synthetic-{name}") == per_class[name]["kept"]
        for split in ("val", "test"):
            assert len(pipeline.load_labeled_split(root, split)) == 12
        images = next(iter(train.dataset(batch_size=4, image_size=(64, 32))))[0]
        assert images.shape == (4, 64, 32, 3)
        synthetic_files = [p for p in train.paths if "synthetic-" in p]
        assert {Image.open(p).size for p in synthetic_files} == {(32, 64)}  # (width, height)
        kept_by_arm[arm] = {p for p in train.paths if "synthetic-" in p}
    # The filters choose what they say: lower entropy, nearer the centroid, both.
    for stats in per_class.values():
        entropy, distance = stats["mean_entropy"], stats["mean_distance"]
        assert entropy["entropy_only"] <= entropy["unselected"] + 1e-9
        assert distance["centroid_only"] <= distance["unselected"] + 1e-9
        assert entropy["selective"] <= entropy["unselected"] + 1e-9
    assert kept_by_arm["selective"] != kept_by_arm["unselected"]


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("data.image_size", 40, "config key data.image_size=40"),
        ("data.image_height", -1, "config key data.image_height=-1"),
        ("data.image_height", 48, "config key data.image_height=48"),
        ("histogan.critic_norm", "group", "histogan.critic_norm"),
        ("histogan.penalty_batch", "all", "histogan.penalty_batch"),
        ("histogan.ema_alpha", 1.5, "histogan.ema_alpha"),
        ("feature_extractor.model.loss", "l2", "feature_extractor.model.loss"),
    ],
)
def test_bad_keys_are_named(key, value, message):
    assert_bad_key_named("histogan", histogan_job.check, key, value, message)


@pytest.mark.parametrize(
    "name, shape, n_stages, base",
    [
        ("histogan_paper_cervical", (256, 128), 3, (4, 2)),
        ("histogan_paper_pcam", (96, 96), 2, (3, 3)),
    ],
)
def test_each_paper_config_passes_its_check_and_builds_at_a_tiny_width(
    name, shape, n_stages, base, tmp_path
):
    config = config_files.load(os.path.join(REPO, "configs", f"{name}.py"))
    if not config.data.tfds:
        config.data.root = str(tmp_path)
    histogan_job.check(config)
    assert shared_config.image_shape(config) == shape
    assert histogan_job.base_shape(config) == base and config.histogan.n_stages == n_stages
    # The paper's choices: WGAN-GP λ = 50, the interpolates' own batch, K = 5, dropout 0.5.
    h = config.histogan
    assert (h.gp_weight, h.penalty_batch, h.mc_passes, h.mc_dropout) == (
        50.0,
        "interpolates",
        5,
        0.5,
    )
    # The GAN at the paper's image sizes and stages, narrow.
    h.channels, h.noise_dim, h.minibatch_kernels = 4, 4, 2
    model = histogan_job.build_model(config, num_classes=2)
    assert model.penalty_batch == "interpolates" and len(model.critics) == n_stages
    assert tuple(model(np.zeros(1, "int32")).shape[1:3]) == shape
    # The feature extractor: ResNet34's 16 residual blocks (narrow), cross-entropy, the
    # MC dropout before the last block.
    fe = config.feature_extractor
    assert fe.model.loss == "cross_entropy" and fe.model.blocks_per_unit == (3, 4, 6, 3)
    fe.model.widths, fe.model.stem_width, fe.data.image_size = (4, 4, 4, 4), 4, 32
    classifier = classifier_job.build_model(fe, num_classes=2, steps_per_epoch=1)
    extractor = MCDropoutExtractor(classifier, rate=h.mc_dropout)
    assert len(classifier.backbone.blocks) == 16 and extractor._drop_after == 14
    assert classifier.loss_name == "cross_entropy"


# --- Resume -------------------------------------------------------------------

# TINY for one epoch (RESUME_FLAGS) with n_critic=1: 48 images, 4 per step, 12 steps.
# n_critic=1 because the first step's trace grows with n_critic × stages (~25 s for 1 × 2
# on a loaded CI core, ~50 s for TINY's 2 × 2) and this test traces it three times.
RESUME = [*TINY, "--config.histogan.n_critic=1"]


@prefetched()
def resume_runs(tmp_path_factory):
    """The run SIGKILLed after step 3 logged, then resumed, and the same run uninterrupted."""
    finished_run = prefetched_value(__name__, "finished_run")
    # Both runs load the finished run's feature extractor (training does not use it
    # before the FID warm-up ends), so neither trains one. Both must load it: a run that
    # trains its extractor in-process starts the GAN from other initial weights than a
    # run that loads it (the classifier stage draws from Keras's global RNG between the
    # job's set_random_seed and build_model).
    extractor = f"--config.histogan.feature_extractor={finished_run / 'feature_extractor'}"
    return killed_after_step_3(tmp_path_factory, "histogan", [*RESUME, extractor], steps=12)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_state(resume_runs):
    assert_resumed_to_the_same_state(resume_runs, steps=12)


# --- One device against two replicas ---------------------------------------------

# Run in a fresh process (the CPU is split into 2 devices before TensorFlow starts them),
# with the loop's own fit on a tiny model (16 px, one stage, n_critic=2, "batch" critics:
# synchronised BN); prints one JSON line. It is done at the model level, not with the job
# and --config.train.num_cpu_replicas=2: the job's runs cannot agree beyond sampling
# noise, for the two reasons replica_draws.py sets aside: per-replica draws (patched to
# the global batch's draw) and the split of a step into critic sub-batches (the data
# reordered). What is left is what must agree: loss scaling by the global batch, gradient
# and log reduction, synchronised BN and all-gathered minibatch discrimination (also in
# the penalty's second-order pass), the optimizers and the step counter.
REPLICA_SCRIPT = r"""
import json
import sys

from kerasg2c.training import runtime

runtime.split_cpu(2)

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, "tests")
from replica_draws import draw_as_one_device, one_device_order

from kerasg2c.models.histogan import HistoGAN, HistoGANCritic, HistoGANGenerator
from kerasg2c.training import loop

CLASSES, NOISE, B, N_CRITIC, STEPS, K = 3, 8, 4, 2, 3, 4  # K: minibatch kernels
one, two = runtime.make_strategy("default"), runtime.make_strategy("mirrored", 2)
assert two.num_replicas_in_sync == 2
keras.utils.set_random_seed(0)
draw_as_one_device(HistoGAN)


def critic():
    return HistoGANCritic(CLASSES, channels=8, n_down=2, critic_norm="batch", minibatch_kernels=K)


def histogan():
    generator = HistoGANGenerator(CLASSES, NOISE, base_shape=(1, 1), channels=8, n_stages=1)
    model = HistoGAN(generator, [critic()], CLASSES, NOISE, n_critic=N_CRITIC, seed=3)
    model(np.zeros(1, "int32"))
    # SGD: a weight's change is proportional to its gradient (Adam's normalised step would
    # hide a wrong gradient scale and magnify round-off in gradients near zero). 0.001:
    # with minibatch discrimination live, SGD(0.01) blows the tiny critic up on the 2nd
    # step (gradients of hundreds), and round-off then grows chaotically (measured: 1e-6
    # after step 1, 1e-3 relative after step 2, order 1 after step 3).
    model.compile(keras.optimizers.SGD(0.001), keras.optimizers.SGD(0.001))
    return model


def copy(source, target):
    for a, b in zip(source.weights, target.weights, strict=True):
        b.assign(a)


rng = np.random.default_rng(0)
results = {}

# 1. A critic's scores on one global batch of 8 in training mode, with and without
# minibatch discrimination.
images = rng.uniform(0, 1, (8, 16, 16, 3)).astype("float32")
labels = rng.integers(0, CLASSES, 8).astype("int32")
critics = []
for strategy in (one, two):
    with strategy.scope():
        critics.append(critic())
        critics[-1](images[:1], labels[:1])
copy(*critics)
dataset = tf.data.Dataset.from_tensors((images, labels))
batch = next(iter(two.experimental_distribute_dataset(dataset)))
for minibatch in (False, True):
    alone = critics[0](images, labels, training=True, minibatch=minibatch).numpy()
    split = two.run(
        tf.function(lambda x, y: critics[1](x, y, training=True, minibatch=minibatch)), args=batch
    )
    split = np.concatenate([s.numpy() for s in two.experimental_local_results(split)])
    results[f"critic_minibatch_{minibatch}"] = float(np.max(np.abs(alone - split)))

# 2. One epoch of STEPS steps with loop.fit on one device and on two replicas, from the
# same weights, minibatch discrimination live.
n = STEPS * N_CRITIC * B
data = (rng.uniform(0, 1, (n, 16, 16, 3)).astype("float32"), rng.integers(0, CLASSES, n))
order = one_device_order(B, N_CRITIC, STEPS)
models = []
for strategy in (one, two):
    with strategy.scope():
        models.append(histogan())
copy(*models)
initial = [v.numpy() for v in models[0].trainable_weights]
minibatch_initial = models[0].critics[0].minibatch.kernel.numpy()
runs = (("one", one, models[0], data), ("two", two, models[1], (data[0][order], data[1][order])))
for name, strategy, model, (images, labels) in runs:

    def make_dataset(epoch, skip, images=images, labels=labels):
        dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype("int32")))
        return dataset.batch(N_CRITIC * B).skip(skip)

    settings = loop.LoopSettings(epochs=1, steps_per_epoch=STEPS, global_batch_size=N_CRITIC * B)
    history = loop.fit(
        model, make_dataset, strategy=strategy, workdir=f"{sys.argv[1]}/{name}", settings=settings
    )
    results[name] = {k: v for k, v in history[0].items() if k.startswith("train_")}
weights = [[v.numpy() for v in m.weights if "float" in v.dtype] for m in models]
trained = [v.numpy() for v in models[0].trainable_weights]
for key, (a, b) in (("difference", weights), ("change", (initial, trained))):
    results[f"max_weight_{key}"] = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
results["step_counters"] = [int(m.step_counter.numpy()) for m in models]
results["minibatch_kernel_change"] = float(
    np.max(np.abs(models[1].critics[0].minibatch.kernel.numpy() - minibatch_initial))
)
print(json.dumps(results))
"""


@prefetched()
def one_and_two_replicas(tmp_path_factory):
    proc = run_python(["-c", REPLICA_SCRIPT, str(tmp_path_factory.mktemp("replicas"))])
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_replicas_train_as_one_device(one_and_two_replicas):
    result = one_and_two_replicas
    # The minibatch kernel trained (its features reach the score), on both sides alike.
    assert result["minibatch_kernel_change"] > 0.01 and result["step_counters"] == [3, 3]
    # float32 sums in another order (per-replica partial sums of the BN moments and of
    # the gradients), carried through 3 steps: measured 3e-6 relative on the logs and
    # 1e-6 on the weights. A real fault is orders larger: a loss scaled per replica
    # halves a log; per-replica batch statistics or minibatch closeness move scores by ~1.
    one, two = result["one"], result["two"]
    logs = {"critic_loss", "gradient_penalty", "wasserstein_gap", "generator_loss"}
    assert set(one) == {f"train_{k}" for k in logs} and set(two) == set(one)
    for name in one:
        assert two[name] == pytest.approx(one[name], rel=1e-4, abs=1e-5), name
    # SGD(0.001) moved some weight by max_weight_change (~0.24); a gradient scaled per
    # replica would change every update by half its size.
    assert result["max_weight_difference"] < 1e-4 < 0.01 * result["max_weight_change"]


@pytest.mark.slow
def test_synchronised_batch_norm_scores_as_on_one_device(one_and_two_replicas):
    assert one_and_two_replicas["critic_minibatch_False"] < 1e-5


@pytest.mark.slow
def test_minibatch_discrimination_scores_as_on_one_device(one_and_two_replicas):
    assert one_and_two_replicas["critic_minibatch_True"] < 1e-5
