"""CycleGAN's networks and their layers: the ResNet generator (shape, range, the reference's
parameter counts, PyTorch's transposed-convolution cropping), the 70 × 70 PatchGAN
discriminator, instance normalisation and reflection padding (tiny sizes, except the
parameter counts, which only build)."""

import numpy as np
import pytest
import tensorflow as tf
from gan_harness import uniform_images
from model_harness import run_model_test

from kerasg2c.layers.generator_block import GeneratorResidualBlock
from kerasg2c.layers.instance_norm import InstanceNormalization
from kerasg2c.layers.reflection_padding import ReflectionPadding2D
from kerasg2c.models.patch_discriminator import PatchDiscriminator
from kerasg2c.models.resnet_generator import ResnetGenerator

RNG = np.random.default_rng(0)


# --- Generator ---------------------------------------------------------------


@pytest.mark.parametrize("upsampling", ["deconv3", "deconv4"])
@pytest.mark.parametrize("channels", [3, 5])
def test_generator_keeps_the_shape_and_the_range(upsampling, channels):
    gen = ResnetGenerator(ngf=4, n_blocks=1, upsampling=upsampling)
    y = gen(uniform_images(2, 16, channels))
    assert y.shape == (2, 16, 16, 3) and y.dtype == "float32"
    assert np.all(np.abs(y) < 1.0)


@pytest.mark.parametrize(
    "cls, init_kwargs, size, channels, expected_output_shape",
    [
        (ReflectionPadding2D, dict(padding=((1, 2), (3, 0))), 16, 3, (2, 19, 19, 3)),
        (InstanceNormalization, dict(scale=True, center=True), 16, 3, (2, 16, 16, 3)),
        (GeneratorResidualBlock, dict(filters=3), 16, 3, (2, 16, 16, 3)),
        (GeneratorResidualBlock, dict(filters=3, padding="zero"), 16, 3, (2, 16, 16, 3)),
        (ResnetGenerator, dict(ngf=4, n_blocks=1), 16, 3, (2, 16, 16, 3)),
        (
            ResnetGenerator,
            dict(ngf=2, n_blocks=1, upsampling="deconv4", padding="zero", output_channels=4),
            16,
            5,
            (2, 16, 16, 4),
        ),
        # 32 → 16 → 8 → 4 (stride 2) → 3 → 2 (4×4 stride 1, padding 1).
        (PatchDiscriminator, dict(ndf=2), 32, 3, (2, 2, 2, 1)),
        (PatchDiscriminator, dict(ndf=2, variant="ihc"), 16, 5, (2, 1)),
    ],
)
def test_model(cls, init_kwargs, size, channels, expected_output_shape):
    run_model_test(cls, init_kwargs, uniform_images(2, size, channels), expected_output_shape)


def test_reference_parameter_counts():
    # The PyTorch reference (junyanz/pytorch-CycleGAN-and-pix2pix, as counted in the
    # gan-compression README): instance norm has no affine parameters, so every conv keeps
    # its bias. Generator: c7s1-64 9,472 + d128 73,856 + d256 295,168 + 9 blocks × 2 ×
    # 590,080 + u128 295,040 + u64 73,792 + c7s1-3 9,411 = 11,378,179.
    gen = ResnetGenerator(ngf=64, n_blocks=9, upsampling="deconv3")
    gen.build((None, 256, 256, 3))
    assert gen.count_params() == 11_378_179
    # deconv4 has 4×4 instead of 3×3 transposed kernels: 286,720 more.
    gen4 = ResnetGenerator(ngf=64, n_blocks=9, upsampling="deconv4")
    gen4.build((None, 256, 256, 3))
    assert gen4.count_params() == 11_378_179 + (256 * 128 + 128 * 64) * 7
    # 70×70 PatchGAN: 4×4 convs 3→64, 64→128, 128→256, 256→512, 512→1, all biased:
    # 3,136 + 131,200 + 524,544 + 2,097,664 + 8,193 = 2,764,737.
    disc = PatchDiscriminator(ndf=64, n_layers=3)
    disc.build((None, 256, 256, 3))
    assert disc.count_params() == 2_764_737


def test_transposed_convs_crop_like_pytorch():
    """PyTorch ConvTranspose2d: out[i·s − p + k] += x[i]·w[k], 0 ≤ o < (H−1)s − 2p + k + op."""
    for upsampling, k, output_padding in (("deconv3", 3, 1), ("deconv4", 4, 0)):
        gen = ResnetGenerator(ngf=2, n_blocks=1, upsampling=upsampling)
        gen.build((None, 16, 16, 3))
        deconv, crop = gen.get_layer("up1_deconv"), gen.get_layer("up1_crop")
        x = RNG.normal(size=(1, 4, 5, 8)).astype("float32")
        kernel, bias = (w.numpy() for w in deconv.weights)  # kernel: (k, k, out, in)
        h, w = (x.shape[1] - 1) * 2 - 2 + k + output_padding, (x.shape[2] - 1) * 2 - 2 + k
        w += output_padding
        expected = np.zeros((h, w, kernel.shape[2])) + bias
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                for a in range(k):
                    for b in range(k):
                        o, q = 2 * i - 1 + a, 2 * j - 1 + b
                        if 0 <= o < h and 0 <= q < w:
                            expected[o, q] += kernel[a, b] @ x[0, i, j]
        assert (h, w) == (8, 10)
        np.testing.assert_allclose(crop(deconv(x))[0], expected, atol=1e-5)


# --- Discriminators ----------------------------------------------------------


def test_patchgan_receptive_field_is_70_pixels():
    # Instance norm mixes every pixel of an image; without it each logit sees one patch.
    disc = PatchDiscriminator(ndf=4, normalization="none")
    x = tf.Variable(uniform_images(1, 128, seed=1))
    with tf.GradientTape() as tape:
        logits = disc(x)
        unit = logits[0, 7, 7, 0]
    assert logits.shape == (1, 14, 14, 1)
    grad = np.abs(tape.gradient(unit, x).numpy()[0]).sum(-1)
    rows, cols = np.nonzero(grad)
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70
    box = grad[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert np.all(box > 0), "every pixel of the window reaches the logit"
    assert (rows.min(), cols.min()) == (8 * 7 - 23, 8 * 7 - 23)


def test_discriminator_outputs():
    # Reference: 256² → 30×30 patch map; the IHC variant pools to one logit per image.
    patch = PatchDiscriminator(ndf=4)
    assert patch.compute_output_shape((2, 256, 256, 3)) == (2, 30, 30, 1)
    with pytest.raises(ValueError, match="zero or negative"):
        patch(uniform_images(1, 16))  # too small for a 4-layer map (oneDNN would not say so)
    ihc = PatchDiscriminator(ndf=4, variant="ihc")
    y = ihc(uniform_images(2, 32, 5))
    assert y.shape == (2, 1) and y.dtype == "float32"


# --- Layers ------------------------------------------------------------------


def test_instance_norm_normalises_each_image_and_channel():
    norm = InstanceNormalization()
    x = uniform_images(2, 8, 4) * np.arange(1, 5) + np.arange(4)
    y = norm(x).numpy()
    assert not norm.weights  # affine=False, as the reference
    np.testing.assert_allclose(y.mean((1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var((1, 2)), 1, atol=1e-3)


def test_reflection_padding_reflects():
    x = np.arange(3, dtype="float32").reshape(1, 1, 3, 1)
    y = ReflectionPadding2D((0, 2))(x)
    assert y.numpy().ravel().tolist() == [2, 1, 0, 1, 2, 1, 0]
