"""The project's BatchNormalization and augmentation layers, on every Keras backend.

- BatchNormalization keeps moving statistics with no trace of their starting values (see its
  docstring); under TensorFlow its training step runs the fused kernel (FusedBatchNormV3), as
  Keras 2 did: Keras 3's separate reductions are about three times slower on a CPU (docs/speed.md).
- BFloat16Conv2D runs its convolution in bfloat16, where a CPU's AMX units make it fast.
- RandomAffine is the classifier's augmentation: a random shift, rotation and zoom composed into
  one affine transform and applied with one bilinear resampling (`keras.ops.image.affine_transform`),
  where Keras's RandomTranslation, RandomRotation and RandomZoom resample the image three times,
  each blurring the strokes a little more, and take longer (docs/design.md).

Saved files never contain them: `standard_layers` turns a model back into stock Keras layers
with the same weights before saving, so that any Keras program, on any backend, can load the file.
"""
import math

from convae.backend import is_tensorflow, keras, tensorflow

_keras = keras()
ops = _keras.ops
_tf = tensorflow() if is_tensorflow() else None  # the TensorFlow fast paths, under that backend only


class BatchNormalization(_keras.layers.BatchNormalization):
    """BatchNormalization whose moving statistics keep no trace of their starting values (and
    whose training step, under TensorFlow, runs the fused kernel on 4-D channels-last input).

    Keras's moving averages start at mean 0 and variance 1 and move towards each batch's
    statistics by 1 - momentum per step, so after n steps the start still weighs momentum**n,
    far more than the small variances of convolutions of [0, 1] pixels in a short run
    (docs/design.md). Here the n-th update moves them by (1 - momentum) / (1 - momentum**n)
    instead, the bias correction Adam applies to its own moving averages: the first batch's
    statistics are taken whole, and from then on the moving values are the exponential average of
    every batch so far with weights that sum to one. Long runs end as with Keras; every short run
    ends with statistics of its own training images, at no cost. `updates` counts the steps;
    saved files hold the stock layer, without it.
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.updates = self.add_weight(shape=(), name="updates", initializer="zeros", trainable=False,
                                       autocast=False)

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or mask is not None:
            # Inference runs Keras's own code, so a model predicts exactly the same before saving
            # (these layers) and after loading (stock layers).
            return super().call(inputs, training=training, mask=mask)
        dtype = inputs.dtype
        inputs = ops.cast(inputs, "float32")  # statistics in float32 under mixed precision too, as Keras's
        if self._fused(inputs):
            tf = _tf
            channels = inputs.shape[-1]
            gamma = self.gamma if self.scale else tf.ones((channels,), inputs.dtype)
            beta = self.beta if self.center else tf.zeros((channels,), inputs.dtype)
            # exponential_avg_factor=1: the batch's own mean and (unbiased) variance come back
            outputs, mean, variance = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=gamma, offset=beta, mean=self.moving_mean, variance=self.moving_variance,
                epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC", is_training=True)[:3]
        else:
            mean, variance = self._moments(inputs, mask)
            outputs = ops.batch_normalization(inputs, mean, variance, axis=self.axis, offset=self.beta,
                                              scale=self.gamma, epsilon=self.epsilon)
        self._update_moving_statistics(mean, variance)
        return ops.cast(outputs, dtype)

    def _fused(self, inputs):
        return _tf is not None and len(inputs.shape) == 4 and self.axis in (-1, 3) and inputs.dtype == "float32"

    def _update_moving_statistics(self, mean, variance):
        updates = self.updates + 1.0
        share = (1.0 - self.momentum) / (1.0 - ops.power(self.momentum, updates))
        self.moving_mean.assign(self.moving_mean + share * (mean - self.moving_mean))
        self.moving_variance.assign(self.moving_variance + share * (variance - self.moving_variance))
        self.updates.assign(updates)


class BatchMoments(_keras.layers.Layer):
    """What a BatchNormalization layer `norm` (channels last) gives in training, normalising with the
    batch's own statistics and its gamma and beta, and with it, per image, the batch's per-channel
    mean and mean square: their mean over a pass's images is its statistics over them (batches of
    one size). For the statistics pass of training.batch_norm_statistics; it shares `norm`'s weights.
    Under TensorFlow the fused kernel, as in training, one pass over the tensor."""

    def __init__(self, norm, **kwargs):
        super().__init__(**kwargs)
        self.norm = norm

    def call(self, x):
        x = ops.cast(x, "float32")
        axes = list(range(len(x.shape) - 1))
        if _tf is not None and len(x.shape) == 4:
            channels, count = x.shape[-1], ops.cast(ops.prod(ops.shape(x)[:-1]), "float32")
            gamma = self.norm.gamma if self.norm.scale else _tf.ones((channels,))
            beta = self.norm.beta if self.norm.center else _tf.zeros((channels,))
            normalised, mean, unbiased = _tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta, mean=self.norm.moving_mean, variance=self.norm.moving_variance,
                epsilon=self.norm.epsilon, exponential_avg_factor=1.0, data_format="NHWC", is_training=True)[:3]
            variance = unbiased * (count - 1.0) / count
        else:
            mean, variance = ops.moments(x, axes=axes)
            normalised = ops.batch_normalization(x, mean, variance, axis=-1, offset=self.norm.beta,
                                                 scale=self.norm.gamma, epsilon=self.norm.epsilon)
        rows = (ops.shape(x)[0], x.shape[-1])
        return (normalised, ops.broadcast_to(mean[None], rows),
                ops.broadcast_to((variance + ops.square(mean))[None], rows))

    def compute_output_shape(self, input_shape):
        return input_shape, (input_shape[0], input_shape[-1]), (input_shape[0], input_shape[-1])


class RandomAffine(_keras.layers.Layer):
    """Random shift, rotation and zoom of images in training, in one resampling; identity in use.

    Per image: a shift of up to `shift` of the height and width either way, a rotation of up to
    `rotation` degrees either way, a zoom by a factor from 1 - `zoom` to 1 + `zoom`, all about the
    image centre, uniformly drawn; bilinear interpolation, zeros outside the image. The same
    ranges as Keras's RandomTranslation(shift, shift), RandomRotation(rotation / 360) and
    RandomZoom(zoom), which `standard_layers` puts in its place when a model is saved.
    """

    def __init__(self, shift=0.0, rotation=0.0, zoom=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.shift, self.rotation, self.zoom, self.seed = float(shift), float(rotation), float(zoom), seed
        self.seed_generator = _keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        shape = ops.shape(inputs)
        batch, height, width = shape[0], float(inputs.shape[1]), float(inputs.shape[2])

        def uniform(limit):
            return _keras.random.uniform((batch,), -limit, limit, seed=self.seed_generator)
        angle = uniform(self.rotation * math.pi / 180.0)
        scale = 1.0 + uniform(self.zoom)  # input pixels per output pixel: above 1 shrinks the digit
        dx, dy = uniform(self.shift) * width, uniform(self.shift) * height
        return affine_transform(inputs, angle, scale, dx, dy)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "shift": self.shift, "rotation": self.rotation, "zoom": self.zoom,
                "seed": self.seed}


def affine_transform(images, angle, scale, dx, dy):
    """Rotate each image by `angle` radians and scale it by 1/`scale` about its centre, then shift
    it by (`dx`, `dy`) pixels (right, down); bilinear interpolation, zeros outside. One value per image."""
    cx, cy = (images.shape[2] - 1.0) / 2.0, (images.shape[1] - 1.0) / 2.0
    # Each output pixel (x, y) is taken from the input pixel (a0 x + a1 y + a2, b0 x + b1 y + b2).
    a0, a1 = scale * ops.cos(angle), -scale * ops.sin(angle)
    b0, b1 = scale * ops.sin(angle), scale * ops.cos(angle)
    a2 = cx - a0 * (cx + dx) - a1 * (cy + dy)  # the input pixel at the centre lands at centre + (dx, dy)
    b2 = cy - b0 * (cx + dx) - b1 * (cy + dy)
    zeros = ops.zeros_like(a0)
    transforms = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode="constant",
                                      fill_value=0.0, data_format="channels_last")


def _stock_augmentation(config):
    """RandomAffine's stock stand-in: Keras's own three layers, with the same ranges."""
    layers_ = _keras.layers
    steps = []
    if config["shift"]:
        steps.append(layers_.RandomTranslation(config["shift"], config["shift"], fill_mode="constant"))
    if config["rotation"]:
        steps.append(layers_.RandomRotation(config["rotation"] / 360.0, fill_mode="constant"))
    if config["zoom"]:
        steps.append(layers_.RandomZoom(config["zoom"], fill_mode="constant"))
    return _keras.Sequential(steps or [layers_.Identity()], name=config["name"])


class BFloat16Conv2D(_keras.layers.Conv2D):
    """Conv2D whose convolution runs in bfloat16: its input and kernel rounded to 8 bits of mantissa,
    the sums kept in float32 by oneDNN, the result back in float32; the weights, the bias and the
    activation stay float32. On a CPU with AMX, oneDNN runs it on the matrix units, several times
    faster than in float32 (docs/speed.md). Saved as a stock Conv2D."""

    def convolution_op(self, inputs, kernel):
        outputs = super().convolution_op(ops.cast(inputs, "bfloat16"), ops.cast(kernel, "bfloat16"))
        return ops.cast(outputs, self.compute_dtype)


_STANDARD = {BatchNormalization: _keras.layers.BatchNormalization.from_config,
             BFloat16Conv2D: _keras.layers.Conv2D.from_config,
             RandomAffine: _stock_augmentation}


def standard_layers(model):
    """A copy of `model` with stock Keras layers in place of ours (same weights; BatchNormalization
    without its update count)."""
    def clone(layer):
        return _STANDARD.get(type(layer), type(layer).from_config)(layer.get_config())
    copy = _keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy_weights(model, copy)
    return copy


def copy_weights(source, target):
    """Give each layer of `target` the weights of the layer of the same name in `source` (a clone of
    it), variable by variable: a stock BatchNormalization and ours share all but our update count."""
    theirs_by_name = {layer.name: layer for layer in source.layers}
    for ours in target.layers:
        theirs = theirs_by_name[ours.name]
        if hasattr(ours, "layers") and hasattr(theirs, "layers"):
            copy_weights(theirs, ours)
            continue
        values = {w.name: w for w in theirs.weights}
        for variable in ours.weights:
            if variable.name in values:
                variable.assign(values[variable.name])

