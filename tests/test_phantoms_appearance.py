"""What the glomerulus phantoms look like (kerasg2c.phantoms.glomeruli, glomerulus_layout):
seeded layouts and Beer–Lambert rendering, one layout's structures aligned in every stain,
each stain's colours, the class cues on PAS, and how difficulty blurs them."""

import numpy as np
import pytest
from phantom_checks import dark_nuclei, iou
from scipy import ndimage

from kerasg2c.phantoms import glomeruli
from kerasg2c.phantoms import glomerulus_layout as gl


def _solid_matrix(image):
    """Fraction of a PAS image in solid (morphologically opened) magenta matrix."""
    magenta = (image[..., 0] >= 155) & (image[..., 1] < 120)
    return ndimage.binary_opening(magenta).mean()


def _layouts(seed, n, size, label=None):
    rngs = [np.random.default_rng([seed, i]) for i in range(n)]
    labels = [label or gl.CLASSES[i % 3] for i in range(n)]
    return [(gl.make_layout(r, size, lab), r) for r, lab in zip(rngs, labels)]


def test_render_and_layout_are_deterministic():
    layout_a = gl.make_layout(np.random.default_rng(7), 48, "ss")
    layout_b = gl.make_layout(np.random.default_rng(7), 48, "ss")
    np.testing.assert_array_equal(layout_a.matrix, layout_b.matrix)
    image_a = glomeruli.render(layout_a, "MASSON", np.random.default_rng(1))
    image_b = glomeruli.render(layout_b, "MASSON", np.random.default_rng(1))
    np.testing.assert_array_equal(image_a, image_b)
    assert image_a.dtype == np.uint8 and image_a.shape == (48, 48, 3)
    with pytest.raises(ValueError, match="label"):
        gl.make_layout(np.random.default_rng(0), 48, "fsgs")
    with pytest.raises(ValueError, match="stain"):
        glomeruli.render(layout_a, "IHC", np.random.default_rng(0))


def test_one_layout_gives_aligned_structures_in_every_stain():
    pas, he, truth = [], [], []
    for layout, rng in _layouts(11, 24, 48):
        pas.append(dark_nuclei(glomeruli.render(layout, "PAS", rng)))
        he.append(dark_nuclei(glomeruli.render(layout, "HE", rng)))
        truth.append(layout.nuclei)
    pas, he, truth = np.stack(pas), np.stack(he), np.stack(truth)
    assert iou(pas, he) > 0.85
    assert iou(pas, truth) > 0.85 and iou(he, truth) > 0.85


def _regions(lay):
    return {
        "matrix": (lay.matrix > 0.6) & ~lay.nuclei,
        "cytoplasm": (lay.cytoplasm > 0.3) & (lay.matrix < 0.2) & ~lay.nuclei,
        "lumen": lay.lumen,
    }


def test_stains_have_their_colours():
    layouts = _layouts(5, 6, 64, label="gs")

    def mean_colour(stain, region):
        colours = [glomeruli.render(lay, stain, rng)[_regions(lay)[region]] for lay, rng in layouts]
        return np.mean([c.mean(0) for c in colours], axis=0)

    r, g, b = mean_colour("PAS", "matrix")
    assert r > g + 60 and b > g + 40  # magenta
    r, g, b = mean_colour("MASSON", "matrix")
    assert b > r + 60  # blue collagen
    r, g, b = mean_colour("MASSON", "cytoplasm")
    assert r > b + 40 and r > g + 60  # red cytoplasm
    r, g, b = mean_colour("HE", "cytoplasm")
    assert r > g + 40 and r > b  # pink eosin
    assert mean_colour("PASM", "matrix").mean() < 90  # black membranes/matrix
    assert mean_colour("PASM", "lumen").mean() > 200  # on a pale slide


def test_classes_are_separable_from_the_pas_image():
    def features(seed):
        layouts = _layouts(seed, 60, 48)
        x = [_solid_matrix(glomeruli.render(lay, "PAS", rng)) for lay, rng in layouts]
        return np.array(x), np.array([gl.CLASSES.index(lay.label) for lay, _ in layouts])

    x_fit, y_fit = features(1)
    x_new, y_new = features(2)
    centroids = np.array([x_fit[y_fit == c].mean() for c in range(3)])
    predicted = np.abs(x_new[:, None] - centroids[None]).argmin(1)
    assert (predicted == y_new).mean() > 0.8  # nearest centroid on the solid-matrix fraction


