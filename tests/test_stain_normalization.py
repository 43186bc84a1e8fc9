"""Optical density, Macenko stain vectors and Reinhard normalisation (kerasg2c.pathology.stain)."""

import numpy as np
import pytest
from skimage import data

from kerasg2c.pathology import stain
from kerasg2c.pathology.reinhard import lab_statistics

MAX_ANGLE_DEG = 1.0  # measured: at most 0.11 degrees on these Beer–Lambert tiles


def angle_deg(a, b):
    cosine = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def render_tile(stains, *, size=96, seed=0, background=0.2):
    """Beer–Lambert tile: random amounts of the two stains, a third of the pixels nearly one
    stain only, a fifth left white."""
    rng = np.random.default_rng(seed)
    amounts = rng.uniform(0.0, 1.5, (size * size, 2))
    kind = rng.integers(0, 3, size * size)
    amounts[kind == 0, 1] *= 0.05
    amounts[kind == 1, 0] *= 0.05
    amounts[rng.random(size * size) < background] = 0.0
    return stain.od_to_rgb(amounts @ np.asarray(stains)).reshape(size, size, 3)


def test_optical_density_round_trip_and_white_is_zero():
    rgb = np.random.default_rng(1).integers(1, 256, (8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(stain.od_to_rgb(stain.rgb_to_od(rgb)), rgb)
    assert np.all(stain.rgb_to_od(np.full((2, 2, 3), 255, np.uint8)) == 0)
    assert np.all(np.isfinite(stain.rgb_to_od(np.zeros((2, 2, 3), np.uint8))))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "stains, second",
    [
        (stain.RUIFROK_HE, stain.RUIFROK_EOSIN),
        (stain.RUIFROK_HE[::-1], stain.RUIFROK_EOSIN),  # rendered eosin-first
        (stain.RUIFROK_HDAB, stain.RUIFROK_DAB),
        (stain.RUIFROK_HDAB[::-1], stain.RUIFROK_DAB),
    ],
)
def test_macenko_recovers_rendering_stains_haematoxylin_first(stains, second, seed):
    estimated = stain.macenko_stain_matrix(render_tile(stains, seed=seed))
    assert estimated.shape == (2, 3)
    np.testing.assert_allclose(np.linalg.norm(estimated, axis=1), 1.0)
    assert angle_deg(estimated[0], stain.RUIFROK_HAEMATOXYLIN) < MAX_ANGLE_DEG
    assert angle_deg(estimated[1], second) < MAX_ANGLE_DEG


@pytest.mark.parametrize("flip", ["negate", "swap", "negate_and_swap"])
def test_haematoxylin_assignment_ignores_eigenvector_order_and_sign(monkeypatch, flip):
    tile = render_tile(stain.RUIFROK_HE)
    expected = stain.macenko_stain_matrix(tile)
    real_eigh = np.linalg.eigh

    def flipped_eigh(matrix):
        values, vectors = real_eigh(matrix)
        if "negate" in flip:
            vectors = -vectors
        if "swap" in flip:  # the two largest exchange places
            values, vectors = values[[0, 2, 1]], vectors[:, [0, 2, 1]]
        return values, vectors

    monkeypatch.setattr(np.linalg, "eigh", flipped_eigh)
    np.testing.assert_allclose(stain.macenko_stain_matrix(tile), expected, atol=1e-9)


def test_order_stains_puts_largest_red_component_first_and_fixes_sign():
    np.testing.assert_allclose(
        stain.order_stains(-stain.RUIFROK_HE[::-1]), stain.RUIFROK_HE, atol=1e-12
    )


def test_all_background_tile_raises_stain_estimation_error():
    white = np.full((64, 64, 3), 255, np.uint8)
    with pytest.raises(stain.StainEstimationError, match="background"):
        stain.macenko_stain_matrix(white)
    assert issubclass(stain.StainEstimationError, ValueError)


def test_single_stain_tile_raises_stain_estimation_error():
    amounts = np.random.default_rng(0).uniform(0.2, 1.5, (64 * 64, 1))
    tile = stain.od_to_rgb(amounts * stain.RUIFROK_HAEMATOXYLIN).reshape(64, 64, 3)
    with pytest.raises(stain.StainEstimationError, match="single stain"):
        stain.macenko_stain_matrix(tile)


def test_concentrations_and_haematoxylin_image_invert_the_rendering():
    amounts = np.array([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.8]]])
    tile = stain.od_to_rgb(amounts @ stain.RUIFROK_HE)
    np.testing.assert_allclose(
        stain.stain_concentrations(tile, stain.RUIFROK_HE), amounts, atol=0.02
    )
    expected = np.rint(255 * np.exp(-amounts[..., 0]))
    np.testing.assert_allclose(stain.haematoxylin_image(tile, stain.RUIFROK_HE), expected, atol=2)


