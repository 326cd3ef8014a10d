"""Load an autoencoder (`.h5` or `.keras`) and take its encoder, whoever wrote the file."""
import json
import os
import zipfile

from convae import internals
from convae.backend import keras
from convae.data import shape_text
from convae.errors import UserError, first_line
from convae.networks import BOTTLENECK

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"  # a Keras 3 native .keras file is a zip archive
_NAMED_CODES = (BOTTLENECK, "encoder", "encoded", "latent", "code")  # names other programs give the code
_WIDENING = ("UpSampling2D", "Conv2DTranspose")


def load_autoencoder(path, image_shape=(28, 28, 1)):
    """Load an autoencoder from an .h5 or .keras file, with a one-line UserError for every kind of bad file.

    It comes back as one functional chain of its layers (nested models opened up) called on an
    Input: Keras 3 loads a Keras 2 Sequential as a model "never called" on any input, and a model
    nested in another keeps its own inner input; neither lets a part of it be taken. The input
    has the model's own image shape where it records one, else `image_shape` (the data's).
    """
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            raise UserError(f"{path}: a TensorFlow SavedModel folder (Keras 2's format for subclassed models), which "
                            "Keras 3 cannot rebuild; save the model with model.save('NAME.h5') or as .keras instead")
        raise UserError(f"{path}: is a directory, expected a model file (.h5 or .keras)")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None
    keras2 = False
    if head == _HDF5_SIGNATURE:
        keras2 = _check_hdf5(path)
    elif head.startswith(_ZIP_SIGNATURE):
        _check_keras_archive(path)
    else:
        raise UserError(f"{path}: neither an HDF5 (.h5) nor a Keras (.keras) file; expected an autoencoder saved "
                        "with model.save")
    try:
        model = _load_keras2(path) if keras2 else keras().models.load_model(path, compile=False)
        return _as_chain(model, image_shape, path)
    except UserError:
        raise
    except Exception as e:  # Keras raises many types for files it cannot rebuild a model from
        raise UserError(f"{path}: cannot load the model ({first_line(e)})") from None


def _check_hdf5(path):
    """Refuse a damaged file or one of weights only; return whether Keras 2 wrote it."""
    try:
        import h5py
        with h5py.File(path, "r") as f:
            has_config = "model_config" in f.attrs
            version = f.attrs.get("keras_version", b"")
    except OSError as e:
        raise UserError(f"{path}: damaged or truncated HDF5 file ({first_line(e)})") from None
    if not has_config:
        raise UserError(f"{path}: holds weights only (saved with save_weights), not a model; "
                        "expected a whole model saved with model.save")
    return (version.decode() if isinstance(version, bytes) else str(version)).startswith("2.")


def _load_keras2(path):
    """A Keras 2 .h5 model, rebuilt by Keras 3 from its configuration with two differences mended:

    - Keras 2 counts a nested model's own construction as its first node, Keras 3 does not, so a
      model called inside another is referred to by a node index one too high ("list index out
      of range" when Keras 3 loads it);
    - Keras 2's Conv2DTranspose records `groups`, which Keras 3's does not take.
    """
    import h5py
    keras()
    with h5py.File(path, "r") as f:
        config = f.attrs["model_config"]
        config = _renumber_nested_nodes(json.loads(config.decode() if isinstance(config, bytes) else config))
        return internals.load_keras2_model(config, f["model_weights"], {"Conv2DTranspose": _conv2d_transpose()})


_MODELS = ("Functional", "Model", "Sequential")


def _renumber_nested_nodes(config):
    inner = config.get("config", {})
    layers = inner.get("layers", []) if isinstance(inner, dict) else []
    nested = {layer["config"]["name"] for layer in layers if layer.get("class_name") in _MODELS}
    references = [ref for layer in layers for node in layer.get("inbound_nodes", []) for ref in node]
    references += [ref for key in ("input_layers", "output_layers") for ref in (inner.get(key) or [])
                   if isinstance(ref, list)] if isinstance(inner, dict) else []
    for ref in references:
        if isinstance(ref, list) and len(ref) > 1 and ref[0] in nested and ref[1] > 0:
            ref[1] -= 1
    for layer in layers:
        if layer.get("class_name") in _MODELS:
            _renumber_nested_nodes(layer)
    return config


def _conv2d_transpose():
    class Conv2DTranspose(keras().layers.Conv2DTranspose):
        def __init__(self, *args, groups=1, **kwargs):
            if groups != 1:
                raise ValueError(f"Conv2DTranspose with groups={groups}")
            super().__init__(*args, **kwargs)
    return Conv2DTranspose


