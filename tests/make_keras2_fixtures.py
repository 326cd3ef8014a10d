"""Build small autoencoders the way Keras 2 programs of this assignment save them, one per shape.

usage: pip install "tf_keras>=2.21,<2.22" && python tests/make_keras2_fixtures.py   (writes tests/fixtures/keras2/)

The files are tiny (a few filters, untrained: only their structure matters), made by this
project, and committed, so that the tests of loading foreign models run on a fresh clone. Each
shape is one that other implementations of the assignment save with Keras 2's `model.save`:

  sequential_input_layer   Sequential with an InputLayer
  sequential_input_shape   Sequential whose first layer has input_shape=
  sequential_built         Sequential without an input, built with build()
  sequential_called        Sequential without an input, built by calling it on images
  nested_never_called      Sequential of an encoder and a decoder Sequential, built by fit() on arrays,
                           never called on an Input
  nested_sequential        Sequential of an encoder and a decoder Sequential, called
  nested_functional        a functional Model of an encoder Model and a decoder Model
  conv_transpose           a decoder of Conv2DTranspose with strides 2 (no UpSampling2D)
  dense_bottleneck         Flatten, Dense(16), Dense, Reshape between encoder and decoder
  subclassed_weights.h5    a subclassed Model: Keras 2 cannot save it as a whole .h5, only its weights

reference.npz holds what each model computes in Keras 2 for a few fixed images (`probe`), so that
the tests can check that Keras 3 rebuilt the same network with the same weights. (Keras 2 saves a
subclassed model whole only as a TensorFlow SavedModel folder, which Keras 3 cannot load; the
tests refuse such a folder without needing one made here.)
"""
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tf_keras as keras  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "keras2")
L = keras.layers


def encoder_layers():
    return [L.Conv2D(4, 3, activation="relu", padding="same"), L.MaxPooling2D(2),
            L.Conv2D(8, 3, activation="relu", padding="same"), L.MaxPooling2D(2)]


def decoder_layers():
    return [L.Conv2D(8, 3, activation="relu", padding="same"), L.UpSampling2D(2),
            L.Conv2D(4, 3, activation="relu", padding="same"), L.UpSampling2D(2),
            L.Conv2D(1, 3, activation="sigmoid", padding="same")]


class Autoencoder(keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder = keras.Sequential(encoder_layers())
        self.decoder = keras.Sequential(decoder_layers())

    def call(self, x):
        return self.decoder(self.encoder(x))


def shapes():
    """name -> a model (compiled, as programs save them)."""
    images = keras.backend.zeros((2, 28, 28, 1))
    models = {
        "sequential_input_layer": keras.Sequential([L.InputLayer((28, 28, 1))] + encoder_layers() + decoder_layers()),
        "sequential_input_shape": keras.Sequential([L.Conv2D(4, 3, activation="relu", padding="same",
                                                             input_shape=(28, 28, 1)), L.MaxPooling2D(2),
                                                    L.Conv2D(8, 3, activation="relu", padding="same"),
                                                    L.MaxPooling2D(2)] + decoder_layers()),
    }
    built = keras.Sequential(encoder_layers() + decoder_layers())
    built.build((None, 28, 28, 1))
    models["sequential_built"] = built
    called = keras.Sequential(encoder_layers() + decoder_layers())
    called(images)
    models["sequential_called"] = called
    never_called = keras.Sequential([keras.Sequential(encoder_layers(), name="encoder"),
                                     keras.Sequential(decoder_layers(), name="decoder")], name="autoencoder")
    never_called.compile(optimizer="adam", loss="binary_crossentropy")
    never_called.fit(images, images, epochs=1, verbose=0)  # built by training on arrays, never called on an Input
    models["nested_never_called"] = never_called
    nested = keras.Sequential([keras.Sequential(encoder_layers(), name="encoder"),
                               keras.Sequential(decoder_layers(), name="decoder")], name="autoencoder")
    nested(images)
    models["nested_sequential"] = nested
    inputs = keras.Input((28, 28, 1))
    encoder = keras.Model(inputs, keras.Sequential(encoder_layers())(inputs), name="encoder")
    code = keras.Input((7, 7, 8))
    decoder = keras.Model(code, keras.Sequential(decoder_layers())(code), name="decoder")
    models["nested_functional"] = keras.Model(inputs, decoder(encoder(inputs)), name="autoencoder")
    models["conv_transpose"] = keras.Sequential(
        [L.InputLayer((28, 28, 1))] + encoder_layers() +
        [L.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same"),
         L.Conv2DTranspose(4, 3, strides=2, activation="relu", padding="same"),
         L.Conv2D(1, 3, activation="sigmoid", padding="same")])
    models["dense_bottleneck"] = keras.Sequential(
        [L.InputLayer((28, 28, 1))] + encoder_layers() +
        [L.Flatten(), L.Dense(16, activation="relu", name="latent"), L.Dense(7 * 7 * 8, activation="relu"),
         L.Reshape((7, 7, 8))] + decoder_layers())
    for model in models.values():
        model.compile(optimizer="adam", loss="binary_crossentropy")
    return models


def probe():
    """Four fixed 28x28 images of sparse strokes (what the references are computed on)."""
    return np.clip(np.random.default_rng(0).random((4, 28, 28, 1)) * 3 - 2, 0, 1).astype(np.float32)


def main():
    keras.utils.set_random_seed(0)
    os.makedirs(OUT, exist_ok=True)
    references = {}
    for name, model in shapes().items():
        model.save(os.path.join(OUT, f"{name}.h5"))
        references[name] = model.predict(probe(), verbose=0)
        print(f"wrote {name}.h5")
    subclassed = Autoencoder()
    subclassed.compile(optimizer="adam", loss="binary_crossentropy")
    subclassed(keras.backend.zeros((2, 28, 28, 1)))
    subclassed.save_weights(os.path.join(OUT, "subclassed_weights.h5"))
    print("wrote subclassed_weights.h5")
    np.savez_compressed(os.path.join(OUT, "reference.npz"), probe=probe(), **references)
    print("wrote reference.npz")


if __name__ == "__main__":
    main()
