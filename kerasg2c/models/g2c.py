"""G2C: generators feeding a weight-shared multi-stain classifier, trained jointly (Wu et
al., "G2C: A Generator-to-Classifier Framework Integrating Multi-Stained Visual Cues for
Pathological Glomerulus Classification": §Our Approach of the AAAI version, §3 of the
arXiv version)."""

import keras
import numpy as np
from keras import ops

from kerasg2c.layers.cross_stain_attention import CrossStainAttention
from kerasg2c.models.classifier import Classifier
from kerasg2c.models.generator_copy import own_copy
from kerasg2c.models.generator_training import GeneratorTraining
from kerasg2c.models.multi_optimizer import MultiOptimizerModel


def _count(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


@keras.saving.register_keras_serializable(package="kerasg2c")
class G2C(GeneratorTraining, MultiOptimizerModel, Classifier):
    """f(I) = c ∘ g(I) = c(I, g_1(I), …, g_M(I)) (Eq. 1): M generators, one shared classifier.

    A `Classifier` whose head sees M + 1 stains: branch 0 is the input patch, branch m ≥ 1
    g_m's output. All branches use ONE branch layer (θ^C is shared, so the classifier has
    as many parameters as the single-stain baseline); M = 0 without attention is exactly
    `Classifier` (same layers, names and variables).

    Design:
      * Images are in [0, 1]; the generators see 2x − 1, their tanh outputs y map back
        with (y + 1) / 2.
      * Weight sharing: the branches are folded into the batch axis, [(M+1)·B, …], and
        pass through the same layers once, so batch normalisation normalises over all
        stains together, as its moving statistics (shared at inference) average.
      * PAS_ALL+ (`attention=True`, AAAI version): after every block of the branch its
        own `CrossStainAttention` re-weights each branch's channels from all branches.
      * Head: the M + 1 globally average-pooled C-vectors are concatenated
        (branch-major) into one dense layer of (M+1)·C inputs: our reading of "M + 1
        feature vectors are concatenated, average-pooled and fully-connected" (averaging
        them would discard which stain a feature came from).

    Training (`Classifier.train_step`; §Optimization of the AAAI version, §3.3 of the
    arXiv version): one backward pass of the classification loss updates the classifier
    (branch, attention, head) with `optimizer` and the generators with
    `generator_optimizer`; `set_generators_trainable` is the freeze schedule (see
    `GeneratorTraining`). The generators use instance normalisation, so `training`
    changes nothing in `ResnetGenerator`.

    Args:
      generators: M Keras models mapping [-1, 1] source images to [-1, 1] target-stain
        images (e.g. `keras.saving.load_model("generators/HE.keras")`); may be empty
        (PAS_ONLY). The model keeps copies named generator_1…M.
      num_classes: output classes.
      attention: add cross-stain attention after each block of the branch (PAS_ALL+).
      attention_reduction: r of `CrossStainAttention`.
      train_generators: False = the frozen-generator ablation (never trained, no
        generator optimizer).
      given_stains: the stain oracle: M' stains come WITH the input instead of being
        generated (images [B, H, W, 3·(1 + M')]: the patch, then each true stain; the
        `stain_views` data); needs `generators=()`. 0 = the G2C of the papers.
      **kwargs: of `Classifier` (branch, widths, blocks_per_unit, stem_width,
        sync_batchnorm, loss, focal_gamma) and of `keras.Model`.

    Examples:

    >>> import numpy as np
    >>> from kerasg2c.models.resnet_generator import ResnetGenerator
    >>> model = G2C(
    ...     [ResnetGenerator(ngf=4, n_blocks=1)],
    ...     num_classes=2,
    ...     attention=True,
    ...     attention_reduction=2,
    ...     widths=(8, 8),
    ...     blocks_per_unit=1,
    ...     stem_width=8,
    ...     sync_batchnorm=False,
    ... )
    >>> logits, stains = model(np.zeros((2, 32, 32, 3), "float32"), return_stains=True)
    >>> tuple(logits.shape), tuple(stains.shape)
    ((2, 2), (1, 2, 32, 32, 3))
    """

    OPTIMIZERS = (
        ("classifier_optimizer", "optimizer", "classifier_variables"),
        ("generator_optimizer", "generator_optimizer", "generator_variables"),
    )

    def __init__(
        self,
        generators=(),
        num_classes=2,
        *,
        attention=False,
        attention_reduction=16,
        train_generators=True,
        given_stains=0,
        **kwargs,
    ):
        kwargs.setdefault("name", "g2c")
        super().__init__(num_classes, **kwargs)
        self.use_attention, self.attention_reduction = bool(attention), attention_reduction
        self.train_generators = bool(train_generators)
        self.generators = [own_copy(g, f"generator_{m + 1}") for m, g in enumerate(generators)]
        if given_stains and self.generators:
            raise ValueError("G2C: give generators or given_stains, not both")
        self.given_stains = int(given_stains)
        self.num_branches = len(self.generators) + self.given_stains + 1
        self._add_freeze_gate()
        self.attention = []
        if self.use_attention:
            self.attention = [
                CrossStainAttention(
                    self.num_branches, attention_reduction, name=f"attention_{layer.name}"
                )
                for layer in self.backbone.blocks
            ]

    @property
    def input_channels(self) -> int:
        """3, or 3·(1 + given_stains) for the stain oracle."""
        return 3 * (1 + self.given_stains)

    def build(self, input_shape):
        """input_shape: (B, H, W, input_channels) images in [0, 1]."""
        input_shape = (*tuple(input_shape)[:-1], 3)
        for generator in self.generators:
            if not generator.built:
                generator.build(input_shape)
        super().build(input_shape)
        shapes = self.backbone.block_output_shapes((None, *tuple(input_shape)[1:]))
        for block, shape in zip(self.attention, shapes):
            block.build((self.num_branches, *shape))

    @property
    def classifier_variables(self):
        """Trainable variables of θ^C: the shared branch, the attention blocks, the head."""
        variables = list(self.backbone.trainable_variables)
        for block in self.attention:
            variables += block.trainable_variables
        return variables + list(self.head.trainable_variables)

    def generate(self, images, training=None, generator_gradient_scale=None):
        """The M generated stains of `images` ([B, H, W, 3] in [0, 1]), each in [0, 1].

        generator_gradient_scale: a scalar that multiplies the gradient flowing
        back into the generators (the values are unchanged); None = 1.
        With `given_stains`, the given ones (channels 3 onwards), not generated.
        """
        if self.given_stains:
            return [images[..., 3 * m : 3 * m + 3] for m in range(1, self.num_branches)]
        x = images * 2.0 - 1.0
        stains = []
        for generator in self.generators:
            y = ops.cast(generator(x, training=training), images.dtype)
            if y.shape[1:3] != images.shape[1:3] and None not in images.shape[1:3]:
                raise ValueError(
                    f"G2C: generator {generator.name} maps {tuple(images.shape[1:3])} images "
                    f"to {tuple(y.shape[1:3])}; use an image size its down-sampling divides "
                    "(a multiple of 4 for ResnetGenerator)"
                )
            if generator_gradient_scale is not None:
                y = self._scale_gradient(y, generator_gradient_scale)
            stains.append((y + 1.0) / 2.0)
        return stains

    def call(self, images, training=None, return_stains=False, generator_gradient_scale=None):
        """Logits [B, num_classes] of images [B, H, W, 3] in [0, 1]; with
        `return_stains` also the generated stains [M, B, H, W, 3] in [0, 1].
        generator_gradient_scale: see `generate` (used by `train_step`)."""
        stains = self.generate(images, training, generator_gradient_scale)
        images = images[..., :3]
        n = self.num_branches
        # Branches folded into the batch axis: [(M+1)·B, H, W, 3], branch-major.
        h = ops.concatenate([images, *stains], axis=0) if stains else images
        after_block = self._attend if self.attention else None
        pooled = self.pool(self.backbone(h, training=training, after_block=after_block))
        if n > 1:
            channels = pooled.shape[-1]
            pooled = ops.reshape(pooled, (n, -1, channels))
            pooled = ops.reshape(ops.transpose(pooled, (1, 0, 2)), (-1, n * channels))
        logits = self.head(pooled)
        if not return_stains:
            return logits
        if stains:
            return logits, ops.stack(stains, axis=0)
        return logits, ops.expand_dims(images, 0)[:0]

    def stain_attention(self, images):
        """Per-stain attention of images [B, H, W, 3] in [0, 1] (inference mode):
        [K, N, B], the mean over channels of the k-th attention block's gates on branch
        n (0 = the input stain), each in (0, 1). Needs `attention`."""
        if not self.attention:
            raise ValueError("G2C.stain_attention: the model has no cross-stain attention")
        stains = self.generate(images, training=False)
        h = ops.concatenate([images[..., :3], *stains], axis=0)
        recorded = []

        def attend(i, h):
            shape = ops.shape(h)
            stacked = ops.reshape(h, (self.num_branches, -1, shape[1], shape[2], shape[3]))
            gates = self.attention[i].gates(stacked)  # [N, B, C]
            recorded.append(ops.mean(gates, axis=-1))
            gated = stacked * ops.cast(gates[:, :, None, None, :], stacked.dtype)
            return ops.reshape(gated, (-1, shape[1], shape[2], shape[3]))

        self.backbone(h, training=False, after_block=attend)
        return ops.stack(recorded, axis=0)

    def _attend(self, i, h):
        """The i-th cross-stain attention on folded feature maps [(M+1)·B, H, W, C]."""
        shape = ops.shape(h)
        stacked = ops.reshape(h, (self.num_branches, -1, shape[1], shape[2], shape[3]))
        return ops.reshape(self.attention[i](stacked), (-1, shape[1], shape[2], shape[3]))

    def serving_outputs(self, images):
        """`Classifier`'s class probabilities [B, C] and (M > 0) the generated stains,
        uint8 [B, M, S, S, 3]."""
        if self.given_stains:
            raise ValueError("G2C: a stain-oracle model (given_stains) is not for serving")
        if not self.generators:
            return super().serving_outputs(images)
        logits, stains = self(images, training=False, return_stains=True)
        stains = ops.transpose(stains, (1, 0, 2, 3, 4))
        return {
            "probabilities": ops.softmax(logits),
            "stains": ops.cast(ops.round(ops.clip(stains, 0.0, 1.0) * 255.0), "uint8"),
        }

    def parameter_counts(self) -> dict:
        """Parameters of the built model, by part.

        classifier: the shared branch and the head (trainable or not, BN statistics
        included: what `count_params` counts); attention: all cross-stain attention
        blocks; generators: all M generators; attention_overhead: attention /
        classifier; attention_overhead_total: attention / everything else (the AAAI
        version's "5.27 % more parameters" for PAS_ALL+ matches this one: 5.0 % at the
        papers' widths, against 12.0 % for attention_overhead).
        """
        if not self.built:
            raise ValueError("G2C.parameter_counts: build the model first")
        classifier = _count(self.backbone.weights) + _count(self.head.weights)
        attention = _count([v for block in self.attention for v in block.weights])
        generators = _count([v for g in self.generators for v in g.weights])
        return {
            "classifier": classifier,
            "attention": attention,
            "generators": generators,
            "total": classifier + attention + generators,
            "attention_overhead": attention / classifier,
            "attention_overhead_total": attention / (classifier + generators),
        }

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "generators": [serialize(g) for g in self.generators],
            "attention": self.use_attention,
            "attention_reduction": self.attention_reduction,
            "train_generators": self.train_generators,
            "given_stains": self.given_stains,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generators"] = [
            keras.saving.deserialize_keras_object(g) for g in config.get("generators", [])
        ]
        return cls(**config)
