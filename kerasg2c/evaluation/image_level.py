"""Image-level evaluation of the InfoWGAN-GP paper (Hu et al., "Unsupervised learning for
cell-level visual representation in histopathology images with generative adversarial
networks"; §III and §IV-E): per-image cell proportions P_i = X_i / sum_i X_i, image-level
k-means and linear SVM under stratified cross-validation (Table IV), and the PCA view of
the proportions (Fig. 10). The cell-level metrics and baselines are `clustering`'s.

Needs only numpy, scikit-learn and matplotlib (no TensorFlow).
"""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedKFold

from kerasg2c.evaluation.clustering import (
    _KMEANS_RESTARTS,
    _check_classes,
    _linear_svm,
    _matrix,
    _same_length,
    _vector,
    _weighted_scores,
)
from kerasg2c.evaluation.plots import plt  # Agg backend, set once there


def cell_proportions(image_ids, clusters, k: int):
    """Cell proportions (§III): for each image, X_i = its number of cells in cluster i and
    P_i = X_i / sum_i X_i. Returns (sorted unique image ids [n_images], proportions
    [n_images, k]); `clusters` are ints in [0, k)."""
    image_ids = _vector(image_ids, "image_ids")
    clusters = _vector(clusters, "clusters")
    _same_length(image_ids, "image_ids", clusters, "clusters")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not np.issubdtype(clusters.dtype, np.integer):
        raise ValueError(f"clusters must be integers in [0, {k}), got dtype {clusters.dtype}")
    if clusters.min() < 0 or clusters.max() >= k:
        raise ValueError(f"clusters must lie in [0, {k}), got [{clusters.min()}, {clusters.max()}]")
    ids, row = np.unique(image_ids, return_inverse=True)
    counts = np.zeros((len(ids), k), dtype=np.float64)
    np.add.at(counts, (row, clusters), 1)
    return ids, counts / counts.sum(axis=1, keepdims=True)


def _kmeans_classifier(train_x, train_y, test_x, k: int, seed: int) -> np.ndarray:
    """§IV-E unsupervised arm: k-means centres from the training proportions, each centre
    labelled with its training members' majority label (ties: smallest), each test sample
    given the label of its closest centre."""
    model = KMeans(n_clusters=k, init="k-means++", n_init=_KMEANS_RESTARTS, random_state=seed)
    train_clusters = model.fit_predict(train_x)
    classes, y = np.unique(train_y, return_inverse=True)
    table = np.zeros((k, len(classes)), dtype=np.int64)
    np.add.at(table, (train_clusters, y), 1)
    return classes[table.argmax(axis=1)][model.predict(test_x)]


def _summary(folds) -> dict:
    out = {}
    for key in ("precision", "recall", "f1"):
        values = np.array([fold[key] for fold in folds])
        out[key] = float(values.mean())
        out[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    out["f1_per_fold"] = [float(fold["f1"]) for fold in folds]
    return out


def image_level_report(
    proportions, labels, seed: int = 0, n_splits: int = 4, C: float = 1.0
) -> dict:
    """Image-level classification from cell proportions (§IV-E, Table IV) under stratified
    `n_splits`-fold cross-validation (4 in the paper), shuffled with `seed`. Per fold:

    - "kmeans" (unsupervised): k-means with k = the number of labels (2 for normal vs
      abnormal) on the training fold; each cluster takes its members' majority label and
      each test image its closest centre's label.
    - "svm": a linear L2-SVM (`LinearSVC`, regularisation `C`) on the raw proportions.

    Each arm reports precision, recall and F1 (Eq. (13), weighted by support) as the mean
    over folds with the sample sd over folds ("<name>_sd"), and F1 per fold. JSON-ready.
    """
    proportions = _matrix(proportions, "proportions")
    labels = _vector(labels, "labels")
    _same_length(proportions, "proportions", labels, "labels")
    _check_classes(labels, "labels")
    classes, counts = np.unique(labels, return_counts=True)
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if counts.min() < n_splits:
        raise ValueError(
            f"labels needs at least n_splits={n_splits} examples of each class for "
            f"stratified folds; class {classes[counts.argmin()]!r} has {counts.min()}"
        )
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    kmeans_folds, svm_folds = [], []
    for train, test in folds.split(proportions, labels):
        predicted = _kmeans_classifier(
            proportions[train], labels[train], proportions[test], len(classes), seed
        )
        kmeans_folds.append(_weighted_scores(labels[test], predicted, classes))
        svm = _linear_svm(C, scale=False, seed=seed).fit(proportions[train], labels[train])
        svm_folds.append(_weighted_scores(labels[test], svm.predict(proportions[test]), classes))
    return {
        "n": int(len(labels)),
        "n_splits": int(n_splits),
        "kmeans": _summary(kmeans_folds),
        "svm": _summary(svm_folds),
    }


def plot_proportions_pca(proportions, labels, path, class_names=None) -> np.ndarray:
    """PNG scatter of the cell proportions projected on their first two principal
    components (scikit-learn PCA; §IV-E, Fig. 10), one colour per true label (tab10, as
    the other figures in `plots`). `class_names` maps a label to its legend text.
    Returns the projected points [n_images, 2]."""
    proportions = _matrix(proportions, "proportions")
    labels = _vector(labels, "labels")
    _same_length(proportions, "proportions", labels, "labels")
    if proportions.shape[0] < 2 or proportions.shape[1] < 2:
        raise ValueError(
            f"proportions needs at least 2 images and 2 clusters for a 2-D PCA, got shape "
            f"{proportions.shape}"
        )
    pca = PCA(n_components=2)
    points = pca.fit_transform(proportions)
    colours = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for i, label in enumerate(np.unique(labels)):
        mine = labels == label
        name = class_names.get(label, label) if isinstance(class_names, dict) else label
        ax.scatter(*points[mine].T, s=22, color=colours(i % 10), label=str(name))
    ratio = pca.explained_variance_ratio_
    ax.set(
        xlabel=f"PC1 ({ratio[0]:.0%})",
        ylabel=f"PC2 ({ratio[1]:.0%})",
        title="cell proportions per image (PCA)",
    )
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return points
