"""What the phantom tests compare: the files a writer wrote, the dark nuclei an image
shows, and the overlap of two masks."""

import numpy as np


def written_files(root) -> dict:
    """{path relative to `root`: bytes} of every file under `root` (a pathlib.Path).

    Args:
        root: the folder a writer wrote.
    """
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def dark_nuclei(image: np.ndarray) -> np.ndarray:
    """Haematoxylin-like nuclei absorb red strongly; PAS/H&E matrix and cytoplasm do not.

    Args:
        image: uint8 RGB pixels [..., 3].
    """
    return image[..., 0] < 155


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (0 where both are empty).

    Args:
        a: a boolean mask.
        b: a boolean mask of the same shape.

    Examples:
        >>> float(iou(np.array([1, 1, 0], bool), np.array([0, 1, 1], bool)))
        0.3333333333333333
    """
    return (a & b).sum() / max(1, (a | b).sum())
