"""What the Ki-67 evaluation's conditional CycleGAN is told about each patch
(`ki67.condition_source`), and which of its stages runs may share (`ki67.stage_cache`).

The IHC paper conditions the CycleGAN on the class a MIL classifier gives each patch
(`mil`, the default). The conditional CycleGAN map (docs/RESULTS.md) also gives it the true
tile classes (`true`: the best a classifier could give) and the true classes shuffled
within each split and stain (`shuffled`: the same class mix, no information about the
patch; the control). The condition is used where the MIL classes were: the relabelled view
the conditional CycleGAN trains on, and the classes it translates with.
"""

import numpy as np

CONDITION_SOURCES = ("mil", "true", "shuffled")
# The stages that do not depend on the condition: with ki67.stage_cache, runs of the same
# data and seed share them (the conditional CycleGAN is always the run's own).
SHAREABLE = ("mil_HE", "mil_KI67", "cyclegan_raw")


def conditions(source: str, predicted: dict, true: dict, seed: int) -> dict:
    """{stain: {split: int class indices}}: the condition of every patch.

    Args:
      source: one of `CONDITION_SOURCES`.
      predicted: {stain: {split: indices}}, each stain's MIL classes.
      true: {stain: {split: indices}}, the patches' true classes.
      seed: the run's seed (the shuffle's).
    """
    if source == "mil":
        return predicted
    if source == "true":
        return true
    if source != "shuffled":
        raise ValueError(f"source must be one of {CONDITION_SOURCES}, got {source!r}")
    return {
        stain: {
            split: np.random.default_rng([seed, k, j]).permutation(np.asarray(labels))
            for j, (split, labels) in enumerate(sorted(by_split.items()))
        }
        for k, (stain, by_split) in enumerate(sorted(true.items()))
    }
