"""`--tissue_only` translation: glass windows copied, tissue windows translated exactly as
before, the blend between them without a seam, with window and kernel normalisation."""

import keras
import numpy as np
import pytest
import tifffile
from conftest import run_python
from test_translate_slide import seam_ratio, synthetic_slide

from kerasg2c.errors import UserError
from kerasg2c.models import ResnetGenerator
from kerasg2c.slides import blending, glass_windows, reader, seamless

SIZE, WINDOW = 512, 64


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(generator, slide path, input image, folder): tissue blobs on the left, fading
    into glass on the right."""
    keras.utils.set_random_seed(0)
    generator = ResnetGenerator(ngf=4, n_blocks=1)
    generator(np.zeros((1, 64, 64, 3), np.float32))
    fade = np.clip((np.arange(SIZE) - 200) / 100, 0, 1)[None, :, None]  # glass from x = 300
    image = np.round(synthetic_slide(SIZE, SIZE) * (1 - fade) + 242 * fade).astype(np.uint8)
    folder = tmp_path_factory.mktemp("tissue_only")
    tifffile.imwrite(folder / "slide.tif", image, tile=(64, 64), photometric="rgb")
    return generator, str(folder / "slide.tif"), image, folder


def weight_of_translated(glass):
    """Per pixel, the blend weight of the translated (tissue) windows."""
    grid = blending.WindowGrid(SIZE, SIZE, WINDOW, "hann")

    def part(row, col):
        return np.full((WINDOW, WINDOW, 1), 0.0 if (row, col) in glass else 1.0, np.float32)

    return grid.assemble(part, 0, 0, SIZE, SIZE)[..., 0]


@pytest.mark.parametrize("normalization", ["window", "kernel"])
def test_glass_is_copied_tissue_translated_and_the_blend_has_no_seam(setup, normalization):
    generator, slide, image, folder = setup
    run = dict(window=WINDOW, batch_size=16, normalization=normalization)
    full_path, only_path = (
        folder / f"full_{normalization}.tif",
        folder / f"only_{normalization}.tif",
    )
    full = seamless.translate_slide(generator, slide, str(full_path), **run)
    only = seamless.translate_slide(generator, slide, str(only_path), tissue_only=True, **run)
    assert 0 < only["glass_windows"] < full["windows"] == only["windows"]
    assert only["computed"]["windows"] == full["windows"] - only["glass_windows"]
    translated, copied = tifffile.imread(full_path), tifffile.imread(only_path)
    grid = blending.WindowGrid(SIZE, SIZE, WINDOW, "hann")
    with reader.open_slide(slide) as s:
        glass = glass_windows.find(s, 0, grid)
    weight = weight_of_translated(glass)
    assert (weight == 0).mean() > 0.3 and (weight == 1).mean() > 0.3
    np.testing.assert_array_equal(copied[weight == 0], image[weight == 0])
    if normalization == "window":  # each window sees its own statistics: exactly as before
        np.testing.assert_array_equal(copied[weight == 1], translated[weight == 1])
    assert max(seam_ratio(copied.astype(np.float64), WINDOW // 2)) < 1.1


def test_a_slide_without_tissue_is_refused(setup, tmp_path):
    generator = setup[0]
    blank = tmp_path / "blank.tif"
    tifffile.imwrite(blank, np.full((256, 256, 3), 242, np.uint8), photometric="rgb")
    with pytest.raises(UserError, match="no tissue found"):
        seamless.translate_slide(generator, str(blank), str(tmp_path / "b.tif"), window=64,
                                 tissue_only=True)  # fmt: skip


def test_cli_translates_a_manifest_and_names_the_slide_it_cannot_read(setup):
    generator, slide, _, folder = setup
    generator.save(folder / "HE2.keras")
    (folder / "broken.tif").write_text("not a slide")
    manifest = folder / "slides.csv"
    manifest.write_text(f"slide\n{slide}\nbroken.tif\n")
    command = [
        "-m",
        "kerasg2c.tools.translate",
        f"--generator={folder / 'HE2.keras'}",
        f"--manifest={manifest}",
        f"--out={folder}/many",
        "--window=64",
        "--tissue_only",
    ]
    done = run_python(command)  # fmt: skip
    assert done.returncode == 1 and "failures-translate-0-of-1.csv" in done.stderr
    assert "1 translated, 0 finished before, 1 failed" in done.stdout
    expected = folder / "expected.tif"
    seamless.translate_slide(generator, slide, str(expected), window=64, tissue_only=True)
    np.testing.assert_allclose(
        tifffile.imread(folder / "many" / "slide" / "translated.tif"),
        tifffile.imread(expected),
        atol=1,  # another process, the same weights
    )
    both = run_python([*command[:3], f"--input={slide}", f"--out={folder}/many"])
    assert both.returncode == 2 and "--input with --output, or --manifest with --out" in both.stderr
