"""A stand-in trainer for the sweep tests: takes a trainer's flags, writes at once a
report.json whose per-patient accuracies follow from the seed, the variant and `size`.

    python tests/workers/fake_trainer.py --config=FILE --config.seed=1 --config.workdir=DIR
        [--config.variant=PAS_ALL_PLUS] [--config.size=10]

Each call appends a line to WORKDIR/calls.txt; variant BROKEN fails as a trainer does
(one error line, exit 2).
"""

import json
import os
import sys

PATIENTS = [f"p{i}" for i in range(6)]
BONUS = {"PAS_ONLY": 0.0, "PAS_ALL_PLUS": 0.05}


def patient_accuracy(seed: int, variant: str, size: float) -> dict:
    return {
        p: round(
            0.4
            + 0.05 * i
            + BONUS.get(variant, 0.02) * (1 + i % 3) / 2
            + 0.01 * seed * ((7 * i + seed) % 3)
            + 0.001 * size,
            4,
        )
        for i, p in enumerate(PATIENTS)
    }


def main(argv):
    config = dict(
        a.removeprefix("--config.").split("=", 1) for a in argv if a.startswith("--config.")
    )
    workdir = config["workdir"]
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "calls.txt"), "a") as f:
        f.write(" ".join(argv) + "\n")
    variant = config.get("variant", "PAS_ONLY")
    if variant == "BROKEN":
        print("error: config key variant=BROKEN: expected a known variant", file=sys.stderr)
        return 2
    accuracy = patient_accuracy(int(config["seed"]), variant, float(config.get("size", 0)))
    mean = sum(accuracy.values()) / len(accuracy)
    metrics = {
        "accuracy": mean,
        "balanced_accuracy": mean - 0.01,
        "mean_patient_accuracy": mean,
        "per_patient_accuracy": accuracy,
    }
    report = {"trainer": "fake", "variant": variant, "metrics": {"test": metrics}}
    with open(os.path.join(workdir, "report.json"), "w") as f:
        json.dump(report, f)
    print(f"fake run done: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
