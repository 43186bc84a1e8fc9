"""A trained top-1 MIL classifier over whole slides, for QuPath: tiles and a heat map.

python -m kerasg2c.tools.slide_mil --run=RUN (--slide=SLIDE | --manifest=CSV) --out=DIR
    [--level=0] [--min_tissue=0.5] [--shard_index=0 --num_shards=1]

RUN is a `python -m trainers.mil` workdir (its `model.keras` and `report.json`); or
`--triton_url=HOST:PORT --triton_model=NAME [--protocol=grpc] [--in_flight=4]` asks a
Triton server serving that run (`serving.export`), each slide block one served tile, and
this machine needs tritonclient, not TensorFlow. Per
slide, `DIR/<slide name>/` gets `mil.geojson` (every scored instance a QuPath tile with
its `Tumour probability`, `Tumor` at >= 0.5; drag it onto the slide in QuPath), `mil_heatmap.tif`
(the heat map as a pyramid of the slide's size), `mil_scores.npy` and the summary
`mil.json` (`mil.slide_scores`). --level must give the pixel size the run was trained at.
Manifests, shards, resuming and the failure list work as for `kerasg2c slide-ki67`; then
`kerasg2c slide-merge --out=DIR --analysis=mil`. Exit 2 with one line naming the flag or
file that cannot be used.

Examples:

    kerasg2c slide-mil --run=runs/mil --slide=data/mil_slide/HE.tif --out=runs/mil_slides
"""

from absl import app, flags

from kerasg2c.errors import UserError
from kerasg2c.mil import slide_scores
from kerasg2c.slides import reader
from kerasg2c.tools import slide_jobs

slide_jobs.define_flags()
slide_jobs.define_triton_flags()
_RUN = flags.DEFINE_string("run", None, "The MIL run (trainers.mil workdir) to score with.")
_LEVEL = flags.DEFINE_integer("level", 0, "Slide level whose pixels match the training tiles.")
_MIN_TISSUE = flags.DEFINE_float(
    "min_tissue", slide_scores.MIN_TISSUE, "Tissue share an instance needs to be scored."
)
_BATCH = flags.DEFINE_integer("batch_blocks", 8, "Blocks of instances per model call.")
_BACKEND = flags.DEFINE_enum("backend", "auto", list(reader.BACKENDS), "Slide reader.")


def main(argv):
    slide_jobs.check_no_arguments(argv)
    if _LEVEL.value < 0 or not 0 <= _MIN_TISSUE.value <= 1 or _BATCH.value < 1:
        raise app.UsageError(
            "--level >= 0, --min_tissue in [0, 1], --batch_blocks >= 1", exitcode=2
        )
    try:
        slide_jobs.slides_from_flags()  # flag mistakes first, before the model loads
        from serving import slide_models

        served = slide_jobs.triton_model(slide_models.block_scorer, "run")
        score_blocks, instance_size, block = served or slide_scores.load_run(_RUN.value)
    except UserError as e:
        return slide_jobs.refuse(e)

    def analyse(path, folder):
        return slide_scores.analyse(
            path,
            folder,
            score_blocks=score_blocks,
            instance_size=instance_size,
            block=block,
            level=_LEVEL.value,
            min_tissue=_MIN_TISSUE.value,
            batch_blocks=_BATCH.value,
            backend=_BACKEND.value,
        )

    return slide_jobs.run_from_flags(slide_scores.ANALYSIS, analyse)


if __name__ == "__main__":
    app.run(main)
