"""Seed/variant sweeps: the grid (every --vary value combination × every seed), one
trainer subprocess per cell in its own workdir, resumable; the launcher is
`python -m kerasg2c.tools.sweep` and `kerasg2c.evaluation.sweep_table` summarises the reports.

A cell is done when its workdir holds a report.json with "metrics"; a rerun skips it. A cell
that failed or was interrupted is run again (the trainer resumes from its checkpoint).
"""

import dataclasses
import importlib.util
import itertools
import os
import pkgutil
import re
import subprocess
import sys
import threading
import time
from concurrent import futures

from kerasg2c import json_files
from kerasg2c.errors import UserError

# Config keys the sweep sets itself for every cell.
_RESERVED = ("seed", "workdir")
# Keys that vary together: --vary=variant:g2c.stain_source=PAS_ONLY:generated,PAS_ALL:paired
LINK = ":"
# Modules under trainers/ that are not trainers: old names kept for one release, and the
# launcher that itself runs a grid.
_NOT_TRAINERS = ("sweep", "infogan", "infogan_map", "infowgan_map")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One run: a value of each --vary key, (key, value) in --vary order, and a seed."""

    variant: tuple[tuple[str, str], ...]
    seed: int

    @property
    def name(self) -> str:
        """Its folder: 'variant-PAS_ONLY__seed-0' (characters other than [A-Za-z0-9._+-]
        become '_')."""
        parts = [f"{k}-{v}" for k, v in self.variant] + [f"seed-{self.seed}"]
        return _UNSAFE.sub("_", "__".join(parts))

    @property
    def label(self) -> str:
        """'variant=PAS_ONLY seed=0'."""
        return " ".join([f"{k}={v}" for k, v in self.variant] + [f"seed={self.seed}"])


@dataclasses.dataclass(frozen=True)
class Grid:
    """What `<out>/sweep.json` records: a rerun into the same --out must match it."""

    trainer: str  # the module run with `python -m`
    config: str
    vary: tuple[tuple[str, tuple[str, ...]], ...]
    seeds: tuple[int, ...]
    sets: tuple[tuple[str, str], ...] = ()

    def variants(self) -> list[tuple[tuple[str, str], ...]]:
        """Every combination of the --vary values, the first key slowest."""
        keys = [k for k, _ in self.vary]
        return [
            tuple(zip(keys, values)) for values in itertools.product(*(v for _, v in self.vary))
        ]

    def cells(self) -> list[Cell]:
        """Seed by seed, so an interrupted sweep already has every variant at its first seeds."""
        return [Cell(variant, seed) for seed in self.seeds for variant in self.variants()]

    def trainer_args(self, cell: Cell, workdir: str) -> list[str]:
        """The trainer's command-line arguments for `cell`."""
        overrides = [
            ("seed", str(cell.seed)),
            ("workdir", workdir),
            *(pair for k, v in cell.variant for pair in linked(k, v)),
            *self.sets,
        ]
        return [f"--config={self.config}", *(f"--config.{k}={v}" for k, v in overrides)]

    def baseline(self, spec: str | None) -> tuple[str, str] | None:
        """--baseline=key=value as (key, value); default the first value of the first --vary."""
        if spec is None:
            return (self.vary[0][0], self.vary[0][1][0]) if self.vary else None
        key, _, value = spec.partition("=")
        values = dict(self.vary).get(key)
        if values is None or value not in values:
            choices = ", ".join(f"{k}={v}" for k, vs in self.vary for v in vs) or "none: no --vary"
            raise UserError(f"--baseline: expected one --vary key=value ({choices}), got {spec!r}")
        return key, value

    def to_json(self) -> dict:
        return {
            "trainer": self.trainer,
            "config": self.config,
            "vary": [[k, list(v)] for k, v in self.vary],
            "seeds": list(self.seeds),
            "sets": [list(s) for s in self.sets],
        }

    @classmethod
    def from_json(cls, d: dict) -> "Grid":
        return cls(
            trainer=d["trainer"],
            config=d["config"],
            vary=tuple((k, tuple(v)) for k, v in d["vary"]),
            seeds=tuple(d["seeds"]),
            sets=tuple((k, v) for k, v in d["sets"]),
        )


