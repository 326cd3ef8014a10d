"""Model builders (uncompiled keras.Models made from hyperparameters alone) and how each is compiled."""
import numpy as np

from convae import internals
from convae.backend import keras

BOTTLENECK = "bottleneck"  # the encoder's output layer; classification.py finds the encoder by it
DEFAULT_POOLING_STEPS = 2  # by default the first two layers halve the image: 28 -> 14 -> 7
AUTOENCODER_LEARNING_RATE = 1e-3


def default_filters(layers):
    """32, 64, then 128 for every deeper layer."""
    return [min(32 * 2 ** i, 128) for i in range(layers)]


def default_pooling(layers):
    """The layers (numbered from 1) after which max pooling halves the image: the first two."""
    return list(range(1, min(layers, DEFAULT_POOLING_STEPS) + 1))


def check_pooling(pooling, layers):
    """Raise ValueError unless `pooling` names distinct layers of the encoder, in order."""
    if any(p > layers for p in pooling):
        raise ValueError(f"expected layer numbers from 1 to {layers} (the encoder has {layers} layers), "
                         f"got {max(pooling)}")
    if sorted(set(pooling)) != list(pooling):
        raise ValueError(f"expected distinct layer numbers in increasing order, got {','.join(map(str, pooling))}")
    return list(pooling)


def check_image_size(pooling, image_shape):
    """Raise ValueError when the image is too small to be halved once per pooling layer."""
    steps = len(pooling)
    if min(image_shape[:2]) < 2 ** steps:
        raise ValueError(f"pooling after layers {','.join(map(str, pooling))} halves the image {steps} times, "
                         f"which needs images of at least {2 ** steps}x{2 ** steps}; "
                         f"these are {image_shape[0]}x{image_shape[1]}")


