"""What every slide analysis command shares: which slides, where, which shard; exit codes.

A slide tool (`kerasg2c slide-ki67`, ...) calls `define_flags()` at import and
`run_from_flags(analysis, analyse)` from its `main`: the slides come from --slide or
--manifest, go through `slides.batch.run` into --out, and the command exits 0 when every
slide of its shard is finished, 1 when some failed (named in the failure list), 2 when a
flag or file cannot be used (one line, nothing run).

Examples:

    slide_jobs.define_flags()

    def main(argv):
        slide_jobs.check_no_arguments(argv)
        return slide_jobs.run_from_flags("ki67", lambda path, folder: {...})
"""

import sys

from absl import app, flags, logging

from kerasg2c.errors import UserError
from kerasg2c.slides import batch


def define_flags():
    """--slide, --manifest, --out, --shard_index, --num_shards."""
    flags.DEFINE_string("slide", None, "One slide to analyse (or give --manifest).")
    flags.DEFINE_string("manifest", None, "CSV of slides: a 'slide' column, optional 'label'.")
    flags.DEFINE_string("out", None, "Output folder: one sub-folder per slide.")
    flags.DEFINE_integer("shard_index", 0, "This process' shard, in [0, --num_shards).")
    flags.DEFINE_integer("num_shards", 1, "How many processes share the manifest.")


def define_triton_flags():
    """--triton_url, --triton_model, --protocol, --in_flight (`serving.slide_models`)."""
    flags.DEFINE_string("triton_url", None, "A Triton server (host:port) serving the model.")
    flags.DEFINE_string("triton_model", None, "The served model's name (with --triton_url).")
    flags.DEFINE_enum("protocol", "http", ["http", "grpc"], "How to talk to --triton_url.")
    flags.DEFINE_integer("in_flight", 4, "Requests in flight at once to --triton_url.")


def triton_model(make, local_flag):
    """`make(url, model, protocol=..., in_flight=...)` when --triton_url is given, else
    None; exactly one of --triton_url and `local_flag` must be given.

    Raises:
      UserError: both or neither given, no --triton_model, or the server or model cannot
        be used (its message).
    """
    f = flags.FLAGS
    local = getattr(f, local_flag)
    if bool(f.triton_url) == bool(local):
        raise UserError(f"give exactly one of --{local_flag} and --triton_url")
    if not f.triton_url:
        return None
    if not f.triton_model:
        raise UserError("--triton_url needs --triton_model (the served model's name)")
    from serving import client

    try:
        return make(f.triton_url, f.triton_model, protocol=f.protocol, in_flight=f.in_flight)
    except client.ServingError as e:
        raise UserError(f"--triton_url={f.triton_url}: {e}") from e


def check_no_arguments(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}", exitcode=2)


def slides_from_flags() -> list[dict]:
    """The slides --slide or --manifest names (exactly one of them)."""
    f = flags.FLAGS
    if not f.out:
        raise UserError("--out must be given")
    if bool(f.slide) == bool(f.manifest):
        raise UserError("give exactly one of --slide and --manifest")
    if f.manifest:
        return batch.read_manifest(f.manifest)
    return [{"slide": f.slide, "label": None}]


def refuse(error) -> int:
    """Prints a `UserError` as one line on stderr; returns exit code 2."""
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
    return 2


def run_from_flags(analysis, analyse) -> int:
    """Runs `analyse` over the flags' slides; returns the exit code (see the module)."""
    f = flags.FLAGS
    try:
        slides = slides_from_flags()
        result = batch.run(
            slides,
            f.out,
            analysis,
            analyse,
            shard_index=f.shard_index,
            num_shards=f.num_shards,
        )
    except UserError as e:
        return refuse(e)
    logging.info(
        "%s: %d done, %d finished before, %d failed (shard %d of %d)",
        analysis,
        len(result["done"]),
        len(result["skipped"]),
        len(result["failed"]),
        f.shard_index,
        f.num_shards,
    )
    if result["failed"]:
        print(f"{len(result['failed'])} slide(s) failed: see {result['failures']}", file=sys.stderr)
        return 1
    return 0
