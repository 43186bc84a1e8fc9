"""The CycleGAN paper configs behind the IHC pipeline (the reference's and the IHC
paper's conditional one): each passes the job's check and builds its model, at a tiny
override of the sizes only, with the paper's choices kept."""

import os

import numpy as np
import pytest
from conftest import REPO

from kerasg2c.jobs import config_files, cyclegan_job

TINY = {"data.image_size": 32, "model.ngf": 4, "model.ndf": 4, "model.n_blocks": 1}


def _tiny(config):
    for key, value in TINY.items():
        section, name = key.split(".")
        config[section][name] = value
    return config


@pytest.mark.parametrize(
    "name, condition, discriminator, loss",
    [
        ("cyclegan_paper", "", "patchgan", "least_squares"),
        ("cyclegan_paper_ihc", "labels", "ihc", "bce_discriminator"),
    ],
)
def test_cyclegan_paper_config_checks_and_builds(name, condition, discriminator, loss):
    config = config_files.load(os.path.join(REPO, "configs", f"{name}.py"))
    cyclegan_job.check(config)
    assert config.cyclegan.condition == condition
    assert config.cyclegan.identity_warmup_epochs == 0  # no warm start in either paper
    assert (config.train.batch_size, config.model.upsampling) == (1, "deconv3")
    config = _tiny(config)
    cyclegan_job.check(config)
    classes = 2 if condition else 0
    model = cyclegan_job.build_model(config, classes)
    assert model.adversarial_loss == loss
    x = np.zeros((1, 32, 32, 3 + classes), np.float32)
    fake = model.generator_ab(x, training=False)
    assert tuple(fake.shape) == (1, 32, 32, 3)
    assert config.model.discriminator == discriminator
    logits = model.discriminator_b(np.concatenate([fake, x[..., 3:]], -1), training=False)
    # The IHC discriminator average-pools to one logit per image; the PatchGAN a map.
    assert (int(np.prod(logits.shape[1:])) == 1) == (discriminator == "ihc")
