"""HistoGAN's selective augmentation (HistoGAN paper §3.2, Algorithm 1; step 4 of
`histogan_job`): per class, generated images filtered by the MC-dropout extractor's
entropy and their distance to the class centroid, written as one DATA_ROOT per arm in
`workdir/augmented/<arm>/`, and the t-SNE of real and synthetic features (`tsne.png`).
"""

import os

import numpy as np
from PIL import Image

from kerasg2c import json_files
from kerasg2c.augment import selective
from kerasg2c.data import layout
from kerasg2c.errors import UserError
from kerasg2c.evaluation import plots
from kerasg2c.jobs.histogan_real_data import real_data_root

ARMS = ("unselected", "entropy_only", "centroid_only", "selective")
# The DATA_ROOT of the real training patches alone (the baseline arms' data: the patients
# the run trained on when data.max_train_patients drew a subset).
REAL = "real"
SYNTHETIC = "synthetic"


def class_generator(generator, label: int, noise_dim: int, seed: int):
    """generate_fn for `selective.select_class`: image j of class `label` is a pure
    function of (seed, label, j)."""

    def generate(indices):
        noise = np.stack(
            [
                np.random.default_rng([seed, label, int(j)]).standard_normal(noise_dim)
                for j in indices
            ]
        ).astype(np.float32)
        labels = np.full(len(indices), label, np.int32)
        return generator.generate(labels, noise).numpy()

    return generate


def arm_indices(selection: selective.Selection, keep: int) -> dict:
    """Indices into the class's generated images kept by each arm."""
    return {
        "unselected": np.arange(keep),
        "entropy_only": np.sort(np.argsort(selection.entropy, kind="stable")[:keep]),
        "centroid_only": np.sort(np.argsort(selection.distance, kind="stable")[:keep]),
        "selective": selection.indices,
    }


def write_augmented_roots(config, context, loaded: dict, synthetic: dict, counts: dict) -> dict:
    """One DATA_ROOT per arm: real training files and val/test linked (from the run's
    DATA_ROOT, or with data.tfds from `workdir/tfds_data/`, see `real_data_root`), the
    arm's synthetic PNGs linked from `workdir/synthetic/`; and `REAL`, the same without
    synthetic PNGs; returns {arm: root}.

    Args:
      loaded: {"train", "val", "test"} splits as the job read them (`splits.load_splits`);
        the training split is the one trained on.
    """
    train = loaded["train"]
    data_root, train_paths = real_data_root(config, context, loaded)
    info = layout.read_dataset_info(data_root)
    roots = {}
    for arm in (REAL, *ARMS):
        root = os.path.join(context.workdir, "augmented", arm)
        for split in ("val", "test"):
            paths, labels, _ = layout.list_labeled(data_root, split, info.classes)
            _link_all(paths, labels, info.classes, os.path.join(root, "labeled", split))
        train_dir = os.path.join(root, "labeled", "train")
        _link_all(train_paths, train.labels, info.classes, train_dir)
        for label, files in synthetic.get(arm, {}).items():
            _link_all(files, [label] * len(files), info.classes, train_dir)
        json_files.write(
            os.path.join(root, "dataset.json"),
            {
                "source_stain": info.source_stain,
                "stains": [info.source_stain],
                "classes": list(info.classes),
                SYNTHETIC: {
                    "arm": arm,
                    "files": f"labeled/train/<class>/{SYNTHETIC}-<class>__<index>.png",
                    "per_class": {info.classes[c]: n for c, n in counts.get(arm, {}).items()},
                },
            },
        )
        roots[arm] = root
    return roots


def _link_all(paths, labels, classes, folder) -> None:
    for path, label in zip(paths, labels):
        target = os.path.join(folder, classes[int(label)], os.path.basename(path))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.path.abspath(path), target)


def augment(config, context, candidates, extractor, loaded, real_images) -> dict:
    """Step 4 for every class; returns the report's "selection" entry.

    Args:
      candidates: label -> (generate_fn, off_class): the class's candidate images
        (`class_generator`, or a held-out `histogan_pool.Pool`'s) and, for a held-out pool,
        its bool [4·r·N_i] off-class flags (None for a generator).
      loaded: the job's {"train", "val", "test"} splits.
    """
    train = loaded["train"]
    h, classes = config.histogan, train.classes
    synthetic_dir = os.path.join(context.workdir, SYNTHETIC)
    synthetic = {arm: {} for arm in ARMS}
    counts = {arm: {} for arm in ARMS}
    features = {"real": [], "generated": [], "selective": []}
    per_class = {}
    for label, name in enumerate(classes):
        real = real_images[train.labels == label]
        if len(real) == 0:
            raise UserError(f"class {name!r} has no training image to augment")
        generate, off_class = candidates(label)
        selection = selective.select_class(
            generate,
            extractor.predict,
            extractor.layers,
            real,
            len(real),
            r=h.ratio,
            passes=h.mc_passes,
            batch_size=config.train.batch_size,
        )
        keep = len(selection.indices)
        arms = arm_indices(selection, keep)
        wanted = np.unique(np.concatenate(list(arms.values())))
        files = {}
        for start in range(0, len(wanted), config.train.batch_size):
            chunk = wanted[start : start + config.train.batch_size]
            for j, image in zip(chunk, generate(chunk)):
                path = os.path.join(synthetic_dir, name, f"{SYNTHETIC}-{name}__{j:05d}.png")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)
                files[int(j)] = path
        for arm, indices in arms.items():
            synthetic[arm][label] = [files[int(j)] for j in indices]
            counts[arm][label] = len(indices)
        features["real"].append(extractor.features(real))
        generated = np.concatenate(
            [generate(np.arange(s, min(s + 64, 4 * keep))) for s in range(0, 4 * keep, 64)]
        )
        gen_features = extractor.features(generated)
        features["generated"].append((gen_features, label))
        features["selective"].append((gen_features[selection.indices], label))
        per_class[name] = {
            "real": int(len(real)),
            "generated": int(4 * keep),
            "kept": keep,
            "mean_entropy": {a: float(selection.entropy[i].mean()) for a, i in arms.items()},
            "mean_distance": {a: float(selection.distance[i].mean()) for a, i in arms.items()},
        }
        if off_class is not None:  # a held-out pool: how many mislabelled images each arm kept
            per_class[name]["off_class_share"] = {
                "candidates": float(off_class.mean()),
                **{a: float(off_class[i].mean()) for a, i in arms.items()},
            }
    roots = write_augmented_roots(config, context, loaded, synthetic, counts)
    plot_tsne(features, train, classes, os.path.join(context.workdir, "tsne.png"), config.seed)
    return {"per_class": per_class, "roots": roots}


def plot_tsne(features, train, classes, path, seed) -> None:
    """t-SNE (scikit-learn) of real and synthetic features: all generated images (left)
    and the selected ones (right); colour = class, ● real, × synthetic."""
    from sklearn.manifold import TSNE

    real = np.concatenate(features["real"])
    real_labels = np.concatenate([train.labels[train.labels == c] for c in range(len(classes))])
    panels = []
    for key in ("generated", "selective"):
        fake = np.concatenate([f for f, _ in features[key]])
        fake_labels = np.concatenate([np.full(len(f), c) for f, c in features[key]])
        both = np.concatenate([real, fake])
        perplexity = max(2.0, min(30.0, (len(both) - 1) / 3))
        points = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(both)
        panels.append((key, points[: len(real)], points[len(real) :], fake_labels))
    plots.save_tsne_panels(panels, real_labels, classes, path)
