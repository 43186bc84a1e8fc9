"""Seamless whole-slide translation (`kerasg2c.slides.seamless`, `kerasg2c.tools.translate`):
blending weights, the instance-norm hooks of kernelised normalisation (KIN), seams, the
output pyramid, agreement with the whole-image pass, resuming and the CLI's errors."""

import concurrent.futures
import os

import keras
import numpy as np
import openslide
import pytest
import tifffile
from conftest import run_python

from kerasg2c.errors import UserError
from kerasg2c.layers.instance_norm import InstanceNormalization
from kerasg2c.models import ResnetGenerator
from kerasg2c.slides import blending, instance_statistics, pyramid, seamless

SIZE = 512  # the synthetic slide's side


def synthetic_slide(height, width, seed=0) -> np.ndarray:
    """White background with smooth pink/purple tissue blobs: windows differ in content."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    field = np.zeros((height, width), np.float32)
    for _ in range(12):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(20, 80)
        field += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    tissue = np.clip(field, 0, 1)[..., None]
    mix = (0.5 + 0.5 * np.sin(xx / 23.0) * np.cos(yy / 31.0))[..., None]
    colour = np.array([205, 120, 175]) * mix + np.array([120, 80, 160]) * (1 - mix)
    return np.clip(242 * (1 - tissue) + colour * tissue, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def generator():
    keras.utils.set_random_seed(0)
    model = ResnetGenerator(ngf=4, n_blocks=1)
    model(np.zeros((1, 64, 64, 3), np.float32))
    return model


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    path = tmp_path_factory.mktemp("slide") / "slide.tif"
    tifffile.imwrite(path, synthetic_slide(SIZE, SIZE), tile=(64, 64), photometric="rgb")
    return str(path)


@pytest.fixture(scope="module")
def translate(generator, slide, tmp_path_factory):
    """translate(**settings) -> the output image as float [H, W, 3], cached per setting."""
    folder, cache = tmp_path_factory.mktemp("out"), {}

    def run(**settings):
        key = tuple(sorted(settings.items()))
        if key not in cache:
            out = str(folder / f"{len(cache)}.tif")
            seamless.translate_slide(generator, slide, out, batch_size=16, **settings)
            cache[key] = tifffile.imread(out).astype(np.float64)
        return cache[key]

    return run


@pytest.fixture(scope="module")
def whole(generator):
    """The generator's output on the whole slide at once, as the pyramid stores it."""
    x = synthetic_slide(SIZE, SIZE)[None].astype(np.float32) / 127.5 - 1.0
    return seamless.to_uint8(generator(x)[0].numpy()).astype(np.float64)


@pytest.mark.parametrize("blend", blending.BLENDS)
@pytest.mark.parametrize("height,width", [(200, 333), (64, 64), (50, 70), (256, 256)])
def test_weights_sum_to_one_at_every_pixel(blend, height, width):
    grid = blending.WindowGrid(height, width, 64, blend)
    ones = np.ones((64, 64, 1), np.float32)
    total = grid.assemble(lambda row, col: ones, 0, 0, height, width)
    assert total.shape == (height, width, 1)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    for length in (height, width):
        sums = np.zeros(length)
        for _, pos, _, weights in grid.axis_weights(0, length, length):
            sums[pos : pos + len(weights)] += weights
        np.testing.assert_allclose(sums, 1.0, rtol=0, atol=1e-12)


def test_tiles_assemble_the_same_image_as_one_piece():
    grid = blending.WindowGrid(150, 170, 32, "hann")
    rng = np.random.default_rng(0)
    windows = {w: rng.normal(size=(32, 32, 3)).astype(np.float32) for w in grid.windows()}
    full = grid.assemble(lambda r, c: windows[r, c], 0, 0, 150, 170)
    tiles = [
        [grid.assemble(lambda r, c: windows[r, c], y, x, 48, 48) for x in range(0, 170, 48)]
        for y in range(0, 150, 48)
    ]
    np.testing.assert_allclose(
        np.concatenate([np.concatenate(t, 1) for t in tiles]), full, atol=1e-6
    )


