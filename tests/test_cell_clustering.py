"""Cell-level clustering metrics, Table III baselines, critic-feature SVM and image-level
evaluation of the InfoWGAN-GP paper (kerasg2c.evaluation.clustering; no TensorFlow)."""

import math
from fractions import Fraction

import numpy as np
import pytest

from kerasg2c.evaluation import clustering, image_level

# Toy assignment, 3 clusters over 10 items (classes 0, 1, 2):
#   cluster 0 (5 items): classes 0, 0, 0, 1, 2 -> majority 0
#   cluster 1 (3 items): classes 1, 1, 0       -> majority 1
#   cluster 2 (2 items): classes 0, 0          -> majority 0 (class 2 is nobody's majority)
TOY_LABELS = [0, 0, 0, 1, 2, 1, 1, 0, 0, 0]
TOY_CLUSTERS = [0, 0, 0, 0, 0, 1, 1, 1, 2, 2]


def _entropy_bits(*fractions):
    return -sum(float(p) * math.log2(p) for p in fractions if p > 0)


def _f1(tp, fp, fn):
    if tp == 0:
        return Fraction(0)
    precision, recall = Fraction(tp, tp + fp), Fraction(tp, tp + fn)
    return 2 * precision * recall / (precision + recall)


def test_toy_metrics_match_hand_computation():
    # purity = (1/N) sum_k max_j |w_k ∩ c_j| = (3 + 2 + 2) / 10
    purity = Fraction(3 + 2 + 2, 10)
    # entropy = sum_k |w_k|/N · H(class distribution in w_k), bits
    entropy = (
        5 / 10 * _entropy_bits(Fraction(3, 5), Fraction(1, 5), Fraction(1, 5))
        + 3 / 10 * _entropy_bits(Fraction(2, 3), Fraction(1, 3))
        + 2 / 10 * _entropy_bits(Fraction(1))
    )
    # predictions: clusters 0 and 2 -> class 0, cluster 1 -> class 1
    f_class0 = _f1(tp=3 + 2, fp=2, fn=1)  # = 10/13
    f_class1 = _f1(tp=2, fp=1, fn=1)  # = 2/3
    f_class2 = _f1(tp=0, fp=0, fn=1)  # = 0
    f_score = Fraction(6, 10) * f_class0 + Fraction(3, 10) * f_class1 + Fraction(1, 10) * f_class2
    assert f_class0 == Fraction(10, 13) and f_score == Fraction(43, 65)

    assert clustering.cluster_purity(TOY_LABELS, TOY_CLUSTERS) == pytest.approx(float(purity))
    assert clustering.cluster_entropy(TOY_LABELS, TOY_CLUSTERS) == pytest.approx(entropy)
    assert clustering.cluster_f_score(TOY_LABELS, TOY_CLUSTERS) == pytest.approx(float(f_score))
    report = clustering.cluster_report(TOY_LABELS, TOY_CLUSTERS)
    assert report == {
        "purity": pytest.approx(0.7),
        "entropy": pytest.approx(entropy),
        "f_score": pytest.approx(43 / 65),
        "n": 10,
        "n_clusters": 3,
        "n_classes": 3,
    }


def test_perfect_clustering_and_permuted_cluster_ids():
    labels = np.array(["a", "a", "b", "b", "b", "c"])
    perfect = np.array([7, 7, 3, 3, 3, 5])
    assert clustering.cluster_report(labels, perfect) == {
        "purity": 1.0,
        "entropy": 0.0,
        "f_score": 1.0,
        "n": 6,
        "n_clusters": 3,
        "n_classes": 3,
    }
    permuted = {0: 2, 1: 0, 2: 1}
    renamed = [permuted[c] for c in TOY_CLUSTERS]
    assert clustering.cluster_report(TOY_LABELS, renamed) == pytest.approx(
        clustering.cluster_report(TOY_LABELS, TOY_CLUSTERS)
    )


def test_kmeans_pixels_separates_dark_and_bright_squares():
    rng = np.random.default_rng(0)
    dark = 0.1 + 0.05 * rng.random((6, 16, 16, 3))
    bright = 0.85 + 0.05 * rng.random((6, 16, 16, 3))
    images = np.concatenate([dark, bright])
    labels = [0] * 6 + [1] * 6
    clusters = clustering.kmeans_pixels(images, k=2, seed=0)
    assert clusters.shape == (12,)
    assert clustering.cluster_purity(labels, clusters) == 1.0