def _key_value(spec: str, flag: str, expected: str) -> tuple[str, str]:
    key, sep, value = spec.partition("=")
    key = key.strip()
    if not sep or not key or not value:
        raise UserError(f"{flag}: expected {expected}, got {spec!r}")
    if set(key.split(LINK)) & set(_RESERVED):
        raise UserError(f"{flag}: the sweep sets {key} itself (use --seeds and --out)")
    return key, value


def linked(key: str, value: str) -> list[tuple[str, str]]:
    """The config overrides of one --vary value: [(key, value)], or for linked keys
    'k1:k2' with value 'a:b', [(k1, a), (k2, b)]."""
    return list(zip(key.split(LINK), value.split(LINK)))


def parse_vary(specs) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """--vary=key=v1,v2 flags as ((key, (v1, v2)), ...); linked keys 'k1:k2=a1:b1,a2:b2'
    vary together (one value of each per row)."""
    vary = []
    for spec in specs:
        key, raw = _key_value(spec, "--vary", "key=v1,v2")
        values = tuple(raw.split(","))
        if "" in values or len(set(values)) != len(values):
            raise UserError(
                f"--vary: expected key=v1,v2 with distinct non-empty values, got {spec!r}"
            )
        width = len(key.split(LINK))
        if "" in key.split(LINK) or any(len(v.split(LINK)) != width for v in values):
            raise UserError(
                f"--vary: linked keys k1:k2 need values a:b with one part per key, got {spec!r}"
            )
        if key in dict(vary):
            raise UserError(f"--vary: {key} is given twice")
        vary.append((key, values))
    return tuple(vary)


def parse_seeds(text: str) -> tuple[int, ...]:
    """--seeds=0,1,2 as (0, 1, 2)."""
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise UserError(f"--seeds: expected integers like 0,1,2, got {text!r}") from None
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UserError(f"--seeds: expected distinct integers >= 0, got {text!r}")
    return seeds


def trainer_module(name: str | None, config: str) -> str:
    """The module `--trainer` names: trainers.<name>, or any dotted module path; without
    --trainer, trainers.<the config file's stem> when there is one."""
    # Found, not imported: the library never imports its launchers.
    spec = importlib.util.find_spec("trainers")
    places = spec.submodule_search_locations if spec else []
    known = sorted(m.name for m in pkgutil.iter_modules(places) if m.name not in _NOT_TRAINERS)
    if name is None:
        stem = os.path.splitext(os.path.basename(config))[0]
        if stem not in known:
            raise UserError(
                f"--trainer: no trainers.{stem} for --config={config}; name one of {known}"
            )
        name = stem
    module = name if "." in name else f"trainers.{name}"
    try:
        found = (
            module.rpartition(".")[2] not in _NOT_TRAINERS
            and importlib.util.find_spec(module) is not None
        )
    except ModuleNotFoundError:  # its package does not exist
        found = False
    if not found:
        raise UserError(f"--trainer: no trainer module {module} (trainers: {known})")
    return module


def make_grid(trainer, config, vary_specs, seeds, set_specs) -> Grid:
    """The grid from the flags' values, each checked (UserError naming the flag)."""
    if not config:
        raise UserError("--config: required (the trainer's config file)")
    if not os.path.isfile(config):
        raise UserError(f"--config: no such file {config}")
    vary = parse_vary(vary_specs)
    sets = tuple(_key_value(s, "--set", "key=value") for s in set_specs)
    varied = {k for key, _ in vary for k in key.split(LINK)}
    for key, _ in sets:
        if key in varied:
            raise UserError(f"--set: {key} is also a --vary key")
    grid = Grid(
        trainer_module(trainer, config), os.path.normpath(config), vary, parse_seeds(seeds), sets
    )
    names = [c.name for c in grid.cells()]
    if len(set(names)) != len(names):
        raise UserError("--vary: two values give the same folder name; rename them")
    return grid


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

    reports = {}
    for cell in grid.cells():
        try:
            reports[cell.variant, cell.seed] = json_files.load_report(os.path.join(out, cell.name))[
                1
            ]
        except UserError:  # not finished
            continue
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