def build_autoencoder(image_shape, layers, kernel, filters, dropout, pooling=None, convolutions="float32"):
    """Convolutional autoencoder whose output has the input's shape.

    Encoder blocks are Conv2D(ReLU) -> BatchNormalization -> MaxPooling2D (after the layers listed
    in `pooling`, numbered from 1; by default the first two) -> Dropout; the decoder mirrors them
    with UpSampling2D; a sigmoid Conv2D restores the channels. Several convolutions at one
    resolution (for example 32,32,64,64 filters pooling after layers 2 and 4) see wider patterns
    before each halving. Images whose size is not a multiple of 2**len(pooling) are zero-padded,
    and the output cropped.
    BatchNormalization and Dropout are the project's own (convae.layers); saving turns them back
    into stock Keras layers. `convolutions` "bfloat16" runs the blocks' convolutions in bfloat16
    (convae.layers.BFloat16Conv2D), the output layer's staying float32.
    """
    k = keras()
    layers_ = k.layers
    rows, cols = image_shape[:2]
    channels = image_shape[2] if len(image_shape) > 2 else 1
    pooling = default_pooling(layers) if pooling is None else check_pooling(pooling, layers)
    steps = len(pooling)
    check_image_size(pooling, (rows, cols))
    pad_rows, pad_cols = (-rows) % 2 ** steps, (-cols) % 2 ** steps
    padding = ((pad_rows // 2, pad_rows - pad_rows // 2), (pad_cols // 2, pad_cols - pad_cols // 2))

    inputs = k.Input((rows, cols, channels), name="image")
    x = layers_.ZeroPadding2D(padding, name="pad")(inputs) if pad_rows or pad_cols else inputs
    # Encoder
    for i in range(layers):
        x = _conv_block(x, filters[i], kernel[i], f"encoder_{i + 1}", convolutions)
        if i + 1 in pooling:
            x = layers_.MaxPooling2D(2, name=f"encoder_{i + 1}_pool")(x)
        x = _dropout(x, dropout, f"encoder_{i + 1}_dropout")
    x = layers_.Identity(name=BOTTLENECK)(x)
    # Decoder
    for i in reversed(range(layers)):
        x = _conv_block(x, filters[i], kernel[i], f"decoder_{i + 1}", convolutions)
        if i + 1 in pooling:
            x = layers_.UpSampling2D(2, name=f"decoder_{i + 1}_upsample")(x)
        x = _dropout(x, dropout, f"decoder_{i + 1}_dropout")
    x = layers_.Conv2D(channels, kernel[0], padding="same", activation="sigmoid", name="reconstruction")(x)
    if pad_rows or pad_cols:
        x = layers_.Cropping2D(padding, name="crop")(x)
    return k.Model(inputs, x, name="autoencoder")


def all_layers(model):
    """Every layer of `model`, those of nested models included."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def count_parameters(model):
    """What model.count_params() gives for the saved model: the update counts of the project's
    BatchNormalization (convae.layers) left out."""
    return int(sum(np.prod(w.shape) for w in model.weights if not (w.name == "updates" and len(w.shape) == 0)))


def compile_autoencoder(model):
    """Pixels are intensities in [0, 1], mostly near 0 or 1: binary cross-entropy on the sigmoid
    output keeps useful gradients where MSE's vanish, and Adam needs no tuning to converge."""
    model.compile(optimizer=keras().optimizers.Adam(AUTOENCODER_LEARNING_RATE), loss="binary_crossentropy")


def build_classifier(encoder, classes, units, dropout, augment=(0.0, 0.0, 0.0), features=None):
    """The encoder under Flatten -> standardisation -> Dense(units, ReLU) -> Dropout -> Dense(classes, softmax).

    `augment` is (shift as a fraction of the image, rotation in degrees, zoom as a fraction):
    random transforms of the input, applied in training only (see RandomAffine).

    `features` is the (mean, variance) of each of the encoder's outputs over the training images
    (see classifier.feature_statistics); the standardisation layer (Keras's Normalization) maps
    them to mean 0 and variance 1, and keeps those statistics fixed: encoders from other programs
    can give features that differ far more by a common offset than from image to image, and the
    head then stays at chance (docs/design.md).

    The fully connected layer is layer-normalised before its ReLU: on thousands of unnormalised,
    all-positive features Adam moves every weight of a unit the same way at once, and a plain
    Dense+ReLU head dies within an epoch. Layer normalisation keeps the units centred without
    moving statistics.
    """
    k = keras()
    inputs = k.Input(encoder.input_shape[1:], name="image")
    x = _augmentation(inputs, *augment)
    x = k.layers.Flatten(name="flatten")(encoder(x))
    standardize = k.layers.Normalization(name="standardize")
    x = standardize(x)
    if features is not None:
        internals.set_normalization_statistics(standardize, *features)
    x = k.layers.Dense(units, use_bias=False, name="fc")(x)
    x = k.layers.LayerNormalization(name="fc_norm")(x)
    x = k.layers.Activation("relu", name="fc_relu")(x)
    x = _dropout(x, dropout, "fc_dropout")
    outputs = k.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return k.Model(inputs, outputs, name="classifier")


# The views that test-time augmentation averages over, in order: the image itself, then shifted by
# one pixel up, down, left and right, then diagonally.
SHIFTS = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]
VIEWS = (1, 5, 9)


def averaged_over_shifts(model, views):
    """`model` predicting the mean of its probabilities over `views` copies of each image (1, 5 or
    9 of SHIFTS): test-time augmentation. The copies are made by padding with zeros and cropping,
    stock Keras layers. (Saved to .h5 after training, such a model came back far less accurate:
    save the network itself.)"""
    if views == 1:
        return model
    k = keras()
    inputs = k.Input(model.input_shape[1:], name="image")
    outputs = []
    for dy, dx in SHIFTS[:views]:
        x = inputs
        if dy or dx:
            name = "shift_" + {-1: "up", 0: "", 1: "down"}[dy] + {-1: "left", 0: "", 1: "right"}[dx]
            x = k.layers.ZeroPadding2D(((max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0))), name=f"{name}_pad")(x)
            x = k.layers.Cropping2D(((max(-dy, 0), max(dy, 0)), (max(-dx, 0), max(dx, 0))), name=name)(x)
        outputs.append(model(x))
    return k.Model(inputs, k.layers.Average(name="mean_over_shifts")(outputs), name="classifier_over_shifts")


def compile_classifier(model, learning_rate, decay_steps=None):
    """Compile (again: a change of `trainable` takes effect only at compile time).

    With `decay_steps` the learning rate follows a cosine from `learning_rate` down to zero.
    """
    k = keras()
    if decay_steps:
        learning_rate = k.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    model.compile(optimizer=k.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


def _augmentation(x, shift, rotation, zoom):
    from convae.layers import RandomAffine
    if not (shift or rotation or zoom):
        return x
    return RandomAffine(shift, rotation, zoom, name="augmentation")(x)


def _conv_block(x, filters, kernel, name, convolutions="float32"):
    from convae.layers import BatchNormalization, BFloat16Conv2D
    conv = BFloat16Conv2D if convolutions == "bfloat16" else keras().layers.Conv2D
    x = conv(filters, kernel, padding="same", activation="relu", name=name)(x)
    return BatchNormalization(name=f"{name}_bn")(x)


def _dropout(x, rate, name):
    return keras().layers.Dropout(rate, name=name)(x) if rate > 0 else x
