"""The labeled splits a classification job reads, from its config and run context."""

import os

from kerasg2c.data import layout, pipeline
from kerasg2c.errors import UserError

SPLITS = ("train", "val", "test")


def load_splits(config, context) -> dict:
    """{"train": split, "val": split, "test": split} from data.tfds or the DATA_ROOT."""
    if config.data.tfds:
        try:
            from kerasg2c.data import tfds_source
        except ImportError as e:
            raise UserError(
                "config key data.tfds needs tensorflow-datasets: pip install 'kerasg2c[tfds]'"
            ) from e
        return {
            s: tfds_source.load_tfds_split(
                config.data.tfds, s, data_dir=config.data.tfds_data_dir or None
            )
            for s in SPLITS
        }
    scan_cache = os.path.join(context.workdir, "data_scan.json")
    return {
        s: pipeline.load_labeled_split(
            context.data_root, s, strict=config.data.strict, scan_cache=scan_cache
        )
        for s in SPLITS
    }


def dataset_tasks(context) -> dict:
    """The hierarchical tasks the dataset declares (dataset.json "tasks"); {} for TFDS."""
    if context.data_root is None:
        return {}
    return layout.read_dataset_info(context.data_root).tasks


def use_cache(config, split) -> bool:
    """Whether the split's decoded images fit in `data.cache_budget_gb`."""
    return pipeline.fits_in_memory(
        len(split), config.data.image_size, int(config.data.cache_budget_gb * 2**30)
    )
