"""The IHC paper's conditional CycleGAN (H&E → Ki-67, Table 2): 224 px patches,
deconv k=3 up-sampling with zero padding, the average-pooled discriminator,
BCE for the discriminators and MSE for the generators (as the paper's
Training Configuration says: a least-squares generator target on a BCE-trained
logit, two GAN losses mixed; `model.adversarial_loss=least_squares` is the plain
LSGAN, docs/METHODS.md §1), Adam 1e-4 for 100 epochs, the epoch best on
validation kept, each patch's class concatenated to every network's input, no
identity warm start.

    python -m trainers.cyclegan --config=configs/cyclegan_paper_ihc.py \
        --config.data.root=/data/net_ki67 --config.workdir=runs/cyclegan_paper_ihc

Needs a DATA_ROOT whose stains include HE and KI67 (the phantoms have none of
Ki-67), with class folders for both sides: `labeled/train/<class>/` (H&E) and
`paired/KI67/train/<class>/` (Ki-67; unpaired use: each side is shuffled on
its own). Class folders may have any names and order; `trainers.ki67_eval`
puts each patch in the class its stain's MIL classifier predicts.
"""

from kerasg2c.jobs.config_files import load_module

cyclegan = load_module("cyclegan.py", relative_to=__file__)


def get_config():
    config = cyclegan.get_config()
    config.workdir = "runs/cyclegan_paper_ihc"
    config.data.image_size = 224
    config.cyclegan.source_stain = "HE"
    config.cyclegan.target_stains = ("KI67",)
    config.cyclegan.condition = "labels"
    config.model.ngf = 64
    config.model.ndf = 64
    config.model.n_blocks = 9
    config.model.upsampling = "deconv3"
    config.model.padding = "zero"
    config.model.discriminator = "ihc"
    config.model.adversarial_loss = "bce_discriminator"
    config.optimizer.learning_rate = 1e-4
    config.optimizer.constant_epochs = 100
    config.optimizer.decay_epochs = 0
    config.train.epochs = 100
    config.train.batch_size = 1
    config.cyclegan.identity_warmup_epochs = 0  # the paper has no identity warm start
    return config
