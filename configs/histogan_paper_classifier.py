"""The classifier of the HistoGAN paper's comparison (§4.3.3, Table 1): its baseline ResNet34
on the cervical 256 × 128 (height × width) patches, trained with cross-entropy, the same
network and settings in every arm. `configs/augment_eval_paper.py` trains it on each arm.

    python -m trainers.classifier --config=configs/histogan_paper_classifier.py \\
        --config.data.root=/path/to/DATA_ROOT

ResNet34's widths (64–512) and residual blocks per unit (3, 4, 6, 3); our stem block stands
for its 7×7 conv and max-pool. The paper gives no optimiser, epochs or batch for it:
configs/classifier.py's are kept. Meant for GPUs.
"""

import ml_collections

from kerasg2c.jobs.config_files import load_module

classifier = load_module("classifier.py", relative_to=__file__)


def get_config():
    config = classifier.get_config()
    config.workdir = "runs/histogan_paper_classifier"
    config.data.image_height = 256  # §4.1: "a unified size of 256 × 128 pixels"
    config.data.image_size = 128
    config.data.phantoms.size = 256  # only when data.root is empty, for a dry run
    config.model.loss = "cross_entropy"
    config.model.widths = (64, 128, 256, 512)
    config.model.stem_width = 64
    del config.model["blocks_per_unit"]  # configs/classifier.py's is an int
    config.model.blocks_per_unit = ml_collections.FieldReference((3, 4, 6, 3), field_type=object)
    return config