def test_classes_differ_in_morphology():
    by_class = {c: [lay for lay, _ in _layouts(3, 8, 48, label=c)] for c in gl.CLASSES}
    loops = {c: np.mean([lay.loops.mean() for lay in v]) for c, v in by_class.items()}
    assert loops["noa"] > loops["ss"] > loops["gs"]
    sclerosed = {c: np.mean([lay.sclerosis.mean() for lay in v]) for c, v in by_class.items()}
    assert sclerosed["noa"] == 0 < sclerosed["ss"] < sclerosed["gs"]

    def density(lay, region):  # nuclear area per pixel of the region
        return (lay.nuclei & region).sum() / max(1, region.sum())

    noa = np.mean([density(lay, lay.tuft) for lay in by_class["noa"]])
    assert np.mean([density(lay, lay.tuft) for lay in by_class["gs"]]) < 0.5 * noa
    ss = by_class["ss"]
    in_sector = np.mean([density(lay, lay.sclerosis > 0.5) for lay in ss])
    elsewhere = np.mean([density(lay, lay.tuft & (lay.sclerosis == 0)) for lay in ss])
    assert in_sector < 0.6 * elsewhere


def _nearest_centroid_accuracy(difficulty):
    """Nearest-centroid accuracy (3 classes, chance 1/3) on the PAS solid-matrix fraction."""

    def features(seed):
        x, y = [], []
        for i in range(60):
            rng = np.random.default_rng([seed, i])
            layout = gl.make_layout(rng, 48, gl.CLASSES[i % 3], difficulty)
            x.append(_solid_matrix(glomeruli.render(layout, "PAS", rng)))
            y.append(i % 3)
        return np.array(x), np.array(y)

    x_fit, y_fit = features(1)
    x_new, y_new = features(2)
    centroids = np.array([x_fit[y_fit == c].mean() for c in range(3)])
    return (np.abs(x_new[:, None] - centroids[None]).argmin(1) == y_new).mean()


def test_difficulty_makes_the_classes_overlap_on_pas():
    # Measured: 0.98 at difficulty 0, 0.80 at 0.5, 0.33 (chance) at 1.
    easy, medium, hard = (_nearest_centroid_accuracy(d) for d in (0.0, 0.5, 1.0))
    assert easy > 0.8
    assert 0.5 < medium < easy
    assert hard < easy - 0.3


def test_difficulty_softens_the_morphology():
    def mean(label, difficulty, measure):
        rngs = [np.random.default_rng([4, i]) for i in range(8)]
        return np.mean([measure(gl.make_layout(r, 48, label, difficulty)) for r in rngs])

    for label, measure, grows in [
        ("ss", lambda lay: lay.sclerosis.mean(), False),  # a smaller, fainter segment
        ("gs", lambda lay: lay.loops.mean(), True),  # open loops survive
        ("gs", lambda lay: lay.nuclei[lay.tuft].mean(), True),  # and nuclei
        ("gs", lambda lay: (~lay.tuft & lay.lumen).mean(), False),  # narrower Bowman's space
        ("noa", lambda lay: lay.matrix[lay.tuft].mean(), True),  # mesangial expansion
    ]:
        easy, hard = mean(label, 0.0, measure), mean(label, 1.0, measure)
        assert (hard > easy) if grows else (hard < easy), (label, easy, hard)


def test_masson_shows_faint_sclerosis_better_than_pas():
    def contrast(stain, difficulty):  # sclerotic sector vs cellular tuft, RGB distance
        out = []
        for i in range(6):
            layout = gl.make_layout(np.random.default_rng([5, i]), 64, "ss", difficulty)
            image = glomeruli.render(layout, stain, np.random.default_rng(i)).astype(float)
            tissue = ~layout.nuclei & ~layout.lumen
            sector = (layout.sclerosis > 0.3) & tissue
            cells = layout.tuft & (layout.sclerosis == 0) & tissue & (layout.membrane < 0.1)
            out.append(np.linalg.norm(image[sector].mean(0) - image[cells].mean(0)))
        return np.mean(out)

    assert contrast("PAS", 1.0) < 0.5 * contrast("PAS", 0.0)
    assert contrast("MASSON", 1.0) > 2 * contrast("PAS", 1.0)
