"""The report every job writes: `report.json` in its workdir, stamped with the time.

Keys every report has: "written", "trainer"; a classification report adds "classes",
"data" (`data_summary`), "metrics" per split, "history" and the files it wrote; what
`kerasg2c.tools.compare` and the serving export read from it is documented there.
"""

import os
import time

from kerasg2c import json_files


def data_summary(splits: dict) -> dict:
    """Counts per split (images, patients) and class, and every unreadable file skipped."""
    return {
        name: {
            "n": len(s),
            "patients": len(set(s.patients)),
            "per_class": {c: int((s.labels == i).sum()) for i, c in enumerate(s.classes)},
            "skipped": [{"path": p, "reason": r} for p, r in s.skipped],
        }
        for name, s in splits.items()
    }


def write_report(workdir: str, report: dict) -> str:
    """Writes `workdir/report.json` with the time it was written first; returns its path."""
    path = os.path.join(workdir, "report.json")
    json_files.write(path, {"written": time.strftime("%Y-%m-%dT%H:%M:%S"), **report}, indent=1)
    return path