def _stripes(vertical, phase, size=32, period=8):
    line = ((np.arange(size) + phase) // (period // 2)) % 2
    image = np.tile(line, (size, 1)).astype(np.float64)
    return image if vertical else image.T


def test_kmeans_hog_separates_horizontal_and_vertical_stripes():
    rng = np.random.default_rng(1)
    images, labels = [], []
    for i in range(12):
        vertical = i % 2 == 0
        image = _stripes(vertical, phase=int(rng.integers(8)))
        images.append(image + 0.05 * rng.standard_normal(image.shape))
        labels.append(int(vertical))
    clusters = clustering.kmeans_hog(np.stack(images), k=2, seed=0)
    assert clustering.cluster_purity(labels, clusters) == 1.0
    assert clustering.cluster_f_score(labels, clusters) == 1.0


def test_svm_report_on_separable_features():
    rng = np.random.default_rng(2)

    def blobs(n):
        x = rng.standard_normal((2 * n, 20))
        x[n:] += 6.0
        return x, np.array([0] * n + [1] * n)

    train_x, train_y = blobs(30)
    test_x, test_y = blobs(10)
    report = clustering.svm_report(train_x, train_y, test_x, test_y)
    assert report["f1"] == 1.0 and report["precision"] == 1.0 and report["recall"] == 1.0
    assert report["n_train"] == 60 and report["n_test"] == 20


def test_cell_proportions_match_hand_count():
    ids, proportions = image_level.cell_proportions(
        ["b", "a", "a", "b", "b", "c"], [0, 1, 1, 2, 0, 2], k=3
    )
    assert ids.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(proportions, [[0, 1, 0], [2 / 3, 0, 1 / 3], [0, 0, 1]])
    np.testing.assert_allclose(proportions.sum(axis=1), 1.0)


def _separable_proportions(seed=3):
    rng = np.random.default_rng(seed)
    normal = rng.dirichlet([30, 10, 10], size=8)  # mostly cluster 0
    abnormal = rng.dirichlet([5, 10, 35], size=12)  # mostly cluster 2
    return np.concatenate([normal, abnormal]), np.array([0] * 8 + [1] * 12)


def test_image_level_report_on_separable_proportions(tmp_path):
    proportions, labels = _separable_proportions()
    report = image_level.image_level_report(proportions, labels, seed=0)
    assert report["n"] == 20 and report["n_splits"] == 4
    assert report["svm"]["f1"] == 1.0 and report["svm"]["f1_sd"] == 0.0
    assert report["svm"]["f1_per_fold"] == [1.0] * 4
    assert report["kmeans"]["f1"] == 1.0

    path = tmp_path / "pca.png"
    points = image_level.plot_proportions_pca(
        proportions, labels, path, class_names={0: "normal", 1: "abnormal"}
    )
    assert points.shape == (20, 2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: clustering.cluster_purity([0, 1, 1], [0, 1]), "clusters"),
        (lambda: clustering.cluster_entropy([], []), "labels_true"),
        (lambda: clustering.cluster_f_score([0, 1], []), "clusters"),
        (lambda: clustering.kmeans_pixels(np.zeros((0, 4, 4)), 2), "images"),
        (lambda: clustering.kmeans_hog(np.zeros((3, 16, 16)), 5), "k"),
        (
            lambda: clustering.svm_report(np.zeros((4, 3)), [0, 1, 0], np.zeros((2, 3)), [0, 1]),
            "train_labels",
        ),
        (
            lambda: clustering.svm_report(np.zeros((4, 3)), [0, 1, 0, 1], np.zeros((2, 2)), [0, 1]),
            "test_features",
        ),
        (lambda: image_level.cell_proportions(["a", "b"], [0], 2), "clusters"),
        (lambda: image_level.cell_proportions([], [], 2), "image_ids"),
        (lambda: image_level.cell_proportions(["a", "b"], [0, 2], 2), "clusters"),
        (lambda: image_level.image_level_report(np.full((5, 3), 1 / 3), [0, 1, 0, 1]), "labels"),
        (lambda: image_level.image_level_report(np.zeros((0, 3)), []), "proportions"),
        (lambda: image_level.image_level_report(np.full((6, 2), 0.5), [0] * 3 + [1] * 3), "labels"),
        (lambda: image_level.plot_proportions_pca(np.zeros((3, 2)), [0, 1], "x.png"), "labels"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_svm_and_image_level_scores_are_weighted_by_support_not_macro():
    """Table IV (and Table I): precision, recall and F1 averaged weighted by support. An
    unbalanced case where the macro average differs: 8 of class 0, 2 of class 1; the
    predictions get 7 of class 0 and 1 of class 1 right."""
    truth = np.array([0] * 8 + [1] * 2)
    predicted = np.array([0] * 7 + [1] + [1, 0])
    # class 0: P = 7/8, R = 7/8; class 1: P = 1/2, R = 1/2 → weighted 0.8, macro 0.6875
    scores = clustering._weighted_scores(truth, predicted, np.array([0, 1]))
    assert scores["precision"] == pytest.approx(0.8)
    assert scores["recall"] == pytest.approx(0.8)
    assert scores["f1"] == pytest.approx(0.8)
    from sklearn import metrics

    assert metrics.f1_score(truth, predicted, average="macro") == pytest.approx(0.6875)
    # the same through svm_report: 1-D features whose threshold the SVM learns from the
    # training split, scored on this unbalanced test split
    x_train = np.array([[-2.0], [-1.5], [-1.0], [1.0], [1.5], [2.0]])
    y_train = np.array([0, 0, 0, 1, 1, 1])
    x_test = np.where(predicted == 1, 1.0, -1.0)[:, None]
    report = clustering.svm_report(x_train, y_train, x_test, truth, scale=False)
    assert report["f1"] == pytest.approx(0.8) and report["precision"] == pytest.approx(0.8)
    assert report["accuracy"] == pytest.approx(0.8)
