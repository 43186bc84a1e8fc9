"""Held-out real images in the generator's place: the control of HistoGAN's selection map.

With `histogan.synthetic_source = "held_out"` the HistoGAN job trains no GAN. Each class's
4·r·N_i candidate images (what the generator would make for the selection, HistoGAN paper
§3.2) are training-split images of the patients that `data.max_train_patients` left out,
and a known share of them, `histogan.off_class_share`, comes from the other classes while
labelled as this one: what an off-class synthetic image is. At share 0 every candidate is a
good image of its class, so the selection has nothing to remove (the map's control level);
the higher the share, the more an unselected subset mislabels and the more the filters have
to find. The report gives, per arm, the share of off-class images it kept.

Candidates are drawn without replacement over all classes (an image is a candidate of one
class at most), seeded by `config.seed`.
"""

import typing

import numpy as np

from kerasg2c.augment import selective
from kerasg2c.data import pipeline
from kerasg2c.errors import UserError
from kerasg2c.jobs import reporting, splits
from kerasg2c.jobs.histogan_augment_step import ARMS, augment

SOURCES = ("generator", "held_out")


class Pool(typing.NamedTuple):
    """One class's candidates, in candidate order."""

    images: np.ndarray  # float32 [n, H, W, 3] in [0, 1]
    off_class: np.ndarray  # bool [n]: drawn from another class

    def generate(self, indices) -> np.ndarray:
        """generate_fn for `selective.select_class`."""
        return self.images[np.asarray(indices, int)]


def draw(held_out_labels, needed: dict, share: float, seed: int) -> dict:
    """{label: (indices into the held-out examples, off-class flags)}, candidate order.

    Args:
      held_out_labels: int [M], the held-out examples' labels.
      needed: {label: n} candidates per class (4·r·N_i).
      share: the off-class share of each class's candidates (rounded to whole images).
      seed: the draw's seed.

    Raises:
      UserError: too few held-out images of a class, or of the others, for the draw.
    """
    labels = np.asarray(held_out_labels)
    rng = np.random.default_rng([seed, 2])
    free = np.ones(len(labels), bool)
    drawn = {}
    for label, n in sorted(needed.items()):
        n_off = int(np.floor(share * n + 0.5))
        parts = []
        for count, mask, what in (
            (n - n_off, labels == label, "of the class"),
            (n_off, labels != label, "of the other classes"),
        ):
            available = np.flatnonzero(free & mask)
            if len(available) < count:
                raise UserError(
                    f"config key histogan.off_class_share={share}: class {label} needs "
                    f"{count} held-out images {what} and {len(available)} are left; lower "
                    "data.max_train_patients (more patients held out) or histogan.ratio"
                )
            chosen = rng.choice(available, count, replace=False)
            free[chosen] = False
            parts.append(chosen)
        order = rng.permutation(n)
        indices = np.concatenate(parts)[order]
        off = np.concatenate([np.zeros(n - n_off, bool), np.ones(n_off, bool)])[order]
        drawn[label] = (indices, off)
    return drawn


def class_pools(config, context, train, size) -> dict:
    """{label: `Pool`} for every class of `train` (the drawn training patients)."""
    held_out = splits.held_out_train(config, context, train)
    needed = {
        label: 4 * selective.keep_count(config.histogan.ratio, int((train.labels == label).sum()))
        for label in range(len(train.classes))
    }
    drawn = draw(held_out.labels, needed, config.histogan.off_class_share, config.seed)
    used = np.unique(np.concatenate([indices for indices, _ in drawn.values()]))
    images = pipeline.load_images(held_out.subset(used), size)
    position = {int(i): k for k, i in enumerate(used)}
    return {
        label: Pool(images[[position[int(i)] for i in indices]], off)
        for label, (indices, off) in drawn.items()
    }


def held_out_report(config, context, extractor, loaded, real_images) -> dict:
    """Step 4 alone, on held-out real candidates (`histogan_pool`): no GAN is trained."""
    train = loaded["train"]
    report = {"trainer": "histogan", "synthetic_source": "held_out", "classes": list(train.classes)}
    if not context.chief:
        return {}
    pools = class_pools(config, context, train, context.images.shape)
    selection = augment(
        config,
        context,
        lambda label: (pools[label].generate, pools[label].off_class),
        extractor,
        loaded,
        real_images,
    )
    report.update(
        data=reporting.data_summary(loaded),
        off_class_share=config.histogan.off_class_share,
        selection=selection,
        # What the sweep reads as the run's result: each arm's share of off-class images.
        metrics={"off_class_kept": off_class_kept(selection["per_class"])},
    )
    reporting.write_report(context.workdir, report)
    return report


def off_class_kept(per_class: dict) -> dict:
    """{arm: share of off-class images among everything the arm kept}, over the classes;
    "candidates" for the whole pool."""
    totals = {}
    for entry in per_class.values():
        counts = {"candidates": entry["generated"], **{a: entry["kept"] for a in ARMS}}
        for arm, share in entry["off_class_share"].items():
            off, n = totals.get(arm, (0.0, 0))
            totals[arm] = (off + share * counts[arm], n + counts[arm])
    return {arm: off / n for arm, (off, n) in totals.items()}
