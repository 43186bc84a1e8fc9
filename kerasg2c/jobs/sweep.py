"""Seed/variant sweeps: the grid (every --vary value combination × every seed, `sweep_grid`),
one trainer subprocess per cell in its own workdir, resumable; the launcher is
`python -m kerasg2c.tools.sweep` and `kerasg2c.evaluation.sweep_table` summarises the reports.

A cell is done when its workdir holds a report.json with "metrics"; a rerun skips it. A cell
that failed or was interrupted is run again (the trainer resumes from its checkpoint).
"""

import os
import subprocess
import sys
import threading
import time
from concurrent import futures

from kerasg2c import json_files
from kerasg2c.errors import UserError
from kerasg2c.jobs.sweep_grid import Cell, Grid


def load_grid(out: str) -> Grid:
    """The grid recorded in `<out>/sweep.json`."""
    path = os.path.join(out, "sweep.json")
    if not os.path.isfile(path):
        raise UserError(f"--out: no {path} (not a sweep folder)")
    return Grid.from_json(json_files.read_object(path))


def check_grid(grid: Grid, out: str) -> bool:
    """Whether `<out>/sweep.json` exists; UserError when it describes another grid."""
    if not os.path.isfile(os.path.join(out, "sweep.json")):
        return False
    recorded = load_grid(out)
    if recorded != grid:
        raise UserError(
            f"--out: {out} holds another sweep ({recorded.to_json()}); "
            "repeat its flags to resume it, or pass a fresh --out"
        )
    return True


def record_grid(grid: Grid, out: str) -> None:
    """Writes `<out>/sweep.json` unless it is there already, describing the same grid."""
    if not check_grid(grid, out):
        os.makedirs(out, exist_ok=True)
        json_files.write(os.path.join(out, "sweep.json"), grid.to_json(), indent=2)


def is_done(workdir: str) -> bool:
    """Whether the run in `workdir` finished: its report.json has "metrics"."""
    try:
        json_files.load_report(workdir)
    except UserError:
        return False
    return True


def finished_reports(grid: Grid, out: str):
    """Yields (cell, report) for every cell of `grid` whose run in `out` finished."""
    for cell in grid.cells():
        try:
            yield cell, json_files.load_report(os.path.join(out, cell.name))[1]
        except UserError:  # not finished
            continue


def _last_line(path: str) -> str:
    """'\n  <the log's last non-empty line>' (the trainer's one-line error), or ''."""
    with open(path, errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    return f"\n  {lines[-1]}" if lines and not lines[-1].startswith("=== ") else ""


def run_sweep(grid: Grid, out: str, parallel: int = 1, launcher=None) -> list[Cell]:
    """Runs every cell not done yet, `parallel` at a time; returns the cells that failed.

    `launcher` is the command prefix of one run (default `python -m <grid.trainer>`); the
    trainer arguments follow it, its output goes to `<out>/<cell>/sweep.log`.
    """
    launcher = launcher or [sys.executable, "-m", grid.trainer]
    cells = grid.cells()
    failed, lock = [], threading.Lock()

    def say(i, cell, text):
        with lock:
            print(f"[{i}/{len(cells)}] {cell.label} ... {text}", flush=True)

    def run(i, cell):
        workdir = os.path.join(out, cell.name)
        if is_done(workdir):
            return say(i, cell, "skip (done)")
        os.makedirs(workdir, exist_ok=True)
        command = [*launcher, *grid.trainer_args(cell, workdir)]
        log_path = os.path.join(workdir, "sweep.log")
        say(i, cell, "running")
        start = time.monotonic()
        with open(log_path, "a") as log:
            log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
            log.flush()
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
        seconds = round(time.monotonic() - start)
        if code == 0 and is_done(workdir):
            return say(i, cell, f"done in {seconds} s")
        with lock:
            failed.append(cell)
        reason = f"exit {code}" if code else "no report.json with metrics"
        say(i, cell, f"FAILED ({reason}) after {seconds} s; log: {log_path}{_last_line(log_path)}")

    pool = futures.ThreadPoolExecutor(max_workers=parallel)
    try:
        for f in [pool.submit(run, i, cell) for i, cell in enumerate(cells, 1)]:
            f.result()
    finally:  # After Ctrl-C (a terminal's reaches the runs too): start no more runs.
        pool.shutdown(cancel_futures=True)
    return [c for c in cells if c in failed]


def summarize(grid: Grid, out: str, split: str, baseline, command: str) -> list[str]:
    """Summarises the finished cells into `out` (`sweep_table.write_summary`); returns the
    paths written."""
    from kerasg2c.evaluation import sweep_table  # matplotlib only for the summary

    reports = {(cell.variant, cell.seed): r for cell, r in finished_reports(grid, out)}
    summary = sweep_table.summarize(grid.variants(), grid.seeds, reports, split, baseline)
    return sweep_table.write_summary(summary, out, command)


def run_cli(work) -> int:
    """The exit codes and messages every sweep launcher shares. `work()` runs and summarises
    the sweep and returns (paths written, lines to print after them, failed cells, number
    of cells). 0: every run finished; 1: a run failed (the rest are summarised); 2: a config
    value cannot be used (one line); 130: Ctrl-C (no further runs start)."""
    try:
        paths, lines, failed, total = work()
    except UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    print(f"wrote {', '.join(paths)}")
    for line in lines:
        print(line)
    if failed:
        print(f"{len(failed)} of {total} runs failed; rerun the command to retry them")
        return 1
    return 0
