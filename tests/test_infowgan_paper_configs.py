"""The InfoWGAN-GP paper configs (Hu et al. §IV-B, §IV-E): each holds the paper's values,
passes its job's check and builds (at width 8); the cells job's paper config also
segments a synthetic H&E tile."""

import numpy as np
import pytest


@pytest.mark.parametrize(
    "name, noise_dim",
    [("infowgan_paper_a", 32), ("infowgan_paper_b", 32), ("infowgan_paper_c", 64)],
)
def test_paper_configs_check_and_build(name, noise_dim):
    """Each dataset's paper config holds §IV-B's values, passes the job's check and builds
    its model (at width 8: the keys other than the width are the paper's)."""
    import os

    from conftest import REPO

    from kerasg2c.jobs import config_files, infowgan_job

    config = config_files.load(os.path.join(REPO, "configs", f"{name}.py"))
    infowgan_job.check(config)
    i, o = config.infogan, config.optimizer
    assert (i.categories, i.noise_dim, i.n_critic, i.lambda_gp, i.lambda_info) == (
        5, noise_dim, 5, 10.0, 1.0
    )  # fmt: skip
    assert (o.learning_rate, o.beta_1, o.beta_2, config.train.batch_size) == (1e-4, 0.5, 0.9, 64)
    assert i.rotate and config.data.image_size == 32 and i.channels == 128
    config.infogan.channels = 8
    model = infowgan_job.build_model(config)
    assert (model.categories, model.noise_dim) == (5, noise_dim)
    cells = model.generate(np.arange(5, dtype=np.int32), np.zeros((5, noise_dim), np.float32))
    assert cells.shape == (5, 32, 32, 3)
    assert model.predict_on_batch(np.asarray(cells)).shape == (5, 5)


def test_cells_paper_config_checks_builds_and_segments():
    """configs/cells_paper.py: the cells job's check, its InfoWGAN-GP stage built (width 8)
    and its segmentation keys run on a synthetic H&E tile (Reinhard to the paper's lαβ
    statistics first)."""
    import os
    import sys

    from conftest import REPO

    from kerasg2c.jobs import cells_job, config_files, infowgan_job, tile_crops

    config = config_files.load(os.path.join(REPO, "configs", "cells_paper.py"))
    cells_job.check(config)
    c = config.cells
    assert (c.reinhard_mean, c.reinhard_std) == ((8.98, 0.08, 0.02), (0.64, 0.11, 0.03))
    assert config.infogan_stage.infogan.noise_dim == 64
    assert c.stage_cells == "tiles"  # §IV-E: the GAN trains on the training tiles' crops
    config.infogan_stage.infogan.channels = 8
    assert infowgan_job.build_model(config.infogan_stage).categories == 5
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from test_nuclei import NUCLEI, synthetic_he_tile

    target = tile_crops.reinhard_target(config)  # the paper's lαβ statistics, as above
    found = tile_crops.segment(config, synthetic_he_tile(), size=32, target=target)
    assert found.stains_estimated and len(found) == len(NUCLEI)
