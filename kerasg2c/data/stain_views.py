"""Labeled patches with the same patch in other stains: the stain oracle of G2C.

A DATA_ROOT with `paired/<stain>/<split>/` holds, for each labeled patch, its true
rendering in another stain (the phantoms have them). `with_stain_views` attaches those
files to a labeled split, so that its images become [S, S, 3·(1 + M)]: the patch, then
each stain in order (see `LabeledSplit.views`); G2C with `given_stains=M` reads them in
place of generated stains.
"""

import dataclasses
import os

import numpy as np

from kerasg2c.data import decode, layout
from kerasg2c.data.pipeline import LabeledSplit


def with_stain_views(
    split: LabeledSplit, root, stains, *, strict=False, scan_cache=None, max_pixels=None
) -> LabeledSplit:
    """`split` (read from `root/labeled/<split.name>`) with the `paired/<stain>` file of
    each patch as its views, in the order of `stains`. Patches with an unreadable or too
    large view (`max_pixels`) are left out (logged by the scan; `strict` stops at the
    first).

    Raises:
      MissingPathError: `paired/<stain>/<split>` is missing, or lacks a labeled patch.
    """
    labeled_dir = os.path.join(os.fspath(root), "labeled", split.name)
    all_views = []
    for stain in stains:
        # Raises when the folder, or the twin of any labeled patch, is missing.
        paths, _, _ = layout.list_paired(root, stain, split.name, split.classes)
        paired_dir = os.path.join(os.fspath(root), "paired", stain, split.name)
        twin = {os.path.relpath(p, paired_dir): p for p in paths}
        all_views.append([twin[os.path.relpath(p, labeled_dir)] for p in split.paths])
    per_example = list(zip(*all_views))
    good = set(
        decode.scan_images(
            [v for vs in per_example for v in vs],
            strict=strict,
            cache_path=scan_cache,
            max_pixels=max_pixels,
        ).good
    )
    keep = [i for i, vs in enumerate(per_example) if all(v in good for v in vs)]
    views = tuple(tuple(per_example[i]) for i in keep)
    # source=None: the split builds its image source anew, over the stacked views.
    return dataclasses.replace(split.subset(np.asarray(keep, int)), views=views, source=None)