def test_macenko_on_real_immunohistochemistry_image_finds_h_and_dab():
    estimated = stain.macenko_stain_matrix(data.immunohistochemistry())
    # measured 5.5 and 5.0 degrees from Ruifrok's haematoxylin and DAB vectors
    assert angle_deg(estimated[0], stain.RUIFROK_HAEMATOXYLIN) < 10
    assert angle_deg(estimated[1], stain.RUIFROK_DAB) < 10


def test_reinhard_normalize_matches_target_lab_statistics():
    tile = render_tile(stain.RUIFROK_HE, background=0.05)
    target = data.immunohistochemistry()[:256, :256]
    target_mean, target_std = lab_statistics(target[None])
    out = stain.reinhard_normalize(tile, target, space="cielab")
    assert out.dtype == np.uint8 and out.shape == tile.shape
    mean, std = lab_statistics(out[None])
    np.testing.assert_allclose(mean, target_mean, atol=1.5)
    np.testing.assert_allclose(std, target_std, rtol=0.1, atol=0.5)
    from_stats = stain.reinhard_normalize(tile, (target_mean, target_std), space="cielab")
    np.testing.assert_array_equal(from_stats, out)


PAPER_LAB = ((8.98, 0.08, 0.02), (0.64, 0.11, 0.03))  # §IV-B, HistomicsTK's lαβ


def test_lalphabeta_round_trips_and_white_is_where_histomicstk_puts_it():
    rgb = np.random.default_rng(0).integers(1, 256, (16, 16, 3)).astype(np.uint8)
    np.testing.assert_array_equal(stain.lalphabeta_to_rgb(stain.rgb_to_lalphabeta(rgb)), rgb)
    white = stain.rgb_to_lalphabeta(np.full((1, 1, 3), 255, np.uint8))[0, 0]
    # l = (ln L + ln M + ln S) / sqrt(3) with LMS of 255 ≈ (255.0, 254.8, 254.3)
    np.testing.assert_allclose(white, [9.594, 0.0008, 0.0004], atol=2e-3)


def test_reinhard_normalize_reaches_the_papers_lalphabeta_statistics():
    tile = render_tile(stain.RUIFROK_HE, background=0.05)
    # A narrower l spread than the paper's 0.64 keeps every pixel under white (9.6), so no
    # clipping moves the statistics; the paper's own target clips about a fifth of this tile.
    target = (PAPER_LAB[0], (0.3, 0.05, 0.02))
    lab = stain.rgb_to_lalphabeta(stain.reinhard_normalize(tile, target)).reshape(-1, 3)
    np.testing.assert_allclose(lab.mean(axis=0), target[0], atol=0.01)
    np.testing.assert_allclose(lab.std(axis=0), target[1], rtol=0.05, atol=0.002)
    out = stain.reinhard_normalize(tile, PAPER_LAB)
    assert not np.array_equal(out, stain.reinhard_normalize(tile, PAPER_LAB, space="cielab"))


def test_papers_background_threshold_is_sda_magnitude_16():
    # SDA = OD · 255 / ln 255: an OD norm of PAPER_BETA is an SDA magnitude of 16.
    np.testing.assert_allclose(stain.PAPER_BETA * stain.SDA_PER_OD, 16.0)
    np.testing.assert_allclose(stain.PAPER_BETA, 0.3477, atol=1e-4)
    # A tile of faint stain (OD norm 0.25, under 16 SDA) has no tissue at the paper's value.
    faint = stain.od_to_rgb(np.full((16, 16, 3), 0.25 / np.sqrt(3)))
    with pytest.raises(stain.StainEstimationError):
        stain.macenko_stain_matrix(faint, min_pixels=1)
    faint[0, 0] = 0  # keeps the covariance non-singular at beta = 0.15
    with pytest.raises(stain.StainEstimationError, match="degrees"):
        stain.macenko_stain_matrix(faint, beta=0.15, min_pixels=1)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: stain.rgb_to_od(np.zeros((4, 4, 3), np.float32)), "rgb"),
        (lambda: stain.macenko_stain_matrix(np.zeros((4, 4), np.uint8)), "rgb"),
        (lambda: stain.stain_concentrations(np.zeros((4, 4, 3), np.uint8), np.eye(3)), "stains"),
        (
            lambda: stain.reinhard_normalize(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4))),
            "target",
        ),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
