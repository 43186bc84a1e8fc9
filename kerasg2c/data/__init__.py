"""Data: the DATA_ROOT layout (`layout`), image decoding and scanning (`decode`),
tf.data pipelines (`pipeline`), TensorFlow Datasets splits (`tfds_source`, needs the
`tfds` extra) and synthetic stain phantoms (`phantoms`). Import the module you need;
this package imports nothing, so `python -m kerasg2c.data.phantoms` stays light."""
