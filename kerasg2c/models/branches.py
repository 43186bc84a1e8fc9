"""The classifier branches a Classifier or G2C can use, by config name (`model.branch`)."""

from kerasg2c.models.alexnet_branch import AlexNetBranch
from kerasg2c.models.stem_resnet import StemResNet

BRANCHES = ("stem_resnet", "alexnet")


def make_branch(branch, widths, blocks_per_unit, stem_width, sync_batchnorm, name="backbone"):
    """`StemResNet` (the G2C papers' glomerulus branch) or `AlexNetBranch` (their transfer
    experiment; `blocks_per_unit` does not apply to it)."""
    if branch == "stem_resnet":
        return StemResNet(widths, blocks_per_unit, stem_width, sync_batchnorm, name=name)
    if branch == "alexnet":
        return AlexNetBranch(widths, stem_width, sync_batchnorm, name=name)
    raise ValueError(f"config key model.branch={branch!r}: expected one of {list(BRANCHES)}")
