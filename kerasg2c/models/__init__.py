"""Keras models. Importing this package registers every model and layer class for
`keras.saving.load_model` (e.g. the exported `generators/<stain>.keras`)."""

from kerasg2c.models.alexnet_branch import AlexNetBranch
from kerasg2c.models.classifier import Classifier
from kerasg2c.models.cyclegan import CycleGAN
from kerasg2c.models.g2c import G2C
from kerasg2c.models.histogan import HistoGAN
from kerasg2c.models.image_pool import ImagePool
from kerasg2c.models.infowgan import InfoWGANGP
from kerasg2c.models.mil_classifier import MILClassifier
from kerasg2c.models.patch_discriminator import PatchDiscriminator
from kerasg2c.models.resnet_generator import ResnetGenerator
from kerasg2c.models.stem_resnet import StemResNet

__all__ = [
    "AlexNetBranch",
    "Classifier",
    "CycleGAN",
    "G2C",
    "HistoGAN",
    "ImagePool",
    "InfoWGANGP",
    "MILClassifier",
    "PatchDiscriminator",
    "ResnetGenerator",
    "StemResNet",
]
