"""Two-step classification as in the G2C papers (arXiv G2C §4.1 Dataset and Settings and
§4.2 Level-2 Classification; AAAI G2C §Experimental Results): the first task (s-vs-noa) on
every patch, the second (ss-vs-gs) on the patches the first routed to the group it refines.

  * The combined outcome: a patch the first model puts in the refined group gets the second
    model's class, any other patch its group's single class (see `kerasg2c.data.tasks`).
  * The second task as the papers report it: on the patches of the refined group that the
    first model classified correctly.
"""

import numpy as np

from kerasg2c.evaluation import classification


def combine(first_predicted, second_predicted, first_groups: dict, refined: str) -> list:
    """The class of each patch: the second model's where the first said `refined`, else the
    one class of the group the first model chose."""
    return [
        second if first == refined else first_groups[first][0]
        for first, second in zip(first_predicted, second_predicted)
    ]


def hierarchical_metrics(
    first_rows: dict,
    second_rows: dict,
    classes,
    first_groups: dict,
    second_groups: dict,
    refined: str,
) -> dict:
    """Metrics of the two-step classification over the patches both prediction tables hold.

    Args:
      first_rows, second_rows: `prediction_table.read_predictions` of the two task runs over
        the same split, every patch with its original class in "label" (the runs'
        `predictions_*_all.csv`).
      classes: the dataset's classes (index order of the combined metrics).
      first_groups, second_groups: the tasks' {group: [class, ...]}.
      refined: the group of the first task the second one splits.

    Returns:
      {"combined": metrics over `classes`, "second_on_routed": metrics of the second task on
      the refined group's patches the first model got right (None if there are none),
      "routed": how many those are}.
    """
    paths = sorted(set(first_rows) & set(second_rows))
    if not paths:
        raise ValueError("the two prediction tables share no patch")
    labels = [first_rows[p]["label"] for p in paths]
    patients = [first_rows[p]["patient"] for p in paths]
    first = [first_rows[p]["predicted"] for p in paths]
    second = [second_rows[p]["predicted"] for p in paths]
    index = {c: i for i, c in enumerate(classes)}
    combined = combine(first, second, first_groups, refined)
    result = {
        "combined": classification.classification_metrics(
            [index[c] for c in labels], [index[c] for c in combined], classes, patients
        )
    }
    members = set(first_groups[refined])
    routed = [i for i, (c, f) in enumerate(zip(labels, first)) if c in members and f == refined]
    group_of = {c: g for g, cs in second_groups.items() for c in cs}
    second_classes = list(second_groups)
    g_index = {g: i for i, g in enumerate(second_classes)}
    result["routed"] = len(routed)
    result["second_on_routed"] = (
        classification.classification_metrics(
            np.array([g_index[group_of[labels[i]]] for i in routed], int),
            np.array([g_index[second[i]] for i in routed], int),
            second_classes,
            [patients[i] for i in routed],
        )
        if routed
        else None  # the first model routed none of them correctly
    )
    return result
