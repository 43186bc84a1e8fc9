"""Generator stages shared between runs: a stage trained once for its settings and data.

G2C runs that differ only in what the classifier sees (the labelled patients, the variant's
attention, the classifier's schedule) train the same generators. With `g2c.stage_cache` set,
a stage's workdir is `<cache>/<stage>-<key>/` instead of `<workdir>/<stage>/`, where the key
is a digest of everything the generators depend on: the stage's config (its workdir and data
root aside; the stains and seed are in it), and the data (the phantoms' settings and seed,
the `data.root` path, or the `data.tfds` name). The first run trains there; every later
one finds the generators and loads them. A lock file makes a second run on the same machine
wait for the first instead of training the same stage beside it (the lock is `fcntl`'s: one
machine, not a cluster's shared disk; multi-worker runs are refused the cache).

The Ki-67 evaluation shares its MIL stages and its raw CycleGAN the same way
(`ki67.stage_cache`). The cache trusts that a `data.root` folder's content does not change
under the same path.
"""

import contextlib
import fcntl
import hashlib
import json
import os

from absl import logging

from kerasg2c.errors import UserError


def folder(cache: str, name: str, stage_config, data_config, seed: int) -> str:
    """The stage's workdir in `cache`: `<cache>/<name>-<12 hex digits>`.

    Args:
      cache: the cache folder (`g2c.stage_cache`).
      name: the stage's name ("cyclegan", "supervised").
      stage_config: its ConfigDict, as the stage will run it.
      data_config: the run's `data` ConfigDict (its root or its phantoms' settings).
      seed: the run's seed (phantoms are drawn from it).
    """
    stage = stage_config.to_dict()
    stage.pop("workdir", None)
    stage.get("data", {}).pop("root", None)  # the run's own copy of the same data
    if data_config.tfds:
        data = {"tfds": data_config.tfds, "seed": seed}
    elif data_config.root:
        data = {"root": os.path.abspath(data_config.root)}
    else:
        data = {"phantoms": data_config.phantoms.to_dict(), "seed": seed}
    text = json.dumps({"stage": stage, "data": data}, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return os.path.join(os.path.abspath(cache), f"{name}-{digest}")


def refuse_multi_worker(strategy, key: str) -> None:
    """Refuses the cache (config key `key`) in a multi-worker run: its workers train a stage
    together, and the cache's lock would make one wait for the other."""
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        raise UserError(
            f"config key {key}: not in a multi-worker run (its workers train a stage "
            "together; the cache would make one wait for the other); leave it ''"
        )


@contextlib.contextmanager
def locked(stage_dir: str):
    """Holds `<stage_dir>.lock` (created if needed) while the block runs; waits for a run
    that holds it."""
    os.makedirs(os.path.dirname(stage_dir), exist_ok=True)
    with open(stage_dir + ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logging.info("waiting for another run training the stage in %s", stage_dir)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
