"""Triton throughput and latency against in-process Keras on the same inputs.

    python -m benchmarks.serving_load --workdir=runs/g2c [--model=g2c] \
        [--concurrency=1,4,16] [--requests=200] [--protocol=http]

Exports the run's Python-backend variant into a scratch repository, starts the real
tritonserver (`serving.server`) on free loopback ports, and for each concurrency sends a
fixed number of one-image requests from that many threads (a bounded tritonclient load
loop: perf_analyzer is not obtainable here). Dynamic batching merges concurrent requests.
Prints images/s and p50/p99 latency per concurrency, the in-process `model.predict`
images/s on the same images, and `images/s: X` (the best Triton figure) last. Every
answer is checked against Keras; any error or mismatch fails the run.
"""

import concurrent.futures
import os
import tempfile
import threading
import time

import numpy as np
from absl import app, flags

flags.DEFINE_string("workdir", None, "A classifier / G2C run directory (model.keras).")
flags.DEFINE_string("model", "bench", "Model name to export as.")
flags.DEFINE_list("concurrency", ["1", "4", "16"], "Concurrent clients.")
flags.DEFINE_integer("requests", 200, "Requests per concurrency level (one image each).")
flags.DEFINE_enum("protocol", "http", ["http", "grpc"], "tritonclient protocol.")
flags.DEFINE_integer("timeout", 300, "Seconds allowed per concurrency level.")
FLAGS = flags.FLAGS


def _load(url, model, images, concurrency, requests, timeout):
    """(seconds, latencies [s], outputs) of `requests` one-image requests from
    `concurrency` threads; raises on any failed request or on timeout."""
    from serving.client import Client

    ready = threading.Barrier(concurrency + 1, timeout=timeout)

    def worker(k):
        # One client per thread, made in it: tritonclient.http runs on gevent, whose
        # connections cannot move between threads. The clock starts once all are made.
        client, latencies, outputs = Client(url, model, FLAGS.protocol), [], {}
        ready.wait()
        for i in range(k, requests, concurrency):
            start = time.perf_counter()
            outputs[i] = client.infer(images[i % len(images)][None])["probabilities"][0]
            latencies.append(time.perf_counter() - start)
        return latencies, outputs

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(worker, k) for k in range(concurrency)]
        ready.wait()
        start = time.perf_counter()
        results = [f.result(timeout=timeout) for f in futures]
    seconds = time.perf_counter() - start
    latencies = np.concatenate([r[0] for r in results])
    outputs = {i: p for r in results for i, p in r[1].items()}
    return seconds, latencies, outputs


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    from serving import export
    from serving.server import TritonServer, free_ports

    if not FLAGS.workdir:
        raise app.UsageError("--workdir is required")
    exportable = export.find_exportables(FLAGS.workdir, FLAGS.model)[0]
    size = exportable.image_size
    height, width = (size, size) if isinstance(size, int) else size
    images = np.random.default_rng(0).integers(0, 256, (64, height, width, 3), dtype=np.uint8)

    # In-process Keras on the same images (the graph's preprocessing, then predict).
    _, preprocess = export.serving_function(exportable.model, size, "uint8")
    x = preprocess(tf.constant(images)).numpy()
    reference = keras.ops.softmax(exportable.model.predict(x, batch_size=16, verbose=0)).numpy()
    start = time.perf_counter()
    for _ in range(3):
        exportable.model.predict(x, batch_size=16, verbose=0)
    keras_rate = 3 * len(x) / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as repo:
        export.export_model(exportable, repo, formats=("python",))
        name = f"{FLAGS.model}_python"
        http, grpc, metrics = free_ports(3)
        log = os.path.join(repo, "server.log")
        with TritonServer(repo, http, grpc, metrics, log_path=log) as server:
            server.wait_model_ready(name, timeout=120)
            url = server.url(FLAGS.protocol)
            _load(url, name, images, 1, 4, FLAGS.timeout)  # warm-up
            best = 0.0
            for concurrency in [int(c) for c in FLAGS.concurrency]:
                seconds, latencies, outputs = _load(
                    url, name, images, concurrency, FLAGS.requests, FLAGS.timeout
                )
                worst = max(
                    float(np.max(np.abs(p - reference[i % len(images)])))
                    for i, p in outputs.items()
                )
                if len(outputs) != FLAGS.requests or worst > 1e-4:
                    raise RuntimeError(
                        f"concurrency {concurrency}: {len(outputs)}/{FLAGS.requests} answers, "
                        f"max |Triton - Keras| {worst:.3g}"
                    )
                rate = FLAGS.requests / seconds
                best = max(best, rate)
                p50, p99 = np.percentile(latencies, [50, 99]) * 1000
                print(
                    f"triton {FLAGS.protocol} concurrency={concurrency:>2} "
                    f"requests={FLAGS.requests}: {rate:.1f} images/s, p50 {p50:.1f} ms, "
                    f"p99 {p99:.1f} ms, max |Triton - Keras| {worst:.2g}"
                )
    print(f"in-process keras predict (batch 16): {keras_rate:.1f} images/s")
    print(f"images/s: {best:.1f}")


if __name__ == "__main__":
    app.run(main)
