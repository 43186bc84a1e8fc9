"""The slide analyses' networks on a Triton server instead of in this process.

`kerasg2c slide-cells` and `kerasg2c slide-mil` take `--triton_url` and `--triton_model`: a
run exported by `serving.export` and served by Triton answers each batch, with several
requests in flight (one client per request in flight; HTTP or gRPC). Only tritonclient is
needed on this machine: neither these functions nor the slide analyses import TensorFlow.

- `categoriser`: an exported InfoWGAN-GP (output `category_probabilities`): uint8 crops of
  the run's image size in, Q(c | x) out.
- `block_scorer`: an exported top-1 MIL run (output `instance_scores`): tiles of the run's
  image size in, each instance's tumour probability out; a slide block is one such tile.

Examples:

    categorise, k, size = slide_models.categoriser("127.0.0.1:8000", "cells_q_python")
    score_blocks, instance, block = slide_models.block_scorer("127.0.0.1:8001", "mil_python",
                                                              protocol="grpc")
"""

import concurrent.futures
import math
import threading

import numpy as np

from serving import client as triton_client


class _Pool:
    """Requests to one model from `in_flight` worker threads, each with its own client
    (tritonclient's HTTP client belongs to the thread that made it); `map(images, output)`
    sends them in chunks of the model's max batch size, answers in order."""

    def __init__(self, url, model, protocol, in_flight):
        with triton_client.Client(url, model, protocol) as first:  # checks model, reads config
            self.outputs, self.metadata = first.outputs, first.metadata
            self.max_batch_size = max(1, first.max_batch_size)
        local = threading.local()

        def connect():
            local.client = triton_client.Client(url, model, protocol)

        self._local = local
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max(1, in_flight), initializer=connect
        )

    def _call(self, images, output):
        return self._local.client.infer(images)[output]

    def map(self, images, output) -> np.ndarray:
        size = self.max_batch_size
        chunks = [images[s : s + size] for s in range(0, len(images), size)]
        return np.concatenate(list(self.executor.map(self._call, chunks, [output] * len(chunks))))


def _pool(url, model, protocol, in_flight, output) -> _Pool:
    pool = _Pool(url, model, protocol, in_flight)
    if output not in pool.outputs:
        raise triton_client.ServingError(
            f"model {model!r} on {url} has no output {output!r} (its outputs: "
            f"{pool.outputs}); export the right run with serving.export"
        )
    return pool


def categoriser(url, model, *, protocol="http", in_flight=4):
    """(categorise, categories, image_size) of a served InfoWGAN-GP.

    `categorise(crops)`: float32 [N, S, S, 3] in [0, 1] (uint8 levels, as the slide
    analysis makes them) -> float32 [N, categories].
    """
    pool = _pool(url, model, protocol, in_flight, "category_probabilities")
    size = int(pool.metadata.get("image_size", 32))
    probe = pool.map(np.full((1, size, size, 3), 255, np.uint8), "category_probabilities")

    def categorise(crops):
        levels = np.round(np.asarray(crops) * 255.0).astype(np.uint8)
        return pool.map(levels, "category_probabilities").astype(np.float32)

    return categorise, int(probe.shape[1]), size


def block_scorer(url, model, *, protocol="http", in_flight=4):
    """(score_blocks, instance_size, block) of a served top-1 MIL run: `score_blocks`
    takes uint8 tiles [B, block, block, 3] (block = the run's image size) and returns
    float32 [B, g, g]."""
    pool = _pool(url, model, protocol, in_flight, "instance_scores")
    block = int(pool.metadata.get("image_size", 256))
    probe = pool.map(np.full((1, block, block, 3), 255, np.uint8), "instance_scores")
    g = math.isqrt(probe.shape[1])
    if g * g != probe.shape[1] or block % g:
        raise triton_client.ServingError(f"model {model!r}: {probe.shape[1]} instances per tile")

    def score_blocks(blocks):
        scores = pool.map(np.asarray(blocks, np.uint8), "instance_scores")
        return scores.reshape(len(blocks), g, g).astype(np.float32)

    return score_blocks, block // g, block
