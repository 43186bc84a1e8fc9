"""Data: the DATA_ROOT layout (`layout`), image decoding and scanning (`decode`),
tf.data pipelines (`pipeline`), a stain translator's data (`stain_pairs`), TensorFlow
Datasets splits (`tfds_source`, needs the `tfds` extra). The phantoms that write DATA_ROOTs
live in `kerasg2c.phantoms`. Import the module you need; this package imports nothing."""

import importlib
import warnings

# The phantoms' old homes, kept for one release: `from kerasg2c.data import phantoms`.
_MOVED = {
    "phantoms": "kerasg2c.phantoms.glomeruli",
    "cell_phantoms": "kerasg2c.phantoms.cells",
    "cell_nuisance": "kerasg2c.phantoms.cell_nuisance",
    "slide_phantoms": "kerasg2c.phantoms.slides",
    "mil_phantoms": "kerasg2c.phantoms.mil_tiles",
    "ihc_phantoms": "kerasg2c.phantoms.ihc",
}


def __getattr__(name):
    if name not in _MOVED:
        raise AttributeError(f"module 'kerasg2c.data' has no attribute {name!r}")
    warnings.warn(f"kerasg2c.data.{name} moved to {_MOVED[name]}", DeprecationWarning, 2)
    return importlib.import_module(_MOVED[name])
