"""The IHC paper's Tables 3–4 on phantom twins: MIL classifiers per stain, the raw and the
conditional CycleGAN H&E → Ki-67, and the Ki-67 index of real vs synthetic images.

python -m trainers.ki67_eval --config=configs/ki67_eval.py
"""

from ml_collections import config_flags

from kerasg2c.jobs import ki67_eval_job, launch

_CONFIG = config_flags.DEFINE_config_file("config", "configs/ki67_eval.py", lock_config=True)

if __name__ == "__main__":
    launch.main(ki67_eval_job, _CONFIG)
