"""The Ki-67 index of whole slides, for QuPath: one slide or a manifest, sharded, restartable.

python -m kerasg2c.tools.slide_ki67 (--slide=SLIDE | --manifest=CSV) --out=DIR
    [--level=0] [--tile_size=512] [--threshold=0.2] [--shard_index=0 --num_shards=1]

Per slide, `DIR/<slide name>/` gets `ki67.geojson` (every nucleus a Positive or Negative
detection, every tissue region an annotation with QuPath's Num Positive / Positive %; open
it in QuPath by dragging it onto the slide), `ki67_nuclei.csv` and the summary `ki67.json`
(`pathology.ki67_slide`). A manifest is a CSV with a `slide` column (paths relative to the
manifest) and optionally `label`. With --num_shards=N, N processes (a Slurm array: see
README) each take every N-th slide. A slide whose `ki67.json` exists is skipped, so the
same command resumes; a slide that cannot be analysed is named in
`DIR/failures-ki67-<shard>-of-<N>.csv` and the others go on (exit 1 at the end). Then
`kerasg2c slide-merge --out=DIR --analysis=ki67` writes one table and one figure.
Exit 2 with one line naming the flag or file that cannot be used.

Examples:

    kerasg2c slide-ki67 --slide=data/ki67_slide/KI67.tif --out=runs/ki67_slides --level=1
    kerasg2c slide-ki67 --manifest=slides.csv --out=runs/ki67_slides \\
        --shard_index=$SLURM_ARRAY_TASK_ID --num_shards=$SLURM_ARRAY_TASK_COUNT
"""

from absl import app, flags

from kerasg2c.pathology import ki67, ki67_slide
from kerasg2c.slides import reader
from kerasg2c.tools import slide_jobs

slide_jobs.define_flags()
_LEVEL = flags.DEFINE_integer("level", 0, "Slide level to analyse (0 = full resolution).")
_TILE = flags.DEFINE_integer("tile_size", ki67_slide.TILE_SIZE, "Tile side at --level.")
_THRESHOLD = flags.DEFINE_float(
    "threshold", ki67.DAB_THRESHOLD, "Mean nuclear DAB OD (base 10) of a positive nucleus."
)
_BACKEND = flags.DEFINE_enum("backend", "auto", list(reader.BACKENDS), "Slide reader.")


def main(argv):
    slide_jobs.check_no_arguments(argv)
    if _LEVEL.value < 0 or _TILE.value < 64:
        raise app.UsageError("--level must be >= 0 and --tile_size >= 64", exitcode=2)

    def analyse(path, folder):
        return ki67_slide.analyse(
            path,
            folder,
            level=_LEVEL.value,
            tile_size=_TILE.value,
            threshold=_THRESHOLD.value,
            backend=_BACKEND.value,
        )

    return slide_jobs.run_from_flags(ki67_slide.ANALYSIS, analyse)


if __name__ == "__main__":
    app.run(main)
