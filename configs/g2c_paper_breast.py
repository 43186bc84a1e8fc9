"""G2C transferred to breast IDC at the papers' settings (G2C, arXiv §4.4 and AAAI
§Transferring to Breast Cancer Classification): the generators of a glomerulus run are
reused, not retrained, and fine-tuned jointly with a new AlexNet classifier on the 50×50
IDC patches (binary); PAS_ALL+, the AAAI paper's best setting (the arXiv paper's is
`--config.variant=PAS_ALL`; its baseline `--config.variant=PAS_ONLY`).

    python -m trainers.g2c --config=configs/g2c_paper_aaai.py ...   # first: the generators
    python -m trainers.g2c --config=configs/g2c_paper_breast.py \
        --config.data.root=IDC_ROOT --config.workdir=runs/g2c_paper_breast

The patches are resized to 52 px, the nearest side the generators' two down-samplings
divide. The schedule is not stated for the transfer: the glomerulus one (SGD 0.01 ÷10 every
5 epochs, 30 epochs, generators frozen for the first 5). configs/g2c_transfer.py is the
phantom-sized version.
"""

from kerasg2c.jobs.config_files import load_module

aaai = load_module("g2c_paper_aaai.py", relative_to=__file__)


def get_config():
    config = aaai.get_config()
    config.workdir = "runs/g2c_paper_breast"
    config.variant = "PAS_ALL_PLUS"
    config.hierarchy = ""
    config.data.task = ""  # IDC_ROOT's two classes, idc_negative and idc_positive
    config.g2c.generators_dir = "runs/g2c_paper_aaai/cyclegan/generators"  # reused
    config.data.phantoms.size = 50
    config.data.image_size = 52
    config.model.branch = "alexnet"
    config.model.stem_width = 64
    config.model.widths = (192, 384, 256, 256)
    return config