def test_instance_norm_default_path_is_group_norm_and_hooks_reproduce_it():
    x = np.random.default_rng(1).normal(2.0, 3.0, (2, 8, 8, 5)).astype(np.float32)
    for affine in (False, True):
        ours = InstanceNormalization(center=affine, scale=affine)
        reference = keras.layers.GroupNormalization(
            groups=-1, axis=-1, epsilon=1e-5, center=affine, scale=affine
        )
        ours.build(x.shape), reference.build(x.shape)
        if affine:
            for layer in (ours, reference):
                layer.gamma.assign(np.linspace(0.5, 2.0, 5)), layer.beta.assign(np.arange(5.0))
        default = ours(x).numpy()
        np.testing.assert_array_equal(default, reference(x).numpy())
        own = []
        ours.moments_hook = lambda mean, variance, own=own: own.append((mean, variance)) or own[0]
        np.testing.assert_allclose(ours(x).numpy(), default, atol=1e-5)
        ours.moments_hook = lambda mean, variance, own=own: own[0]
        np.testing.assert_allclose(ours(x).numpy(), default, atol=1e-5)
        ours.moments_hook = None


def test_recorded_moments_fixed_again_give_the_default_output(generator):
    x = np.random.default_rng(2).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    with instance_statistics.recording(generator) as moments:
        recorded = generator(x).numpy()
    assert len(moments) == 7 and all(m.shape == v.shape for m, v in moments)
    flat = instance_statistics.flatten(moments)
    channels = [int(m.shape[-1]) for m, _ in moments]
    with instance_statistics.fixed(generator, instance_statistics.unflatten(flat, channels)):
        again = generator(x).numpy()
    default = generator(x).numpy()
    assert all(
        layer.moments_hook is None for layer in instance_statistics.instance_norm_layers(generator)
    )
    np.testing.assert_allclose(recorded, default, atol=1e-6)
    np.testing.assert_allclose(again, default, atol=1e-5)


def test_pooled_statistics_follow_the_law_of_total_variance():
    rng = np.random.default_rng(3)
    means, variances = rng.normal(size=(3, 4, 2)), rng.uniform(0.5, 2, (3, 4, 2))
    grid = np.concatenate([means, variances], axis=-1).astype(np.float32)
    slide = instance_statistics.PooledStatistics(grid, 0)(1, 1)
    np.testing.assert_allclose(slide[:2], means.mean((0, 1)), rtol=1e-5)
    np.testing.assert_allclose(
        slide[2:], (variances + (means - means.mean((0, 1))) ** 2).mean((0, 1)), rtol=1e-5
    )
    near = instance_statistics.PooledStatistics(grid, 0.01)(2, 3)  # only itself
    np.testing.assert_allclose(near, grid[2, 3], rtol=1e-5)


def seam_ratio(image, period) -> list[float]:
    """Per axis: the mean |difference| of neighbouring pixels across the lines at multiples
    of `period` (window edges) over that inside the windows."""
    ratios = []
    for axis in (0, 1):
        steps = np.abs(np.diff(image, axis=axis)).mean(axis=(1 - axis, 2))
        at_edge = np.arange(1, image.shape[axis]) % period == 0
        ratios.append(steps[at_edge].mean() / steps[~at_edge].mean())
    return ratios


def test_blending_removes_the_seams_of_hard_tiles(translate, whole):
    # Window normalisation, 64-pixel windows: each hard tile's instance norms see other
    # statistics than its neighbour's, a step at every tile edge.
    blended = seam_ratio(translate(window=64, blend="hann"), 32)
    hard = seam_ratio(translate(window=64, blend="none"), 64)
    print("seam ratios: blended", blended, "hard", hard, "whole-image pass", seam_ratio(whole, 64))
    assert max(blended) < 1.1
    assert min(hard) > 1.2


def test_output_is_a_pyramid_opened_by_tifffile_and_openslide(generator, slide, tmp_path):
    out = str(tmp_path / "out.tif")
    summary = seamless.translate_slide(
        generator, slide, out, window=128, tile_size=128, batch_size=16
    )
    sizes = pyramid.level_sizes(SIZE, SIZE, 128)
    assert len(sizes) == 3 and summary["tiles"] == 16 + 4 + 1
    with tifffile.TiffFile(out) as tif:
        assert [page.shape[:2] for page in tif.pages] == sizes
        assert all(page.is_tiled for page in tif.pages)
    with openslide.OpenSlide(out) as opened:
        assert opened.level_dimensions == tuple((w, h) for h, w in sizes)
    assert not os.path.exists(out + ".parts")


