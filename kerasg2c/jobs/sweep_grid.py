"""The grid of a seed/variant sweep: every --vary value combination × every seed.

`make_grid` checks the launcher's flags (--trainer, --config, --vary, --seeds, --set) and
returns a `Grid`, what `<out>/sweep.json` records; each `Cell` (one variant at one seed)
has its folder name and its trainer arguments. Running the cells is `sweep`'s.
"""

import dataclasses
import importlib.util
import itertools
import os
import pkgutil
import re

from kerasg2c.errors import UserError

# Config keys the sweep sets itself for every cell.
_RESERVED = ("seed", "workdir")
# Keys that vary together: --vary=variant:g2c.stain_source=PAS_ONLY:generated,PAS_ALL:paired
LINK = ":"
# Modules under trainers/ that are not trainers: old names kept for one release, and the
# launchers that themselves run a grid (the maps, trainers/*_map.py).
_NOT_TRAINERS = ("sweep", "infogan")


def _is_trainer(name: str) -> bool:
    return name not in _NOT_TRAINERS and not name.endswith("_map")


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
    known = sorted(m.name for m in pkgutil.iter_modules(places) if _is_trainer(m.name))
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
            _is_trainer(module.rpartition(".")[2]) and importlib.util.find_spec(module) is not None
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
