"""Cell-level clustering and classification metrics of the InfoWGAN-GP paper (Hu et al.,
"Unsupervised learning for cell-level visual representation in histopathology images
with generative adversarial networks"; sections IV-C and IV-D).

- §IV-D, Eq. (14): purity, entropy and average F-score of a clustering of labelled cells,
  and the k-means baselines of Table III (here on raw pixels and on HOG features).
- §IV-C, Eq. (13): a linear L2-SVM on critic features, precision / recall / F1 weighted
  by support (Table I).
- §III (cell proportions) and §IV-E, the image level, are `image_level`'s.

Needs only numpy, scikit-learn and scikit-image (no TensorFlow).
"""

import numpy as np
from skimage.feature import hog
from sklearn import metrics
from sklearn.cluster import KMeans
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

# k-means restarts (k-means++ seeding, §IV-B); the best inertia is kept.
_KMEANS_RESTARTS = 10


# --------------------------------------------------------------------------- validation


def _vector(x, name: str) -> np.ndarray:
    """`x` as a non-empty 1-D array, or ValueError naming `name`."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    return x


def _matrix(x, name: str) -> np.ndarray:
    """`x` as a non-empty finite 2-D float array, or ValueError naming `name`."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D [n, features], got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has non-finite values")
    return x


def _same_length(a, a_name: str, b, b_name: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{b_name} has {len(b)} entries but {a_name} has {len(a)}")


def _labels_and_clusters(labels_true, clusters):
    labels_true = _vector(labels_true, "labels_true")
    clusters = _vector(clusters, "clusters")
    _same_length(labels_true, "labels_true", clusters, "clusters")
    return labels_true, clusters


def _contingency(labels_true, clusters):
    """(table [clusters, classes] of counts |w_k ∩ c_j|, class values, cluster index per
    item). Classes and clusters are in sorted order."""
    labels_true, clusters = _labels_and_clusters(labels_true, clusters)
    classes, class_index = np.unique(labels_true, return_inverse=True)
    cluster_ids, cluster_index = np.unique(clusters, return_inverse=True)
    table = np.zeros((len(cluster_ids), len(classes)), dtype=np.int64)
    np.add.at(table, (cluster_index, class_index), 1)
    return table, classes, cluster_index


def _k(k, n: int, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
    if k > n:
        raise ValueError(f"{name}={k} is more than the {n} items to cluster")
    return int(k)


# ------------------------------------------------------------------ clustering metrics


def cluster_purity(labels_true, clusters) -> float:
    """Purity, §IV-D Eq. (14): (1/N) · sum_k max_j |w_k ∩ c_j| (1 = every cluster holds a
    single class)."""
    table, _, _ = _contingency(labels_true, clusters)
    return float(table.max(axis=1).sum() / table.sum())


def cluster_entropy(labels_true, clusters) -> float:
    """Entropy, §IV-D Eq. (14), in bits (log base 2; the paper names no base):
    sum_k (|w_k| / N) · H(w_k), H(w_k) = -sum_j p_kj log2 p_kj, p_kj = |w_k ∩ c_j| / |w_k|
    — the support-weighted class entropy inside each cluster (0 = pure clusters).

    Eq. (14) as printed, -(1/N) sum_k |w_k| log(|w_k| / N), leaves out the classes (it is
    the entropy of the cluster sizes, blind to the labels); the class-conditional form is
    the one under which smaller means better, as the paper says. Base 2 is also the base
    Table III's values allow: dataset B's 1.561 for three classes exceeds ln 3 ≈ 1.099.
    """
    table, _, _ = _contingency(labels_true, clusters)
    sizes = table.sum(axis=1, keepdims=True)
    p = table / sizes
    logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
    per_cluster = -(p * logs).sum(axis=1)
    return float((sizes[:, 0] * per_cluster).sum() / table.sum())


def _majority_predictions(labels_true, clusters):
    """Each item's predicted class: its cluster's majority class argmax_j |w_k ∩ c_j|
    (ties: the smallest class value)."""
    table, classes, cluster_index = _contingency(labels_true, clusters)
    return classes[table.argmax(axis=1)][cluster_index], classes


def _weighted_scores(labels_true, predicted, classes) -> dict:
    """Eq. (13) precision, recall and F1 per class, averaged weighted by support (true
    instances per class); a class nothing is predicted as scores 0."""
    p, r, f, _ = metrics.precision_recall_fscore_support(
        labels_true, predicted, labels=classes, average="weighted", zero_division=0
    )
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def cluster_f_score(labels_true, clusters) -> float:
    """Average F-score, §IV-D: each cluster w_k is assigned to its majority class
    argmax_j |w_k ∩ c_j| (ties: the smallest class value), so every item is predicted as
    its cluster's class; per-class F1 by Eq. (13), averaged weighted by support (the
    number of true instances of each class). A class that is no cluster's majority has
    F1 = 0."""
    predicted, classes = _majority_predictions(labels_true, clusters)
    labels_true = np.asarray(labels_true)
    return _weighted_scores(labels_true, predicted, classes)["f1"]


def cluster_report(labels_true, clusters) -> dict:
    """JSON-ready {"purity", "entropy", "f_score", "n", "n_clusters", "n_classes"} of a
    clustering against true classes (Table III's columns; see the functions above)."""
    table, _, _ = _contingency(labels_true, clusters)
    return {
        "purity": cluster_purity(labels_true, clusters),
        "entropy": cluster_entropy(labels_true, clusters),
        "f_score": cluster_f_score(labels_true, clusters),
        "n": int(table.sum()),
        "n_clusters": int(table.shape[0]),
        "n_classes": int(table.shape[1]),
    }


# ------------------------------------------------------------- Table III baselines


def _images(images) -> np.ndarray:
    images = np.asarray(images, dtype=np.float64)
    if images.ndim not in (3, 4):
        raise ValueError(f"images must be [N, H, W] or [N, H, W, C], got shape {images.shape}")
    if images.shape[0] == 0:
        raise ValueError("images is empty")
    return images


def _kmeans(features, k: int, seed: int) -> np.ndarray:
    model = KMeans(n_clusters=k, init="k-means++", n_init=_KMEANS_RESTARTS, random_state=seed)
    return model.fit_predict(features).astype(np.int64)


def kmeans_pixels(images, k: int, seed: int = 0) -> np.ndarray:
    """Cluster ids [N] from k-means (k-means++ seeding, §IV-B) on the raw flattened
    pixels of `images` ([N, H, W] or [N, H, W, C]) — a raw-input k-means baseline next to
    Table III's feature + k-means rows."""
    images = _images(images)
    k = _k(k, len(images))
    return _kmeans(images.reshape(len(images), -1), k, seed)


def hog_features(images, pixels_per_cell=(8, 8), cells_per_block=(2, 2)) -> np.ndarray:
    """`skimage.feature.hog` (9 orientations) of each image, [N, features]; colour images
    ([N, H, W, C]) use the strongest channel gradient per pixel."""
    images = _images(images)
    channel_axis = -1 if images.ndim == 4 else None
    return np.stack(
        [
            hog(
                image,
                pixels_per_cell=pixels_per_cell,
                cells_per_block=cells_per_block,
                channel_axis=channel_axis,
            )
            for image in images
        ]
    )


def kmeans_hog(images, k: int, seed: int = 0, pixels_per_cell=(8, 8)) -> np.ndarray:
    """Cluster ids [N] from k-means on per-image HOG features (`hog_features`). Table III's
    HOG row clusters 2048-D HOG with DEC; this is the k-means stand-in (no deep embedding)."""
    images = _images(images)
    k = _k(k, len(images))
    return _kmeans(hog_features(images, pixels_per_cell=pixels_per_cell), k, seed)


# ------------------------------------------------------------ critic-feature SVM


def _linear_svm(C: float, scale: bool, seed: int):
    # LinearSVC: L2 penalty with squared hinge loss, i.e. the paper's L2-SVM.
    svm = LinearSVC(C=C, max_iter=20000, random_state=seed)
    return make_pipeline(StandardScaler(), svm) if scale else svm


def _check_classes(labels, name: str) -> None:
    if len(np.unique(labels)) < 2:
        raise ValueError(f"{name} needs at least 2 classes, got {np.unique(labels).tolist()}")


def svm_report(
    train_features,
    train_labels,
    test_features,
    test_labels,
    C: float = 1.0,
    scale: bool = True,
    seed: int = 0,
) -> dict:
    """Linear L2-SVM (`LinearSVC`) on features such as the critic's (§IV-C: each residual
    block's output max-pooled to 4×4, flattened and concatenated), trained on the train
    split and scored on the test split: JSON-ready {"precision", "recall", "f1",
    "accuracy", "n_train", "n_test"}, the first three per class by Eq. (13) and averaged
    weighted by support (Table I). `scale` standardises features with the training
    split's mean and sd first (our choice; the paper does not say)."""
    train_features = _matrix(train_features, "train_features")
    test_features = _matrix(test_features, "test_features")
    train_labels = _vector(train_labels, "train_labels")
    test_labels = _vector(test_labels, "test_labels")
    _same_length(train_features, "train_features", train_labels, "train_labels")
    _same_length(test_features, "test_features", test_labels, "test_labels")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"test_features has {test_features.shape[1]} features but train_features has "
            f"{train_features.shape[1]}"
        )
    _check_classes(train_labels, "train_labels")
    model = _linear_svm(C, scale, seed).fit(train_features, train_labels)
    predicted = model.predict(test_features)
    classes = np.unique(np.concatenate([train_labels, test_labels]))
    return {
        **_weighted_scores(test_labels, predicted, classes),
        "accuracy": float(np.mean(predicted == test_labels)),
        "n_train": int(len(train_labels)),
        "n_test": int(len(test_labels)),
    }
