"""The InfoWGAN-GP job's collapse diagnostic and its label-free choice of weights.

At the end of every epoch (an evaluation point) `diagnose` measures, on the test split's
real cells and on a fixed set of generated ones:

- `categories_in_use`: categories c that argmax Q(c | x) gives to at least `IN_USE_SHARE`
  / k of the real cells (a category below that has collapsed);
- `q_recovery`: how well Q recovers the code from generated cells, the accuracy of
  argmax Q(G(z, c)) = c over `recovery_cells` cells with c cycling over the k values and z
  fixed for the whole run (chance is 1 / k). It needs no labels;
- `q_confidence`: the mean of max_c Q(c | x) over the real cells (no labels either);
- with typed cells: `q_purity`, `q_entropy`, `q_f_score` of argmax Q against the true
  types (the numbers of Table III, here per evaluation point).

A run whose categories collapse says so in its log at that point. Because Q's clustering
swings between evaluation points, `Selector` keeps the weights of the point that is best by
a label-free criterion (`infogan.select`, the latest point among equals): "last" (the
paper's: the weights at the end), "q_recovery" (the highest `q_recovery`), "q_confidence",
"in_use_recovery" (the most categories in use, then the highest `q_recovery`: Q can
recover c from generated cells while it puts every real cell in one category), or
"average" (the critic's weights, hence Q's, averaged over the last `infogan.average_points`
evaluation points, the generator's at the last: `WeightAverage`). The chosen weights are
saved in `workdir/selected/` when they are chosen, so a resumed run keeps its choice, and
restored before the final evaluation. With `infogan.average_points` > 0 every point also
records the averaged Q's diagnostic (row["average"]), whatever the choice.
"""

import json
import os

import numpy as np
from absl import logging

from kerasg2c.evaluation import clustering

IN_USE_SHARE = 0.25  # a category is in use when it holds ≥ 0.25 / k of the real cells
CRITERIA = ("last", "q_recovery", "q_confidence", "in_use_recovery", "average")
SELECTED = "selected"  # workdir/selected/: model.weights.h5 and point.json
AVERAGE = "average"  # workdir/average/snapshots.npz: the critic at the averaged points


def _predict(fn, images, batch_size=256) -> np.ndarray:
    return np.concatenate(
        [np.asarray(fn(images[s : s + batch_size])) for s in range(0, len(images), batch_size)]
    )


def generated_codes(model, n: int, seed: int):
    """(class ids [n] cycling over the k values, noise [n, noise_dim] drawn from `seed`): the
    fixed generated cells `q_recovery` is measured on."""
    class_id = (np.arange(n) % model.categories).astype(np.int32)
    noise = np.random.default_rng([seed, 7919]).standard_normal((n, model.noise_dim))
    return class_id, noise.astype(np.float32)


def q_recovery(model, class_id, noise, batch_size=256) -> float:
    """Accuracy of argmax Q(G(z, c)) = c (the generator in inference mode)."""
    found = []
    for s in range(0, len(class_id), batch_size):
        fakes = model.generate(class_id[s : s + batch_size], noise[s : s + batch_size])
        found.append(np.asarray(model.predict_on_batch(np.asarray(fakes))).argmax(axis=1))
    return float(np.mean(np.concatenate(found) == class_id))


def diagnose(model, images, labels=None, *, codes) -> dict:
    """One evaluation point's diagnostic (see the module docstring).

    Args:
      model: an `InfoWGANGP`.
      images: real cells [N, S, S, 3] in [0, 1].
      labels: their true types [N] (ints), or None (then no purity, entropy or F).
      codes: `generated_codes(model, n, seed)`, the same at every point of a run.

    Returns:
      {"categories_in_use", "category_shares" (list of k), "q_recovery", "q_confidence"}
      and with labels "q_purity", "q_entropy", "q_f_score".

    Examples:
      >>> row = diagnose(model, test_images, test_labels, codes=generated_codes(model, 500, 0))
      >>> row["categories_in_use"], row["q_recovery"]
      (5, 0.93)
    """
    k = model.categories
    probabilities = _predict(model.predict_on_batch, np.asarray(images, np.float32))
    clusters = probabilities.argmax(axis=1)
    shares = np.bincount(clusters, minlength=k) / len(clusters)
    row = {
        "categories_in_use": int(np.sum(shares >= IN_USE_SHARE / k)),
        "category_shares": [round(float(s), 4) for s in shares],
        "q_recovery": q_recovery(model, *codes),
        "q_confidence": float(probabilities.max(axis=1).mean()),
    }
    if labels is not None:
        report = clustering.cluster_report(labels, clusters)
        row |= {f"q_{m}": report[m] for m in ("purity", "entropy", "f_score")}
    return row


def log_point(row: dict, step: int, k: int) -> None:
    """One line per evaluation point; a warning when categories have collapsed."""
    scored = f", purity {row['q_purity']:.3f}" if "q_purity" in row else ""
    logging.info(
        "InfoWGAN-GP at %d generator updates: %d of %d categories in use on real cells, "
        "Q recovers c from generated cells %.3f (chance %.3f)%s",
        step, row["categories_in_use"], k, row["q_recovery"], 1 / k, scored,
    )  # fmt: skip
    if row["categories_in_use"] < k:
        logging.warning(
            "InfoWGAN-GP categories collapsed at %d generator updates: Q gives %d of its %d "
            "categories to real cells (shares %s); a longer run (config key train.epochs) may help",
            step, row["categories_in_use"], k, row["category_shares"],
        )  # fmt: skip


def criterion_value(row: dict, criterion: str) -> float:
    """How good the evaluation point `row` is by `criterion` (higher is better; not for
    "last"). "in_use_recovery" orders by categories in use, then `q_recovery`."""
    if criterion == "in_use_recovery":
        return row["categories_in_use"] + row["q_recovery"] / 2  # q_recovery / 2 < 1
    return float(row[criterion])


