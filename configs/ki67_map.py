"""The conditional CycleGAN map's runs (`python -m trainers.ki67_map`; docs/RESULTS.md):
configs/ki67_eval.py (128-px twins: the nuclei and the Ki-67 detector's sizes are in
pixels, so the images stay at full size) with the CycleGANs' schedule cut to fit two CPU
cores, and the runs of one H&E cue level and seed sharing the MIL stages and the raw
CycleGAN (`ki67.stage_cache`, set by the launcher). The map varies
`data.phantoms.he_cue` and `ki67.condition_source`.

    python -m trainers.ki67_map --out=runs/ki67_map
"""

from kerasg2c.jobs.config_files import load_module

ki67_eval = load_module("ki67_eval.py", relative_to=__file__)


def get_config():
    config = ki67_eval.get_config()
    config.workdir = "runs/ki67_map"
    # The CPU budget (configs/ki67_eval.py: 8 identity warm-up and 20 epochs).
    config.cyclegan_stage.cyclegan.identity_warmup_epochs = 4
    config.cyclegan_stage.optimizer.constant_epochs = 10
    config.cyclegan_stage.train.epochs = 10
    return config
