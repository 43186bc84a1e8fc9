"""The resumable work of one slide translation: `OUT.tif.parts/` next to the output.

`meta.json` (the settings the parts belong to), `statistics/<row>_<col>.npy` (a window's
instance-norm moments, pass 1 of kernelised normalisation) gathered into `statistics.npy`
once all exist, and `windows/<row>_<col>.npy` (a window's generator output, float16 in
[-1, 1]). Every file is written to a temporary name and renamed, so a killed run leaves
only whole files and the rerun computes only the missing ones. The folder is removed once
the output is written.
"""

import collections
import os
import shutil

import numpy as np

from kerasg2c import json_files
from kerasg2c.errors import UserError

KINDS = ("statistics", "windows")


class Parts:
    """The parts folder of `output`, for the settings `meta` (a JSON-able dict)."""

    def __init__(self, output: str, meta: dict):
        self.folder = output + ".parts"
        meta_path = os.path.join(self.folder, "meta.json")
        if os.path.exists(meta_path):
            found = json_files.read_object(meta_path)
            if found != meta:
                raise UserError(
                    f"{self.folder} holds windows of another translation ({found}); "
                    "remove it to start again"
                )
        else:
            for kind in KINDS:
                os.makedirs(os.path.join(self.folder, kind), exist_ok=True)
            json_files.write(meta_path, meta)
        self._open = collections.OrderedDict()

    def path(self, kind: str, row: int, col: int) -> str:
        return os.path.join(self.folder, kind, f"{row}_{col}.npy")

    def missing(self, kind: str, windows) -> list:
        """The (row, col) of `windows` without a finished file of `kind`."""
        return [w for w in windows if not os.path.exists(self.path(kind, *w))]

    def save(self, kind: str, row: int, col: int, array: np.ndarray) -> None:
        _write(self.path(kind, row, col), lambda f: np.save(f, array))

    def window(self, row: int, col: int) -> np.ndarray:
        """A window's output as a memory map (the last 64 kept open)."""
        key = (row, col)
        if key not in self._open:
            self._open[key] = np.load(self.path("windows", row, col), mmap_mode="r")
            if len(self._open) > 64:
                self._open.popitem(last=False)
        self._open.move_to_end(key)
        return self._open[key]

    def statistics_grid(self, shape, skip=frozenset()) -> np.ndarray:
        """The per-window moments [rows, cols, D] as a memory map: `statistics.npy`,
        gathered from the per-window files the first time (then those are removed); the
        windows in `skip` (never recorded) are NaN."""
        path = os.path.join(self.folder, "statistics.npy")
        if not os.path.exists(path):
            rows, cols = shape
            recorded = [(r, c) for r in range(rows) for c in range(cols) if (r, c) not in skip]
            first = np.load(self.path("statistics", *recorded[0]))
            tmp = path + ".tmp"
            grid = np.lib.format.open_memmap(tmp, "w+", np.float32, (rows, cols, first.size))
            for row in range(rows):
                for col in range(cols):
                    if (row, col) in skip:
                        grid[row, col] = np.nan
                    else:
                        grid[row, col] = np.load(self.path("statistics", row, col))
            grid.flush()
            del grid
            os.replace(tmp, path)
            shutil.rmtree(os.path.join(self.folder, "statistics"))
        return np.load(path, mmap_mode="r")

    def has_statistics_grid(self) -> bool:
        return os.path.exists(os.path.join(self.folder, "statistics.npy"))

    def remove(self) -> None:
        self._open.clear()
        shutil.rmtree(self.folder)


def _write(path, write) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)
