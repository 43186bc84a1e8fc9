"""Whole-slide translation by a Keras generator, window by window, without seams.

Windows of a slide level (`blending.WindowGrid`) are read through `tf.data`, translated by
the generator on every replica of a `tf.distribute` strategy, and kept as parts files
(`parts.Parts`, so a killed run resumes); the output pyramid is then written tile by tile,
each tile blended from the window outputs that overlap it. Memory holds a few batches and
tiles, whatever the size of the slide.

Normalisation (`normalization`): "window", each window's instance norms use its own
statistics (the generator as trained); "kernel", kernelised instance normalisation (Ho et
al., ECCV 2022; `instance_statistics`): a first pass records every window's statistics
and the second normalises with their Gaussian pool over `kernel_sigma` windows (0: the
whole slide's).

`tissue_only`: windows without tissue are copied, not translated (`glass_windows`).
"""

import collections
import concurrent.futures
import hashlib
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kerasg2c.errors import UserError
from kerasg2c.slides import blending, glass_windows, instance_statistics, pyramid, reader
from kerasg2c.slides.parts import Parts

NORMALIZATIONS = ("window", "kernel")


def downsampling(model) -> int:
    """The product of the strides of the model's convolutions and poolings (transposed
    convolutions excluded): the factor its feature maps shrink by."""
    factor = 1
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not isinstance(layer, keras.layers.Conv2DTranspose):
            factor *= int(max(getattr(layer, "strides", None) or (1,)))
    return factor


def fingerprint(model) -> str:
    """A hash of the model's weights: which generator a parts folder's windows are of."""
    digest = hashlib.sha1()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def check_window(model, window: int) -> list[int]:
    """Refuses a `--window` the generator cannot translate: not a multiple of twice its
    down-sampling (even, for the half-window stride), or not mapped to a window of the
    same size ([1, W, W, 3] → [1, W, W, 3], tried once). Returns the channels of its
    InstanceNormalization layers (`instance_statistics` order)."""
    multiple = math.lcm(2, downsampling(model))
    if window <= 0 or window % multiple:
        raise UserError(
            f"--window={window}: must be a positive multiple of {multiple} (the generator "
            f"down-samples by {downsampling(model)}; windows overlap by half)"
        )
    try:
        with instance_statistics.recording(model) as moments:
            out = model(tf.zeros([1, window, window, 3]), training=False)
    except Exception as e:  # any failure of the generator on this size
        raise UserError(f"--window={window}: the generator fails on such a window: {e}") from e
    if tuple(out.shape) != (1, window, window, 3):
        raise UserError(
            f"--window={window}: the generator maps [1, {window}, {window}, 3] to "
            f"{list(out.shape)}, not an image of the same size"
        )
    return [int(mean.shape[-1]) for mean, _ in moments]


def translate_slide(
    model,
    input_path,
    output_path,
    *,
    level=0,
    window=512,
    blend="hann",
    normalization="window",
    kernel_sigma=1.0,
    batch_size=4,
    tile_size=256,
    strategy=None,
    progress=None,
    tissue_only=False,
) -> dict:
    """Translates level `level` of the slide `input_path` into the pyramidal TIFF
    `output_path`. `model` maps images in [-1, 1] to images in [-1, 1] (the CycleGAN
    generator), built in `strategy`'s scope. `progress(stage, done, total)` is called
    after each batch ("statistics", "windows") and output tile ("tiles").

    Returns {"windows", "computed": {stage: windows run}, "seconds": {stage: s},
    "steady": {stage: windows/s after the first batch (the trace)}, "tiles",
    "size": (height, width), "glass_windows": windows copied (`tissue_only`)}.
    """
    if blend not in blending.BLENDS:
        raise UserError(f"--blend={blend}: expected one of {blending.BLENDS}")
    if normalization not in NORMALIZATIONS:
        raise UserError(f"--normalization={normalization}: expected one of {NORMALIZATIONS}")
    if kernel_sigma < 0:
        raise UserError(f"--kernel_sigma={kernel_sigma}: must be >= 0 (0: the whole slide)")
    if tile_size <= 0 or tile_size % 16:
        raise UserError(f"--tile_size={tile_size}: must be a positive multiple of 16")
    if batch_size <= 0:
        raise UserError(f"--batch_size={batch_size}: must be positive")
    strategy = strategy or tf.distribute.get_strategy()
    progress = progress or _log_progress()
    with reader.open_slide(input_path) as slide:
        if not 0 <= level < slide.level_count:
            raise UserError(f"--level={level}: {input_path} has levels 0..{slide.level_count - 1}")
        width, height = slide.level_dimensions[level]
        grid = blending.WindowGrid(height, width, window, blend)
        glass = glass_windows.find(slide, level, grid) if tissue_only else set()
        if tissue_only and len(glass) == len(grid.windows()):
            raise UserError(f"--tissue_only: no tissue found on {input_path}")
    channels = check_window(model, window)
    kernel = normalization == "kernel" and bool(channels)
    if normalization == "kernel" and not channels:
        logging.warning("the generator has no InstanceNormalization: kernel = window normalisation")
    meta = dict(
        input=os.path.abspath(input_path),
        generator=fingerprint(model),
        level=level,
        size=[height, width],
        window=window,
        blend=blend,
        normalization=normalization,
        kernel_sigma=kernel_sigma if kernel else None,
        tissue_only=bool(tissue_only),
    )
    parts = Parts(str(output_path), meta)
    everything = grid.windows()
    windows = [w for w in everything if w not in glass]
    run = _WindowRunner(model, strategy, input_path, level, grid, batch_size, channels)
    summary = {"windows": len(everything), "computed": {}, "seconds": {}, "steady": {}}
    summary["size"], summary["glass_windows"] = (height, width), len(glass)
    glass_windows.copy(parts, input_path, level, grid, glass)
    pooled = None
    if kernel:
        if not parts.has_statistics_grid():
            _run_stage(run, parts, "statistics", windows, "record", None, progress, summary)
        pooled = instance_statistics.PooledStatistics(
            parts.statistics_grid(grid.shape, skip=glass), kernel_sigma
        )
    mode = "fixed" if kernel else "plain"
    _run_stage(run, parts, "windows", windows, mode, pooled, progress, summary)

    def read_tile(row, col):
        y = grid.assemble(parts.window, row * tile_size, col * tile_size, tile_size, tile_size)
        return to_uint8(y)

    started = time.perf_counter()
    tiles = [0]

    def tile_progress(done, total):
        tiles[0] = total
        progress("tiles", done, total)

    pyramid.write_pyramid(
        output_path,
        read_tile,
        height,
        width,
        tile_size=tile_size,
        workdir=parts.folder,
        progress=tile_progress,
    )
    summary["seconds"]["tiles"] = time.perf_counter() - started
    summary["tiles"] = tiles[0]
    parts.remove()
    return summary