def choose(rows, criterion: str) -> dict:
    """The evaluation point `Selector` keeps among `rows` (in step order): the last one for
    "last", the averaged Q's diagnostic at the last one for "average" (KeyError when the
    run kept no average), else the best by `criterion`, the latest among equals."""
    if criterion == "last":
        return rows[-1]
    if criterion == "average":
        return {"step": rows[-1]["step"], **rows[-1][AVERAGE]}
    return max(reversed(rows), key=lambda r: criterion_value(r, criterion))


class Selector:
    """Keeps the model's weights at the best evaluation point by `criterion` (one of
    `CRITERIA`), saved under `workdir/selected/` on the chief, so a resumed run keeps its
    choice.

    Args:
      model: the trained model.
      criterion: one of `CRITERIA`.
      workdir: the run's folder.
      chief: whether this worker writes files.
    """

    def __init__(self, model, criterion: str, workdir: str, chief: bool = True):
        if criterion not in CRITERIA:
            raise ValueError(f"criterion={criterion!r}: expected one of {CRITERIA}")
        self.model, self.criterion, self.chief = model, criterion, chief
        self.folder = os.path.join(workdir, SELECTED)
        self.point = None
        path = os.path.join(self.folder, "point.json")
        if criterion != "last" and os.path.exists(path):
            with open(path) as f:
                self.point = json.load(f)

    def offer(self, row: dict, step: int) -> bool:
        """Records the point `row` at `step`; True when it is the new choice."""
        if self.criterion in ("last", "average"):
            return False
        value = criterion_value(row, self.criterion)
        if self.point is not None and value < self.point["value"]:
            return False
        self.point = {"step": int(step), "value": float(value), "criterion": self.criterion}
        if self.chief:
            os.makedirs(self.folder, exist_ok=True)
            self.model.save_weights(os.path.join(self.folder, "model.weights.h5"))
            with open(os.path.join(self.folder, "point.json"), "w") as f:
                json.dump(self.point, f)
        return True

    def restore(self, last_step: int) -> dict:
        """Loads the chosen weights (nothing for "last" or "average": `WeightAverage.apply`
        does that) and returns {"criterion", "step", "value"} of the chosen point."""
        if self.criterion in ("last", "average") or self.point is None:
            return {"criterion": self.criterion, "step": int(last_step)}
        self.model.load_weights(os.path.join(self.folder, "model.weights.h5"))
        logging.info(
            "InfoWGAN-GP: the weights at %d generator updates (%s %.3f, the best point) "
            "are evaluated and saved", self.point["step"], self.criterion, self.point["value"],
        )  # fmt: skip
        return dict(self.point)


class WeightAverage:
    """The critic's weights (its trunk, D's and Q's heads) at the last `points` evaluation
    points, and Q with their mean: a Polyak-style average that damps the swing of Q's
    clustering from one point to the next. Kept in `workdir/average/snapshots.npz` on the
    chief, so a resumed run averages the same points (snapshots at or after a replayed
    step are replaced).

    Args:
      model: an `InfoWGANGP`.
      points: how many evaluation points are averaged (≥ 1).
      workdir: the run's folder.
      chief: whether this worker writes files.

    Examples:
      >>> average = WeightAverage(model, points=5, workdir="runs/infogan")
      >>> average.add(step=40)
      >>> row["average"] = average.evaluate(lambda: diagnose(model, cells, codes=codes))
    """

    def __init__(self, model, points: int, workdir: str, chief: bool = True):
        if points < 1:
            raise ValueError(f"points={points}: need at least 1")
        self.critic, self.points, self.chief = model.critic, points, chief
        self.path = os.path.join(workdir, AVERAGE, "snapshots.npz")
        self.steps, self.snapshots = [], []
        if os.path.exists(self.path):
            with np.load(self.path) as saved:
                self.steps = [int(s) for s in saved["steps"]]
                count = len(self.critic.weights)
                self.snapshots = [
                    [saved[f"s{n}_{w}"] for w in range(count)] for n in range(len(self.steps))
                ]

    def add(self, step: int) -> None:
        """Snapshots the critic at `step`, keeping the last `points` snapshots."""
        kept = [(s, w) for s, w in zip(self.steps, self.snapshots) if s < step]
        kept.append((int(step), [np.array(v) for v in self.critic.get_weights()]))
        kept = kept[-self.points :]
        self.steps, self.snapshots = [s for s, _ in kept], [w for _, w in kept]
        if self.chief:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            arrays = {f"s{n}_{w}": a for n, snap in enumerate(self.snapshots)
                      for w, a in enumerate(snap)}  # fmt: skip
            np.savez(self.path, steps=np.asarray(self.steps), **arrays)

    def mean(self) -> list:
        """The mean of the kept snapshots, one array per critic weight."""
        return [np.mean(np.stack(group), axis=0) for group in zip(*self.snapshots)]

    def evaluate(self, measure):
        """`measure()` with the averaged critic in place, the live weights restored after."""
        live = self.critic.get_weights()
        self.critic.set_weights(self.mean())
        try:
            return measure()
        finally:
            self.critic.set_weights(live)

    def apply(self) -> dict:
        """Puts the averaged critic in place for good; {"criterion", "step", "points"}."""
        self.critic.set_weights(self.mean())
        logging.info(
            "InfoWGAN-GP: the critic's weights averaged over the points at %s generator "
            "updates are evaluated and saved", ", ".join(map(str, self.steps)),
        )  # fmt: skip
        return {"criterion": "average", "step": self.steps[-1], "points": list(self.steps)}