def test_kernel_normalisation_comes_closer_to_the_whole_image_pass(generator, translate, whole):
    window = translate(window=128)
    kernel = translate(window=128, normalization="kernel", kernel_sigma=0.0)
    error_window, error_kernel = np.abs(window - whole).mean(), np.abs(kernel - whole).mean()
    print(f"MAE to the whole-image pass: window {error_window:.2f}, kernel {error_kernel:.2f}")
    assert error_kernel < 0.7 * error_window

    # Per-window colour shift: each window's mean (output - whole-image pass).
    def spread(image):
        blocks = (image - whole).reshape(4, 128, 4, 128, 3).mean(axis=(1, 3))
        return blocks.std(axis=(0, 1)).mean()

    print(
        f"per-window colour shift spread: window {spread(window):.2f}, kernel {spread(kernel):.2f}"
    )
    assert spread(kernel) < 0.8 * spread(window)


def test_exact_slide_statistics_in_every_window_reproduce_the_whole_image(generator, whole):
    # What KIN approximates: every window normalised with the whole image's statistics.
    # Then windows differ from the whole pass only within the generator's receptive field
    # (~20 px) of their reflection-padded edges, where the sin² weights are small.
    x = synthetic_slide(SIZE, SIZE).astype(np.float32) / 127.5 - 1.0
    with instance_statistics.recording(generator) as moments:
        generator(x[None])
    grid = blending.WindowGrid(SIZE, SIZE, 128, "hann")
    outputs = {}
    with instance_statistics.fixed(generator, moments):
        for row, col in grid.windows():
            y, x0 = grid.origin(row, col)
            outputs[row, col] = generator(x[None, y : y + 128, x0 : x0 + 128])[0].numpy()
    blended = seamless.to_uint8(grid.assemble(lambda r, c: outputs[r, c], 0, 0, SIZE, SIZE))
    error = np.abs(blended.astype(np.float64) - whole)
    assert error.mean() < 0.5 and np.percentile(error, 99) <= 3


def test_resume_computes_only_the_missing_windows(generator, slide, translate, tmp_path):
    settings = dict(window=128, normalization="kernel", kernel_sigma=1.0)
    out = str(tmp_path / "resumed.tif")

    class Killed(Exception):
        pass

    def kill_after_two_batches(stage, done, total):
        if stage == "windows" and done >= 2 * 16:
            raise Killed

    with pytest.raises(Killed):
        seamless.translate_slide(
            generator, slide, out, batch_size=16, progress=kill_after_two_batches, **settings
        )
    assert len(os.listdir(out + ".parts/windows")) == 32
    summary = seamless.translate_slide(generator, slide, out, batch_size=16, **settings)
    assert summary["computed"] == {"windows": 49 - 32}  # statistics reused, 32 windows kept
    np.testing.assert_array_equal(tifffile.imread(out), translate(**settings))
    assert not os.path.exists(out + ".parts")


def test_window_the_generator_cannot_take_is_refused(generator, slide, tmp_path):
    with pytest.raises(UserError, match=r"--window=66: must be a positive multiple of 4"):
        seamless.translate_slide(generator, slide, str(tmp_path / "o.tif"), window=66)
    assert not os.path.exists(tmp_path / "o.tif.parts")


def test_cli_names_a_corrupt_slide_and_a_bad_window(generator, slide, tmp_path):
    model = str(tmp_path / "HE.keras")
    generator.save(model)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\0" + os.urandom(200))
    common = [
        "-m",
        "kerasg2c.tools.translate",
        f"--generator={model}",
        f"--output={tmp_path}/o.tif",
    ]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two TensorFlow start-ups at once
        bad_slide, bad_window = pool.map(
            run_python,
            [[*common, f"--input={corrupt}"], [*common, f"--input={slide}", "--window=30"]],
        )
    assert bad_slide.returncode == 2, bad_slide.stderr[-2000:]
    assert bad_slide.stderr.strip().splitlines()[-1].startswith(f"error: slide {corrupt}")
    assert bad_window.returncode == 2, bad_window.stderr[-2000:]
    assert bad_window.stderr.strip().splitlines()[-1].startswith("error: --window=30")
