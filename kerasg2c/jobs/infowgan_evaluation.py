"""Step 3 of the InfoWGAN-GP job (`infowgan_job`), on the test split: each cell's cluster
is argmax Q(c | x); purity, entropy and average F-score against the true types next to
k-means on raw pixels and on HOG features (Hu et al., Table III), and a linear SVM on the
critic's block features (Table I). Cells of the class folder `UNKNOWN` are clustered,
never scored.
"""

import numpy as np

from kerasg2c.data import pipeline
from kerasg2c.errors import UserError
from kerasg2c.evaluation import clustering

UNKNOWN = "unknown"  # class folder of cells of no known type: trained on, never scored


def predict(fn, images, batch_size: int) -> np.ndarray:
    """`fn` over `images` in batches, concatenated as numpy."""
    return np.concatenate(
        [np.asarray(fn(images[s : s + batch_size])) for s in range(0, len(images), batch_size)]
    )


def assign(model, images, batch_size: int = 256) -> np.ndarray:
    """Each cell's cluster, argmax Q(c | x), int64 [N]."""
    return predict(model.predict_on_batch, images, batch_size).argmax(axis=1).astype(np.int64)


def cluster_table(labels, clusters, k: int, classes) -> dict:
    """{"cluster <c>": {type: count}}: which true types each Q category holds."""
    return {
        f"cluster {c}": {name: int(np.sum((clusters == c) & (labels == t))) for t, name in
                         enumerate(classes)}
        for c in range(k)
    }  # fmt: skip


def typed(split) -> np.ndarray:
    """bool [N]: the cells of `split` whose type is known (not in the `UNKNOWN` folder)."""
    unknown = list(split.classes).index(UNKNOWN) if UNKNOWN in split.classes else -1
    return np.asarray(split.labels) != unknown


def evaluate(config, model, loaded) -> dict:
    """Step 3: the report's "clustering" and "svm" entries. Cells in a class folder named
    `UNKNOWN` are clustered (in "q_clusters") but not scored; with no typed test cell
    (or no typed training cell, for the SVM) that entry says it is not scored."""
    size = config.data.image_size
    k = config.infogan.categories
    train, test = loaded["train"], loaded["test"]
    test_images = pipeline.load_images(test, size)
    clusters = assign(model, test_images)
    table = cluster_table(test.labels, clusters, k, test.classes)
    known = typed(test)
    if not known.any():
        note = f"not scored: no test cell has a known type (all in {UNKNOWN!r})"
        return {"clustering": {"split": "test", "scored": False, "note": note, "q_clusters": table},
                "svm": {"scored": False, "note": note}}  # fmt: skip
    if known.sum() < k:
        raise UserError(
            f"the test split has {known.sum()} typed cells, fewer than infogan.categories={k}"
        )
    labels, test_images, clusters = test.labels[known], test_images[known], clusters[known]
    arms = {
        "infowgan_q": clusters,
        "kmeans_pixels": clustering.kmeans_pixels(test_images, k, seed=config.seed),
        "kmeans_hog": clustering.kmeans_hog(test_images, k, seed=config.seed),
    }
    clustering_report = {"split": "test", "scored": True, "n_unknown": int((~known).sum())}
    clustering_report |= {a: clustering.cluster_report(labels, c) for a, c in arms.items()}
    clustering_report["q_clusters"] = table
    train_known = typed(train)
    if len(np.unique(train.labels[train_known])) < 2:
        svm = {"scored": False, "note": "not scored: fewer than 2 types among the training cells"}
        return {"clustering": clustering_report, "svm": svm}
    train_images = pipeline.load_images(train, size)[train_known]
    svm = clustering.svm_report(
        predict(model.critic_features, train_images, 128),
        train.labels[train_known],
        predict(model.critic_features, test_images, 128),
        labels,
        C=config.infogan.svm_c,
        seed=config.seed,
    )
    return {"clustering": clustering_report, "svm": {"features": "critic blocks", **svm}}
