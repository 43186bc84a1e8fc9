"""Every nucleus of whole H&E slides with its InfoWGAN-GP category, for QuPath.

python -m kerasg2c.tools.slide_cells --infogan_run=RUN (--slide=SLIDE | --manifest=CSV)
    --out=DIR [--level=0] [--tile_size=512] [--threshold=120 --min_area=200 ...]
    [--shard_index=0 --num_shards=1]

RUN is an InfoWGAN-GP run (`python -m trainers.infowgan`, or a cells run's `infogan/`
stage) holding `model.keras`. Instead of --infogan_run, `--triton_url=HOST:PORT
--triton_model=NAME [--protocol=grpc] [--in_flight=4]` asks a Triton server serving that
run (`serving.export`) for Q, and this machine needs tritonclient, not TensorFlow.

Per slide, `DIR/<slide name>/` gets `cells.geojson` (every
nucleus a detection classified `Cluster <c>`, every tissue region an annotation with the
category proportions; drag it onto the slide in QuPath), `cells_nuclei.csv` and the summary
`cells.json` with the slide's category proportions (`pathology.cell_slide`). The
segmentation flags are the cells job's keys (`cells.threshold`, ...) in level-0 pixels;
--level must give the pixel size the model's crops were cut at. Manifests, shards,
resuming and the failure list work as for `kerasg2c slide-ki67`; then
`kerasg2c slide-merge --out=DIR --analysis=cells`. Exit 2 with one line naming the flag or
file that cannot be used.

Examples:

    kerasg2c slide-cells --infogan_run=runs/cells/infogan \\
        --slide=data/cell_slide/HE.tif --out=runs/cell_slides
    kerasg2c slide-cells --triton_url=127.0.0.1:8000 --triton_model=infogan_python \\
        --manifest=slides.csv --out=runs/cell_slides
"""

from absl import app, flags

from kerasg2c.errors import UserError
from kerasg2c.pathology import cell_slide
from kerasg2c.slides import reader
from kerasg2c.tools import slide_jobs

slide_jobs.define_flags()
slide_jobs.define_triton_flags()
_RUN = flags.DEFINE_string("infogan_run", None, "The InfoWGAN-GP run (its model.keras).")
_LEVEL = flags.DEFINE_integer("level", 0, "Slide level whose pixels match the model's crops.")
_TILE = flags.DEFINE_integer("tile_size", cell_slide.TILE_SIZE, "Tile side at --level.")
_SEGMENTATION = {
    key: flags.DEFINE_integer(key, value, f"cells.{key} of the segmentation (level 0).")
    for key, value in cell_slide.SEGMENTATION.items()
}
_BACKEND = flags.DEFINE_enum("backend", "auto", list(reader.BACKENDS), "Slide reader.")


def main(argv):
    slide_jobs.check_no_arguments(argv)
    if _LEVEL.value < 0 or _TILE.value < 64:
        raise app.UsageError("--level must be >= 0 and --tile_size >= 64", exitcode=2)
    try:
        slide_jobs.slides_from_flags()  # flag mistakes first, before the model loads
        from serving import slide_models

        served = slide_jobs.triton_model(slide_models.categoriser, "infogan_run")
        categorise, categories, image_size = served or cell_slide.load_run(_RUN.value)
    except UserError as e:
        return slide_jobs.refuse(e)
    segmentation = {key: flag.value for key, flag in _SEGMENTATION.items()}

    def analyse(path, folder):
        return cell_slide.analyse(
            path,
            folder,
            categorise=categorise,
            categories=categories,
            image_size=image_size,
            level=_LEVEL.value,
            tile_size=_TILE.value,
            segmentation=segmentation,
            backend=_BACKEND.value,
        )

    return slide_jobs.run_from_flags(cell_slide.ANALYSIS, analyse)


if __name__ == "__main__":
    app.run(main)
