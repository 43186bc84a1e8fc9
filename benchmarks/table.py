"""Every benchmark in one markdown table (`make bench`): each runs in its own process, one
after the other (nothing else competing for the cores), and the table gives its images/s,
peak memory, precision and XLA setting, beside the PyTorch peer's images/s where a peer
script exists in `benchmarks/peers/` and PyTorch is installed (`make bench-peers`).

    python -m benchmarks.table --out=runs/bench [--only=cyclegan,histogan] \
        [--settings=graph,bf16,xla,xla_bf16] [--quick] [--nopeers]

Writes `--out`/bench.md (the machine, the versions, the table) and `--out`/logs/ (each run's
output); prints the table. A run that fails is a row saying so, and the rest still run.
--quick runs every benchmark at a tiny size (to check the table itself, not to measure).
Exit codes: 0 every run finished; 1 a run failed; 2 a flag cannot be used.
"""

import dataclasses
import datetime
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from absl import app, flags

# name: (label, --jit_compile, --mixed_precision) of each setting a step benchmark is
# timed in (the names of benchmarks.step_timing.VARIANTS).
SETTINGS = {
    "graph": ("float32", False, ""),
    "bf16": ("bfloat16", False, "mixed_bfloat16"),
    "xla": ("float32 + XLA", True, ""),
    "xla_bf16": ("bfloat16 + XLA", True, "mixed_bfloat16"),
}
_OUT = flags.DEFINE_string("out", "runs/bench", "Folder for bench.md and the logs.")
_ONLY = flags.DEFINE_list("only", [], "Benchmark groups to run (default: every one).")
_QUICK = flags.DEFINE_bool("quick", False, "Tiny sizes: checks the table, measures nothing.")
_SETTINGS = flags.DEFINE_list("settings", list(SETTINGS), "Settings of the step benchmarks.")
_PEERS = flags.DEFINE_bool("peers", True, "Run the PyTorch peers when PyTorch is installed.")
PEER_PRECISION = {"float32": "float32", "bfloat16": "bfloat16"}  # our label → the peer's


@dataclass(frozen=True)
class Entry:
    """One row: `python -m benchmarks.<module> *args`; `peer` the peer module's args."""

    group: str
    work: str
    setting: str
    module: str
    args: tuple
    peer: tuple = ()


def _step_entries(group, work, module, args, peer=None, settings=tuple(SETTINGS)):
    rows = []
    for label, jit, precision in (SETTINGS[name] for name in settings):
        flags_ = (*args, f"--jit_compile={jit}", f"--mixed_precision={precision}")
        peer_args = (*peer, f"--precision={PEER_PRECISION[label]}") if peer and not jit else ()
        rows.append(Entry(group, work, label, module, flags_, peer_args))
    return rows


def entries(quick: bool, settings=tuple(SETTINGS)) -> list:
    """The benchmarks `make bench` runs, at the sizes the README quotes (tiny with quick),
    each step benchmark in each of `settings`."""
    cg = ("--size=32", "--ngf=8", "--blocks=1", "--ndf=8", "--steps=1") if quick else (
        "--size=64", "--ngf=64", "--blocks=9", "--steps=5")  # fmt: skip
    rows = _step_entries(
        "cyclegan", f"CycleGAN training step, batch 1, {_value(cg[0])} px",
        "benchmarks.cyclegan_step", (*cg, "--batch=1"),
        peer=("benchmarks.peers.cyclegan_step_torch", *cg, "--batch=1"), settings=settings,
    )  # fmt: skip
    hg = ("--size=32", "--channels=8", "--batch=2", "--n_critic=1", "--steps=1") if quick else (
        "--size=96", "--channels=64", "--batch=4", "--n_critic=5", "--steps=3")  # fmt: skip
    rows += _step_entries(
        "histogan", f"HistoGAN step (2 stages), {_value(hg[0])} px", "benchmarks.histogan_step",
        (*hg, "--stages=2"), settings=settings,
    )  # fmt: skip
    ig = ("--channels=8", "--batch=4", "--n_critic=1", "--steps=1") if quick else (
        "--channels=128", "--batch=16", "--n_critic=5", "--steps=5")  # fmt: skip
    rows += _step_entries(
        "infowgan",
        f"InfoWGAN-GP iteration, batch {_value(ig[2])}",
        "benchmarks.infowgan_step",
        ig,
        settings=settings,
    )
    tiny = ("--size=32", "--batch=2", "--widths=8,8,8,8", "--stem_width=8", "--steps=1")
    cl = tiny if quick else ("--size=224", "--batch=32", "--steps=10")
    rows += _step_entries(
        "classifier", f"classifier step, batch {_value(cl[1])}, {_value(cl[0])} px",
        "benchmarks.classifier_step", cl, settings=settings,
    )  # fmt: skip
    data = ("--n=16", "--src=64", "--size=32", "--batch=8", "--epochs=2") if quick else ()
    rows.append(Entry("pipeline", "tf.data training pipeline", "", "benchmarks.pipeline", data))
    slide = ("--sizes=256", "--window=128", "--ngf=8", "--n_blocks=1", "--peak_steps=2") if (
        quick) else ("--sizes=2048",)  # fmt: skip
    rows.append(Entry("slides", "whole-slide translation (windows/s)", "float32",
                      "benchmarks.translate_slide", slide))  # fmt: skip
    return rows


