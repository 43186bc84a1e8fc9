"""PNG figures for run reports: confusion matrix, learning curves, image grids."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save_confusion_matrix(cm, classes, path, title="confusion matrix") -> None:
    """Row-normalised confusion matrix with counts in each cell."""
    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2, 1.2 * len(classes) + 1.5))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{rates[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if rates[i, j] > 0.5 else "black",
            )
    ax.set(
        xticks=range(len(classes)),
        yticks=range(len(classes)),
        xticklabels=classes,
        yticklabels=classes,
        xlabel="predicted",
        ylabel="true",
        title=title,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_learning_curves(history, path) -> None:
    """One panel per quantity (loss, accuracy, ...), train and validation lines."""
    epochs = [row["epoch"] for row in history]
    names = sorted(
        {
            k.split("_", 1)[1]
            for row in history
            for k in row
            if k.startswith(("train_", "val_")) and isinstance(row[k], (int, float))
        }
    )
    fig, axes = plt.subplots(
        1, max(len(names), 1), figsize=(4 * max(len(names), 1), 3.2), squeeze=False
    )
    for ax, name in zip(axes[0], names):
        for split in ("train", "val"):
            values = [row.get(f"{split}_{name}") for row in history]
            if any(v is not None for v in values):
                ax.plot(
                    epochs, [np.nan if v is None else v for v in values], marker="o", label=split
                )
        ax.set(title=name, xlabel="epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_image_grid(images, path, titles=None, columns=8) -> None:
    """Images in [0, 1] (N×H×W×3) tiled in rows of `columns`, optional titles."""
    images = np.clip(np.asarray(images, dtype=np.float32), 0, 1)
    rows = int(np.ceil(len(images) / columns))
    cols = min(columns, len(images))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i])
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_tsne_panels(panels, real_labels, classes, path) -> None:
    """Side-by-side 2-D embeddings of real and synthetic features: `panels` is a list of
    (title, real points [N, 2], synthetic points [M, 2], synthetic labels [M]); colour =
    class, dots real, crosses synthetic."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (title, real, fake, fake_labels) in zip(axes[0], panels):
        for c, name in enumerate(classes):
            mine = np.asarray(real_labels) == c
            ax.scatter(*real[mine].T, s=10, color=colours(c % 10), label=f"{name} real")
            mine = np.asarray(fake_labels) == c
            ax.scatter(
                *fake[mine].T, s=14, marker="x", color=colours(c % 10), label=f"{name} synthetic"
            )
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
