"""The PyTorch peer of `benchmarks.cyclegan_step`: the same CycleGAN training step written
against PyTorch, to time ours against (`make bench-peers` installs PyTorch; `make test`
never needs it).

    python -m benchmarks.peers.cyclegan_step_torch --size=64 --batch=1 --steps=5 \
        [--precision=float32|bfloat16] [--channels_last]

The networks and the step are the reference CycleGAN's (Zhu et al. 2017, the authors'
`ResnetGenerator`, `NLayerDiscriminator` with `--norm instance`), as
`kerasg2c.models.cyclegan` builds them: ResNet generators (reflection padding, biased
convolutions, instance normalisation without affine parameters, transposed convolutions
with output padding 1), 70×70 PatchGANs, least-squares adversarial loss, cycle λ 10,
identity 0.5, a pool of 50 fakes, Adam(2e-4, β = (0.5, 0.999)). bfloat16 is PyTorch's
CPU autocast around the forward passes and losses (weights and optimizer in float32), the
counterpart of Keras' `mixed_bfloat16`. Random inputs, 2 warm-up steps, then --steps
timed; prints the step time, peak resident memory and `images/s: X` last (an image is one
(A, B) pair), as `benchmarks.cyclegan_step` does.
"""

import argparse
import random
import resource
import time

import torch
from torch import nn


def _norm(channels):
    return nn.InstanceNorm2d(channels, affine=False)


class ResnetBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels),
        )  # fmt: skip

    def forward(self, x):
        return x + self.body(x)


def generator(ngf=64, blocks=9):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), _norm(ngf), nn.ReLU()]
    for width in (ngf, 2 * ngf):
        layers += [nn.Conv2d(width, 2 * width, 3, 2, 1), _norm(2 * width), nn.ReLU()]
    layers += [ResnetBlock(4 * ngf) for _ in range(blocks)]
    for width in (4 * ngf, 2 * ngf):
        layers += [
            nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1),
            _norm(width // 2),
            nn.ReLU(),
        ]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(ndf=64):
    layers = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
    widths = [ndf, 2 * ndf, 4 * ndf, 8 * ndf]
    for n, (a, b) in enumerate(zip(widths, widths[1:])):
        layers += [nn.Conv2d(a, b, 4, 2 if n < 2 else 1, 1), _norm(b), nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(8 * ndf, 1, 4, 1, 1))
    return nn.Sequential(*layers)


def _init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)


class ImagePool:
    """The reference's pool: the first `size` fakes are returned as they come, later ones
    swap with a stored fake half of the time."""

    def __init__(self, size=50):
        self.size, self.images = size, []

    def query(self, images):
        out = []
        for image in images:
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.random() > 0.5:
                n = random.randrange(self.size)
                out.append(self.images[n].clone())
                self.images[n] = image
            else:
                out.append(image)
        return torch.cat(out)


class CycleGANStep:
    """One training step: both generators (cycle and identity passes) updated against both
    discriminators, then both discriminators on real images and pooled fakes."""

    def __init__(self, ngf, blocks, ndf, pool_size, precision, channels_last):
        self.g_ab, self.g_ba = generator(ngf, blocks), generator(ngf, blocks)
        self.d_a, self.d_b = discriminator(ndf), discriminator(ndf)
        self.nets = (self.g_ab, self.g_ba, self.d_a, self.d_b)
        for net in self.nets:
            net.apply(_init)
            if channels_last:
                net.to(memory_format=torch.channels_last)
        g_params = [*self.g_ab.parameters(), *self.g_ba.parameters()]
        d_params = [*self.d_a.parameters(), *self.d_b.parameters()]
        self.g_opt = torch.optim.Adam(g_params, 2e-4, betas=(0.5, 0.999))
        self.d_opt = torch.optim.Adam(d_params, 2e-4, betas=(0.5, 0.999))
        self.pool_a, self.pool_b = ImagePool(pool_size), ImagePool(pool_size)
        self.autocast = precision == "bfloat16"

    def _cast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast)

    def __call__(self, real_a, real_b):
        mse, l1 = nn.functional.mse_loss, nn.functional.l1_loss
        with self._cast():
            fake_b, fake_a = self.g_ab(real_a), self.g_ba(real_b)
            rec_a, rec_b = self.g_ba(fake_b), self.g_ab(fake_a)
            score_b, score_a = self.d_b(fake_b), self.d_a(fake_a)
            adversarial = mse(score_b, torch.ones_like(score_b)) + mse(
                score_a, torch.ones_like(score_a)
            )
            cycle = l1(rec_a, real_a) + l1(rec_b, real_b)
            identity = l1(self.g_ab(real_b), real_b) + l1(self.g_ba(real_a), real_a)
            g_loss = adversarial + 10.0 * cycle + 0.5 * 10.0 * identity
        self.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_opt.step()
        pooled_b = self.pool_b.query(fake_b.detach())
        pooled_a = self.pool_a.query(fake_a.detach())
        with self._cast():
            d_loss = 0.0
            for d, real, pooled in ((self.d_b, real_b, pooled_b), (self.d_a, real_a, pooled_a)):
                s_real, s_fake = d(real), d(pooled)
                d_loss = d_loss + 0.5 * (
                    mse(s_real, torch.ones_like(s_real)) + mse(s_fake, torch.zeros_like(s_fake))
                )
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        return float(g_loss.detach()), float(d_loss.detach())


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=9)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--pool_size", type=int, default=50)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--channels_last", action="store_true")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    torch.manual_seed(0)
    random.seed(0)
    step = CycleGANStep(
        args.ngf, args.blocks, args.ndf, args.pool_size, args.precision, args.channels_last
    )
    shape = (args.batch, 3, args.size, args.size)
    memory = torch.channels_last if args.channels_last else torch.contiguous_format
    real_a = (torch.rand(shape) * 2 - 1).to(memory_format=memory)
    real_b = (torch.rand(shape) * 2 - 1).to(memory_format=memory)
    start = time.perf_counter()
    for _ in range(2):
        step(real_a, real_b)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        step(real_a, real_b)
    per_step = (time.perf_counter() - start) / args.steps
    print(
        f"pytorch cyclegan step: size={args.size} batch={args.batch} ngf={args.ngf} "
        f"blocks={args.blocks} precision={args.precision} channels_last={args.channels_last} "
        f"threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    print(f"warm-up (2 steps): {warmup:.1f} s")
    print(f"step time: {per_step * 1000:.1f} ms")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"images/s: {args.batch / per_step:.2f}")


if __name__ == "__main__":
    main()
