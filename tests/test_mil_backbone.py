"""Top-1 MIL's branch: StemResNet takes one block count per unit (counted by hand), the
paper config builds ResNet34's depth, and model.blocks_per_unit is an int or a tuple on
the command line."""

import os
import re

import pytest
from conftest import REPO

from kerasg2c.errors import UserError
from kerasg2c.jobs import config_files, mil_job
from kerasg2c.models.stem_resnet import StemResNet


def _stem_resnet_params(widths, blocks, stem_width):
    """Hand count: a ConvBNReLU has k·k·in·out weights and 4·out BN values; a residual
    block two 3×3 of them and a 1×1 projection when its width changes."""

    def conv(i, o, k=3):
        return k * k * i * o + 4 * o

    half = stem_width // 2
    total = conv(3, half) + conv(half, half) + conv(half, stem_width)
    previous = stem_width
    for width, count in zip(widths, blocks):
        for _ in range(count):
            total += conv(previous, width) + conv(width, width)
            total += conv(previous, width, 1) if previous != width else 0
            previous = width
    return total


def test_stem_resnet_takes_one_block_count_per_unit():
    widths, blocks = (4, 8, 16, 32), (3, 4, 6, 3)
    net = StemResNet(widths, blocks_per_unit=blocks, stem_width=4)
    net.build((None, 32, 32, 3))
    assert [b.name for b in net.blocks][-4:] == [
        "unit3_block6", "unit4_block1", "unit4_block2", "unit4_block3"
    ]  # fmt: skip
    assert len(net.blocks) == 16 and net.count_params() == _stem_resnet_params(widths, blocks, 4)
    same = StemResNet(widths, blocks_per_unit=2, stem_width=4)
    same.build((None, 32, 32, 3))
    assert len(same.blocks) == 8
    assert same.count_params() == _stem_resnet_params(widths, (2, 2, 2, 2), 4)


@pytest.mark.parametrize("blocks", [(3, 4, 6), (3, 4, 6, 0)])
def test_stem_resnet_refuses_a_bad_block_count_per_unit(blocks):
    with pytest.raises(ValueError, match="expected an int or one positive int per unit"):
        StemResNet((4, 8, 16, 32), blocks_per_unit=blocks, stem_width=4)


def test_paper_config_builds_the_resnet34_deep_model():
    config = config_files.load(os.path.join(REPO, "configs", "mil_paper.py"))
    mil_job.check(config)
    assert (config.data.image_size, config.data.phantoms.size) == (2240, 2240)
    # Training Configuration: Adam 1e-4, 100 epochs, each validated, the best one kept.
    assert (config.optimizer.learning_rate, config.optimizer.weight_decay) == (1e-4, 0.0)
    assert (config.train.epochs, config.mil.validate_every) == (100, 1)
    model = mil_job.build_model(config)  # built on one 224-px instance, not trained
    assert len(model.backbone.blocks) == 16
    head = 512 * 2 + 2
    want = _stem_resnet_params((64, 128, 256, 512), (3, 4, 6, 3), 64) + head
    assert model.count_params() == want


def test_blocks_per_unit_takes_an_int_or_a_tuple_from_the_command_line():
    from absl import flags
    from ml_collections import config_flags

    def parse(*args):  # as trainers/mil.py parses its command line
        argv = ["mil", "--config=" + os.path.join(REPO, "configs", "mil.py"), *args]
        values = flags.FlagValues()
        config_flags.DEFINE_config_file("config", flag_values=values, sys_argv=argv)
        values(argv)
        return values.config

    assert parse().model.blocks_per_unit == 1
    assert parse("--config.model.blocks_per_unit=2").model.blocks_per_unit == 2
    config = parse("--config.model.blocks_per_unit=(1,2,1)")
    assert config.model.blocks_per_unit == (1, 2, 1)
    mil_job.check(config)
    for blocks, why in (("(1,2)", "expected an int or one count per unit"), ("(1,0,1)", "> 0")):
        config = parse(f"--config.model.blocks_per_unit={blocks}")
        with pytest.raises(UserError, match=re.escape("config key model.blocks_per_unit=")):
            mil_job.check(config)
        with pytest.raises(UserError, match=re.escape(why)):
            mil_job.check(config)