def _value(flag: str) -> str:
    return flag.partition("=")[2]


def _last(pattern, text):
    found = re.findall(pattern, text)
    return found[-1] if found else None


def run_entry(entry: Entry, logs: str, index: int) -> dict:
    """Runs the entry (and its peer) in child processes; their figures."""
    result = {"entry": entry}
    for key, command in (("ours", (entry.module, *entry.args)), ("peer", entry.peer)):
        if not command:
            continue
        proc = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True)
        text = proc.stdout + proc.stderr
        name = f"{index:02d}_{entry.group}_{key}.log"
        with open(os.path.join(logs, name), "w") as f:
            f.write(" ".join(command) + "\n\n" + text)
        rate = _last(r"images/s: ([0-9.]+)", proc.stdout)
        result[key] = {
            "rate": float(rate) if proc.returncode == 0 and rate else None,
            "memory": _last(r"peak (?:RSS|GPU memory):? ([0-9]+ MiB)", text),
            "log": name,
        }
    return result


def machine() -> str:
    """CPU model, cores, its bfloat16 flags, the GPU if any, and the versions."""
    from kerasg2c.training import runtime

    model = next(
        (line.partition(":")[2].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        platform.processor(),
    ) if os.path.exists("/proc/cpuinfo") else platform.processor()  # fmt: skip
    bf16 = sorted(runtime.cpu_flags() & set(runtime.BF16_CPU_FLAGS)) or ["no bf16"]
    gpu = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True, text=True,
    ).stdout.strip() if shutil.which("nvidia-smi") else "no GPU"  # fmt: skip
    versions = [f"Python {platform.python_version()}"]
    for package in ("tensorflow", "keras", "torch"):
        try:
            versions.append(f"{package} {__import__(package).__version__}")
        except ImportError:
            pass
    return (f"{model}, {os.cpu_count()} cores ({', '.join(bf16)}), {gpu}; "
            + ", ".join(versions))  # fmt: skip


def format_table(results, header: str) -> str:
    lines = [header, "",
             "| work | precision | images/s | peak memory | PyTorch images/s | ours / PyTorch |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in results:
        e, ours, peer = r["entry"], r.get("ours", {}), r.get("peer")
        rate = f"{ours['rate']:.2f}" if ours.get("rate") else f"failed (logs/{ours.get('log')})"
        peer_rate = f"{peer['rate']:.2f}" if peer and peer.get("rate") else ""
        ratio = f"{ours['rate'] / peer['rate']:.2f}" if peer_rate and ours.get("rate") else ""
        lines.append(f"| {e.work} | {e.setting or '—'} | {rate} | {ours.get('memory') or ''} | "
                     f"{peer_rate} | {ratio} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}", exitcode=2)
    wrong = [name for name in _SETTINGS.value if name not in SETTINGS]
    if wrong:
        raise app.UsageError(f"--settings: {wrong} not among {list(SETTINGS)}", exitcode=2)
    rows = entries(_QUICK.value, _SETTINGS.value)
    groups = sorted({e.group for e in rows})
    unknown = [g for g in _ONLY.value if g not in groups]
    if unknown:
        raise app.UsageError(f"--only: {unknown} not among {groups}", exitcode=2)
    rows = [e for e in rows if not _ONLY.value or e.group in _ONLY.value]
    peers = _PEERS.value and importlib.util.find_spec("torch") is not None
    logs = os.path.join(_OUT.value, "logs")
    os.makedirs(logs, exist_ok=True)
    results = []
    for n, entry in enumerate(rows):
        if not peers:
            entry = dataclasses.replace(entry, peer=())
        print(f"[{n + 1}/{len(rows)}] {entry.work}, {entry.setting or 'default'} ...", flush=True)
        results.append(run_entry(entry, logs, n))
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    header = f"Measured {stamp} on {machine()}." + ("" if peers else " PyTorch peers: not run.")
    table = format_table(results, header)
    with open(os.path.join(_OUT.value, "bench.md"), "w") as f:
        f.write(table)
    print(table)
    return 1 if any(not r["ours"]["rate"] for r in results) else 0


if __name__ == "__main__":
    app.run(main)
