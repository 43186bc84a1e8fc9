"""HistoGAN's classification comparison at the paper's settings (§4.3.3, Table 1): the
cervical run of configs/histogan_paper_cervical.py, each arm trained with the paper's
ResNet34 classifier (configs/histogan_paper_classifier.py), five runs per arm.

    python -m trainers.histogan --config=configs/histogan_paper_cervical.py \\
        --config.data.root=/path/to/DATA_ROOT
    python -m trainers.augment_eval --config=configs/augment_eval_paper.py

The paper's arms are baseline, traditional augmentation (flips and colour jitter), GAN
augmentation without selection, its earlier single filtering, and selective augmentation;
ours have no single filtering and add entropy_only and centroid_only (docs/METHODS.md §3).
Meant for GPUs; everything not set here is configs/augment_eval.py's.
"""

from kerasg2c.jobs.config_files import load_module

augment_eval = load_module("augment_eval.py", relative_to=__file__)


def get_config():
    config = augment_eval.get_config()
    config.histogan_run = "runs/histogan_paper_cervical"
    config.classifier_config = "configs/histogan_paper_classifier.py"
    config.trainer = "trainers.classifier"
    config.out = "runs/augment_eval_paper"
    return config
