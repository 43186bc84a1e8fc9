"""G2C: generators feeding a weight-shared multi-stain classifier, trained jointly
(Zeng et al., AAAI G2C §Approach and arXiv G2C §3; SPEC §2)."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasg2c.layers.cross_stain_attention import CrossStainAttention
from kerasg2c.losses import classification
from kerasg2c.models.branches import make_branch


def _count(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


def _own_copy(generator, name):
    """A copy of `generator` named `name`, with its weights if it was built.

    Generators exported by the CycleGAN stage are all called "generator_ab" and
    were built outside this model, so their variable paths would collide in a
    checkpoint; each G2C keeps its own copies named generator_1 … generator_M.
    """
    if generator.name == name and not generator.built:
        return generator
    config = keras.saving.serialize_keras_object(generator)
    config["config"]["name"] = name
    clone = keras.saving.deserialize_keras_object(config)
    if generator.built:
        if not clone.built:
            build_config = generator.get_build_config()
            if not build_config:
                raise ValueError(
                    f"G2C: cannot rebuild generator {generator.name!r}; build it with "
                    "`generator.build(shape)` or pass it unbuilt"
                )
            clone.build_from_config(build_config)
        clone.set_weights(generator.get_weights())
    return clone


@keras.saving.register_keras_serializable(package="kerasg2c")
class G2C(keras.Model):
    """f(I) = c(I, g_1(I), …, g_M(I)): M stain generators, one shared classifier branch.

    Branch m sees stain m (branch 0 = the input patch itself, m ≥ 1 = g_m's
    output). All M + 1 branches use ONE `StemResNet` (the paper shares θ^C across
    branches, so the classifier has as many parameters as the PAS_ONLY baseline).

    Design:
      * Images are in [0, 1] (the classifier convention); the generators see
        2x − 1 and their tanh outputs y are mapped back with (y + 1) / 2.
      * Weight sharing: the branches are folded into the batch axis, [(M+1)·B, …],
        and pass through the same layer objects once. Batch normalisation then
        normalises over all stains together in training, which is what its moving
        statistics (shared by all branches at inference) average over too.
      * PAS_ALL+ (`attention=True`): after every block (`block_type`) of
        `backbone.body` its own `CrossStainAttention` (not shared between blocks)
        re-weights each branch's channels from the responses of all branches.
      * Head: each branch is globally average-pooled to a C-vector, the M + 1
        vectors are concatenated (branch-major) and one dense layer sees
        (M+1)·C features. This is our reading of "M + 1 feature vectors are
        concatenated, average-pooled and fully-connected": averaging the vectors
        instead would discard which stain a feature came from.
      * M = 0 is exactly `Classifier` (same layers, names and variable order).

    Training (`train_step`, following `kerasg2c.training.loop`): focal loss (or
    cross-entropy) scaled by the global batch; one tape, one backward pass. The
    classifier (branch, attention, head) is updated by `optimizer` (the
    classifier optimizer), the generators by `generator_optimizer` with the
    same loss' gradient. The freeze schedule (generators frozen for the first 5
    of 30 epochs) is the non-trainable variable `generators_trainable` (1.0 or
    0.0): the gradient reaching the generators is multiplied by it inside the
    graph (a gradient-scaling identity on the generated images), so flipping it
    at an epoch boundary needs no retracing. While it is 0 the generator
    gradients are exactly zero; a generator optimizer without weight decay
    (SGD with momentum, Adam, …) then leaves the generators bitwise unchanged
    (its momentum slots stay zero; its iteration counter still advances).
    The same identity rescales the generators' gradient from the classifier's
    loss scale to the generator optimizer's under mixed_float16.

    The generators use instance normalisation (no moving statistics), so the
    `training` flag passed to them changes nothing for `ResnetGenerator`.

    Args:
      generators: M Keras models mapping [-1, 1] source images to [-1, 1]
        target-stain images (e.g. `keras.saving.load_model("generators/HE.keras")`);
        may be empty (PAS_ONLY). The model keeps copies named generator_1…M.
      num_classes: output classes.
      widths, blocks_per_unit, stem_width, sync_batchnorm: of the shared branch.
      branch: "stem_resnet" (`StemResNet`, the glomerulus papers') or "alexnet"
        (`AlexNetBranch`, their transfer to 50×50 breast patches).
      attention: add cross-stain attention after each residual block (PAS_ALL+).
      attention_reduction: r of `CrossStainAttention`.
      loss: "focal" or "cross_entropy".
      focal_gamma: focusing parameter of the focal loss.
      train_generators: False = the frozen-generator ablation (the generators are
        never trained and need no optimizer).
    """

    def __init__(
        self,
        generators=(),
        num_classes=2,
        widths=(64, 128, 256, 512),
        blocks_per_unit=3,
        stem_width=64,
        sync_batchnorm=True,
        attention=False,
        attention_reduction=16,
        loss="focal",
        focal_gamma=2.0,
        train_generators=True,
        branch="stem_resnet",
        **kwargs,
    ):
        kwargs.setdefault("name", "g2c")
        super().__init__(**kwargs)
        classification.check_loss_name(loss)
        self.num_classes, self.loss_name, self.focal_gamma = num_classes, loss, focal_gamma
        self.use_attention, self.attention_reduction = bool(attention), attention_reduction
        self.train_generators = bool(train_generators)
        self.generators = [_own_copy(g, f"generator_{m + 1}") for m, g in enumerate(generators)]
        if not self.train_generators:
            for generator in self.generators:
                generator.trainable = False
        self.num_branches = len(self.generators) + 1
        # Only with generators, so that G2C(M=0) holds exactly Classifier's variables.
        self.generators_trainable = None
        if self.generators:
            self.generators_trainable = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(float(self.train_generators)),
                trainable=False,
                dtype="float32",
                name="generators_trainable",
            )
        self.branch, self.blocks_per_unit = branch, blocks_per_unit
        self.backbone = make_branch(branch, widths, blocks_per_unit, stem_width, sync_batchnorm)
        block = self.backbone.block_type
        self.attention = []
        if self.use_attention:
            self.attention = [
                CrossStainAttention(
                    self.num_branches, attention_reduction, name=f"attention_{layer.name}"
                )
                for layer in self.backbone.body
                if isinstance(layer, block)
            ]
        self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        self.head = keras.layers.Dense(num_classes, dtype="float32", name="logits")
        self.generator_optimizer = None

    # --- Building -----------------------------------------------------------

    def build(self, input_shape):
        """input_shape: (B, H, W, 3) images in [0, 1]."""
        input_shape = tuple(input_shape)
        for generator in self.generators:
            if not generator.built:
                generator.build(input_shape)
        folded = (None, *input_shape[1:])
        self.backbone.build(folded)  # inside its own name scope: Classifier's variable paths
        shape = self.backbone.stem.compute_output_shape(folded)
        attention = iter(self.attention)
        for layer in self.backbone.body:
            shape = layer.compute_output_shape(shape)
            if self.attention and isinstance(layer, self.backbone.block_type):
                next(attention).build((self.num_branches, *shape))
        self.head.build((None, self.num_branches * shape[-1]))

    def compile(self, classifier_optimizer=None, generator_optimizer=None, **kwargs):
        """The classifier optimizer becomes `optimizer`; `generator_optimizer`
        defaults to a fresh copy of its configuration (the paper: SGD, momentum
        0.5, for both). No generator optimizer exists without trainable
        generators. Under mixed_float16 both are wrapped in loss scaling."""
        classifier_optimizer = kwargs.pop("optimizer", classifier_optimizer)
        if classifier_optimizer is None:
            raise ValueError("G2C.compile: give the classifier optimizer")
        classifier_optimizer = keras.optimizers.get(classifier_optimizer)
        super().compile(optimizer=classifier_optimizer, **kwargs)
        self.generator_optimizer = None
        if not (self.generators and self.train_generators):
            return
        if generator_optimizer is None:
            inner = getattr(classifier_optimizer, "inner_optimizer", classifier_optimizer)
            generator_optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(inner))
        generator_optimizer = keras.optimizers.get(generator_optimizer)
        inner = getattr(generator_optimizer, "inner_optimizer", generator_optimizer)
        if getattr(inner, "weight_decay", None):
            raise ValueError(
                "G2C: the generator optimizer must not use weight_decay: it would change "
                "the generators while they are frozen"
            )
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
            generator_optimizer, keras.optimizers.LossScaleOptimizer
        ):
            generator_optimizer = keras.optimizers.LossScaleOptimizer(generator_optimizer)
        self.generator_optimizer = generator_optimizer

    def get_compile_config(self):
        if getattr(self, "optimizer", None) is None:
            return None
        serialize = keras.saving.serialize_keras_object
        return {
            "classifier_optimizer": serialize(self.optimizer),
            "generator_optimizer": (
                None if self.generator_optimizer is None else serialize(self.generator_optimizer)
            ),
        }

    def compile_from_config(self, config):
        deserialize = keras.saving.deserialize_keras_object
        generator_optimizer = config.get("generator_optimizer")
        self.compile(
            deserialize(config["classifier_optimizer"]),
            None if generator_optimizer is None else deserialize(generator_optimizer),
        )
        if self.built:  # so that `load_model` restores the optimizer states too
            self.build_optimizers()

    @property
    def classifier_optimizer(self):
        return self.optimizer

    @property
    def classifier_variables(self):
        """Trainable variables of the shared branch, the attention blocks and the head."""
        variables = list(self.backbone.trainable_variables)
        for block in self.attention:
            variables += block.trainable_variables
        return variables + list(self.head.trainable_variables)

    @property
    def generator_variables(self):
        """Trainable generator variables ([] for M = 0 or the frozen ablation)."""
        if not self.train_generators:
            return []
        return [v for g in self.generators for v in g.trainable_variables]

    def build_optimizers(self):
        """Creates every optimizer variable (before the first, possibly XLA, step)."""
        if getattr(self, "optimizer", None) is None:
            raise ValueError("G2C: call compile(classifier_optimizer[, generator_optimizer])")
        if not self.built:
            raise ValueError("G2C: call the model once on a batch of images to build it")
        if not self.optimizer.built:
            self.optimizer.build(self.classifier_variables)
        if self.generator_optimizer is not None and not self.generator_optimizer.built:
            self.generator_optimizer.build(self.generator_variables)

    def set_generators_trainable(self, trainable: bool) -> None:
        """The freeze schedule: False freezes the generators (no update), True lets
        the classification gradient reach them. Always off in the frozen ablation;
        a no-op for M = 0. Call it between steps, e.g. at an epoch boundary."""
        if self.generators_trainable is not None:
            self.generators_trainable.assign(float(bool(trainable) and self.train_generators))

    # --- Inference ----------------------------------------------------------

    def generate(self, images, training=None, generator_gradient_scale=None):
        """The M generated stains of `images` ([B, H, W, 3] in [0, 1]), each in [0, 1].

        generator_gradient_scale: a scalar that multiplies the gradient flowing
        back into the generators (the values are unchanged); None = 1.
        """
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
                scale = ops.cast(generator_gradient_scale, y.dtype)
                y = ops.stop_gradient(y) + scale * (y - ops.stop_gradient(y))
            stains.append((y + 1.0) / 2.0)
        return stains

    def call(self, images, training=None, return_stains=False, generator_gradient_scale=None):
        """Logits [B, num_classes] of images [B, H, W, 3] in [0, 1]; with
        `return_stains` also the generated stains [M, B, H, W, 3] in [0, 1].
        generator_gradient_scale: see `generate` (used by `train_step`)."""
        stains = self.generate(images, training, generator_gradient_scale)
        n = self.num_branches
        # Branches folded into the batch axis: [(M+1)·B, H, W, 3], branch-major.
        h = ops.concatenate([images, *stains], axis=0) if stains else images
        h = self.backbone.stem(h, training=training)
        attention = iter(self.attention)
        for layer in self.backbone.body:
            if not isinstance(layer, self.backbone.block_type):
                h = layer(h)
                continue
            h = layer(h, training=training)
            if self.attention:
                shape = ops.shape(h)
                stacked = ops.reshape(h, (n, -1, shape[1], shape[2], shape[3]))
                h = ops.reshape(next(attention)(stacked), (-1, shape[1], shape[2], shape[3]))
        pooled = self.pool(h)  # [(M+1)·B, C]
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

    def serving_outputs(self, images):
        """What a server returns for images [B, S, S, 3] in [0, 1] (`serving.export`):
        class probabilities [B, C] and (M > 0) the generated stains, uint8 [B, M, S, S, 3]."""
        if not self.generators:
            return {"probabilities": ops.softmax(self(images, training=False))}
        logits, stains = self(images, training=False, return_stains=True)
        stains = ops.transpose(stains, (1, 0, 2, 3, 4))
        return {
            "probabilities": ops.softmax(logits),
            "stains": ops.cast(ops.round(ops.clip(stains, 0.0, 1.0) * 255.0), "uint8"),
        }

    # --- Training -----------------------------------------------------------

    def per_example_loss(self, labels, logits):
        return classification.per_example_loss(self.loss_name, labels, logits, self.focal_gamma)

    def train_step(self, data):
        images, labels = data
        c_opt, g_opt = self.optimizer, self.generator_optimizer
        c_vars, g_vars = self.classifier_variables, self.generator_variables
        if g_vars and g_opt is None:
            raise ValueError("G2C: call compile() before training")
        scale = None
        if g_vars:
            # Freeze gate × (generator loss scale / classifier loss scale): the
            # generators' gradient is then exactly what g_opt expects, or zero.
            one = tf.constant(1.0, tf.float32)
            scale = self.generators_trainable * g_opt.scale_loss(one) / c_opt.scale_loss(one)
        # 1. Forward; the loss is this replica's share of the global-batch mean.
        with tf.GradientTape() as tape:
            logits = self(images, training=True, generator_gradient_scale=scale)
            loss = tf.nn.compute_average_loss(self.per_example_loss(labels, logits))
            scaled_loss = c_opt.scale_loss(loss)
        # 2. One backward pass; the optimizers sum the gradients across replicas.
        grads = tape.gradient(scaled_loss, c_vars + g_vars)
        c_opt.apply(grads[: len(c_vars)], c_vars)
        if g_vars:
            g_grads = [
                tf.zeros_like(v) if g is None else g for g, v in zip(grads[len(c_vars) :], g_vars)
            ]
            g_opt.apply(g_grads, g_vars)
        # 3. Accuracy, scaled like the loss so the loop can SUM-reduce it.
        correct = tf.cast(
            tf.equal(tf.argmax(logits, -1, output_type=tf.int32), tf.cast(labels, tf.int32)),
            tf.float32,
        )
        return {"loss": loss, "accuracy": tf.nn.compute_average_loss(correct)}

    # --- Reporting ----------------------------------------------------------

    def parameter_counts(self) -> dict:
        """Parameters of the built model, by part.

        classifier: the shared branch and the head (trainable or not, BN statistics
        included: what `count_params` counts); attention: all cross-stain attention
        blocks; generators: all M generators; attention_overhead: attention /
        classifier (the AAAI paper reports 5.27 % for PAS_ALL+);
        attention_overhead_total: attention / everything else.
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

    # --- Serialisation ------------------------------------------------------

    def get_config(self):
        backbone = self.backbone
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "generators": [serialize(g) for g in self.generators],
            "num_classes": self.num_classes,
            "branch": self.branch,
            "widths": backbone.widths,
            "blocks_per_unit": self.blocks_per_unit,
            "stem_width": backbone.stem_width,
            "sync_batchnorm": backbone.sync_batchnorm,
            "attention": self.use_attention,
            "attention_reduction": self.attention_reduction,
            "loss": self.loss_name,
            "focal_gamma": self.focal_gamma,
            "train_generators": self.train_generators,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generators"] = [
            keras.saving.deserialize_keras_object(g) for g in config.get("generators", [])
        ]
        return cls(**config)