def to_uint8(y: np.ndarray) -> np.ndarray:
    """Generator output in [-1, 1] → uint8 RGB, as `serving_outputs` rounds it."""
    return np.round(np.clip((y + 1.0) / 2.0, 0.0, 1.0) * 255.0).astype(np.uint8)


def _run_stage(run, parts, stage, windows, mode, pooled, progress, summary):
    """Runs `stage` over the unsaved windows; a thread saves a batch (two at most waiting)
    while the next is translated, and tf.data reads ahead."""
    missing = parts.missing(stage, windows)
    if len(missing) < len(windows):
        logging.info(
            "%s: %d of %d windows already done", stage, len(windows) - len(missing), len(windows)
        )
    started = time.perf_counter()
    done = len(windows) - len(missing)
    first = None  # (time, windows) after the first batch, which includes the trace

    def save(index, outputs):
        for (row, col), out in zip(index, outputs):
            parts.save(stage, int(row), int(col), out)

    pending = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="window-writer") as writer:
        for index, outputs in run(missing, mode, pooled):
            pending.append(writer.submit(save, index, outputs))
            if len(pending) > 2:
                pending.popleft().result()
            done += len(index)
            first = first or (time.perf_counter(), len(index))
            progress(stage, done, len(windows))
        [future.result() for future in pending]  # a failed write raises here
    now = time.perf_counter()
    summary["computed"][stage] = len(missing)
    summary["seconds"][stage] = now - started
    if first and len(missing) > first[1]:
        summary["steady"][stage] = (len(missing) - first[1]) / (now - first[0])


class _WindowRunner:
    """run(windows, mode, pooled) → iterator of (index [B, 2], outputs): the windows read
    by tf.data and translated on every replica. mode "plain": outputs are the generator's
    windows (float16); "record": each window's instance-norm moments (float32 [2D]);
    "fixed": windows normalised with `pooled(row, col)`."""

    def __init__(self, model, strategy, path, level, grid, batch_size, channels):
        self.model, self.strategy, self.path, self.level = model, strategy, path, level
        self.grid, self.batch_size, self.channels = grid, batch_size, channels
        self.steps = {}

    def _dataset(self, windows, pooled):
        grid, size = self.grid, self.grid.window
        width = 2 * sum(self.channels) if pooled is not None else 0

        def read():
            with reader.open_slide(self.path) as slide:
                for row, col in windows:
                    y, x = grid.origin(row, col)
                    stats = pooled(row, col) if pooled is not None else np.zeros(0, np.float32)
                    yield (row, col), slide.read_region(self.level, x, y, size, size), stats

        signature = (
            tf.TensorSpec([2], tf.int32),
            tf.TensorSpec([size, size, 3], tf.uint8),
            tf.TensorSpec([width], tf.float32),
        )
        dataset = tf.data.Dataset.from_generator(read, output_signature=signature)
        return dataset.batch(self.batch_size).prefetch(2)

    def _step(self, mode):
        if mode in self.steps:
            return self.steps[mode]
        model, channels = self.model, self.channels

        def replica(index, image, stats):
            x = tf.cast(image, tf.float32) / 127.5 - 1.0
            if mode == "record":
                with instance_statistics.recording(model) as moments:
                    model(x, training=False)
                return index, instance_statistics.flatten(moments)
            if mode == "fixed":
                with instance_statistics.fixed(
                    model, instance_statistics.unflatten(stats, channels)
                ):
                    return index, tf.cast(model(x, training=False), tf.float16)
            return index, tf.cast(model(x, training=False), tf.float16)

        @tf.function(reduce_retracing=True)
        def step(batch):
            results = self.strategy.run(replica, args=batch)
            return [tf.concat(self.strategy.experimental_local_results(r), axis=0) for r in results]

        self.steps[mode] = step
        return step

    def __call__(self, windows, mode, pooled):
        if not windows:
            return
        step = self._step(mode)
        dataset = self.strategy.experimental_distribute_dataset(self._dataset(windows, pooled))
        for batch in dataset:
            index, outputs = step(batch)
            yield index.numpy(), outputs.numpy()


def _log_progress(every=10.0):
    """progress(stage, done, total): a log line at most every `every` s per stage, rated."""
    state = {}

    def progress(stage, done, total):
        now = time.perf_counter()
        first, last, start_done = state.setdefault(stage, [now, 0.0, done])
        if now - last < every and done < total:
            return
        state[stage][1] = now
        rate = (done - start_done) / max(now - first, 1e-9)
        unit = "tiles" if stage == "tiles" else "windows"
        logging.info("%s: %d/%d %s, %.2f %s/s", stage, done, total, unit, rate, unit)

    return progress
