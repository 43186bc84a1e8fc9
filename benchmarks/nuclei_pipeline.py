"""Throughput of the cells job's per-tile work: `pathology.nuclei.segment_tile`
(Macenko stain matrix, haematoxylin threshold, morphology, 32 × 32 crops) on H&E tile
phantoms, optionally followed by clustering the crops with an InfoWGAN-GP's Q.

    python -m benchmarks.nuclei_pipeline --size=512 --tiles=8 [--infogan_run=runs/infogan]

Tiles are drawn in memory (`cell_tiles.make_tile`, not timed); the first tile is
segmented once untimed. Prints nuclei per tile, seconds per tile and `tiles/s: X` as the
last line (with --infogan_run, Q's forward pass on each tile's crops is included).
"""

import time

from absl import app, flags

flags.DEFINE_integer("size", 512, "tile side in pixels")
flags.DEFINE_integer("tiles", 8, "timed tiles")
flags.DEFINE_integer("seed", 0, "phantom seed")
flags.DEFINE_string("infogan_run", "", "an infogan run folder: also cluster the crops by Q")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import numpy as np

    from kerasg2c.pathology import nuclei
    from kerasg2c.phantoms import cell_tiles

    tiles = [
        cell_tiles.make_tile(np.random.default_rng([FLAGS.seed, i]), FLAGS.size).image
        for i in range(FLAGS.tiles)
    ]
    cluster = None
    if FLAGS.infogan_run:
        import os

        import keras

        import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)
        from kerasg2c.jobs import infowgan_job

        model = keras.saving.load_model(
            os.path.join(FLAGS.infogan_run, "model.keras"), compile=False
        )

        def cluster(crops):
            if len(crops):
                infowgan_job.assign(model, crops.astype(np.float32) / 255.0)

    def process(tile):
        found = nuclei.segment_tile(tile)
        if cluster is not None:
            cluster(found.crops)
        return len(found)

    process(tiles[0])  # untimed: imports, first allocations, Q's trace
    started = time.perf_counter()
    counts = [process(tile) for tile in tiles]
    seconds = time.perf_counter() - started
    print(
        f"nuclei pipeline: {FLAGS.tiles} tiles of {FLAGS.size} × {FLAGS.size}, "
        f"Q clustering {'on' if cluster else 'off'}"
    )
    print(f"nuclei per tile: {np.mean(counts):.1f}")
    print(f"seconds per tile: {seconds / len(tiles):.3f}")
    print(f"tiles/s: {len(tiles) / seconds:.2f}")


if __name__ == "__main__":
    app.run(main)