def _check_keras_archive(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise UserError(f"{path}: damaged or truncated .keras file ({first_line(e)})") from None
    if damaged is not None:
        raise UserError(f"{path}: damaged .keras file ({damaged} is corrupt)")
    if "config.json" not in names:
        raise UserError(f"{path}: a zip archive without config.json, not a Keras model file")


def extract_encoder(model, path="model"):
    """Return (encoder, description): the part of an autoencoder (from load_autoencoder) that maps
    images to the code: up to the layer named bottleneck (or encoder, encoded, latent, code), else
    the layers before the first one that widens the image (UpSampling2D, Conv2DTranspose)."""
    k = keras()
    in_shape, out_shape = tuple(model.input_shape[1:]), tuple(model.output_shape[1:])
    if len(in_shape) != 3 or in_shape != out_shape:
        raise UserError(f"{path}: not an autoencoder: it maps {shape_text(in_shape)} inputs to {shape_text(out_shape)} "
                        "outputs; expected images in and images of the same size out")
    layers = model.layers[1:]  # a chain after its Input
    named = [i for i, layer in enumerate(layers) if layer.name in _NAMED_CODES]
    widening = [i for i, layer in enumerate(layers) if type(layer).__name__ in _WIDENING]
    # where a nested model (a decoder saved as a model of its own) holds the first widening layer,
    # the encoder ends where that model begins
    nested = [start for start, end in getattr(model, "nested_models", []) if widening and start <= widening[0] < end]
    if named:
        last = named[0]
    elif widening and (nested[-1] if nested else widening[0]) > 0:
        last = (nested[-1] if nested else widening[0]) - 1
    else:
        raise UserError(f"{path}: cannot find the encoder: no layer named {BOTTLENECK!r} and no UpSampling2D "
                        "or Conv2DTranspose where the decoder starts")
    inputs = k.Input(in_shape, name="image")
    x = inputs
    for layer in layers[:last + 1]:
        x = layer(x)
    encoder = k.Model(inputs, x, name="encoder")
    return encoder, f"encoder: {last + 1} layers, output {shape_text(encoder.output_shape[1:])}"


def _as_chain(model, image_shape, path):
    """The model's leaf layers called one after the other on a new Input, checked to compute what
    the model computes (a model with branches or skips is refused rather than cut wrongly)."""
    import numpy as np
    k = keras()
    nested = []
    leaves = list(_leaves(model, nested))
    shape = _input_shape(model) or tuple(image_shape)
    not_a_chain = UserError(f"{path}: its layers do not form a chain (branches or skip connections), so no "
                            "encoder can be cut from it")
    inputs = k.Input(shape, name="image")
    x = inputs
    try:
        for layer in leaves:
            x = layer(x)
    except Exception:
        raise not_a_chain from None
    chain = k.Model(inputs, x, name=model.name)
    chain.nested_models = nested  # (first, last + 1) leaf of each nested model, for extract_encoder
    probe = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    try:
        expected = k.ops.convert_to_numpy(model(probe, training=False))
    except Exception:  # a model that cannot be called on its own (never built): the chain is all there is
        return chain
    if not np.allclose(k.ops.convert_to_numpy(chain(probe, training=False)), expected, atol=1e-5):
        raise not_a_chain
    return chain


def _leaves(model, nested, count=0):
    """The layers of `model` in order, nested models opened up (their spans appended to `nested`),
    Input layers left out."""
    for layer in model.layers:
        if isinstance(layer, keras().Model):
            inner = list(_leaves(layer, nested, count))
            nested.append((count, count + len(inner)))
            count += len(inner)
            yield from inner
        elif type(layer).__name__ != "InputLayer":
            count += 1
            yield layer


def _input_shape(model):
    """The image shape a model records for its input, if it records one."""
    for get in (lambda: model.input_shape, lambda: model.layers[0].batch_shape,
                lambda: internals.recorded_input_shape(model)):
        try:
            shape = tuple(get())[1:]
        except Exception:
            continue
        if len(shape) == 3 and all(n is not None for n in shape):
            return shape
    return None


def check_fits(encoder, image_shape, path="model"):
    """The encoder must take images of the data's size (image_shape is (rows, cols, channels))."""
    expected = tuple(encoder.input_shape[1:])
    if any(e is not None and e != g for e, g in zip(expected, image_shape)) or len(expected) != len(image_shape):
        raise UserError(f"{path}: the encoder takes {shape_text(expected)} images, but the data holds "
                        f"{shape_text(image_shape)} images")
