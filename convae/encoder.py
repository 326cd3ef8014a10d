"""Load an autoencoder (`.h5` or `.keras`) and take its encoder, whoever wrote the file."""
import os
import zipfile

from convae.backend import keras
from convae.errors import UserError
from convae.networks import BOTTLENECK

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"  # a Keras 3 native .keras file is a zip archive
_NAMED_CODES = (BOTTLENECK, "encoder", "encoded", "latent", "code")  # names other programs give the code
_WIDENING = ("UpSampling2D", "Conv2DTranspose")


def load_autoencoder(path):
    """Load a whole model from an .h5 or .keras file, with a one-line UserError for every kind of bad file."""
    if os.path.isdir(path):
        raise UserError(f"{path}: is a directory, expected a model file (.h5 or .keras)")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None
    if head == _HDF5_SIGNATURE:
        _check_hdf5(path)
    elif head.startswith(_ZIP_SIGNATURE):
        _check_keras_archive(path)
    else:
        raise UserError(f"{path}: neither an HDF5 (.h5) nor a Keras (.keras) file; expected an autoencoder saved "
                        "with model.save")
    try:
        return keras().models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for files it cannot rebuild a model from
        raise UserError(f"{path}: cannot load the model ({_first_line(e)})") from None


def _check_hdf5(path):
    try:
        import h5py
        with h5py.File(path, "r") as f:
            has_config = "model_config" in f.attrs
    except OSError as e:
        raise UserError(f"{path}: damaged or truncated HDF5 file ({_first_line(e)})") from None
    if not has_config:
        raise UserError(f"{path}: holds weights only (saved with save_weights), not a model; "
                        "expected a whole model saved with model.save")


def _check_keras_archive(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise UserError(f"{path}: damaged or truncated .keras file ({_first_line(e)})") from None
    if damaged is not None:
        raise UserError(f"{path}: damaged .keras file ({damaged} is corrupt)")
    if "config.json" not in names:
        raise UserError(f"{path}: a zip archive without config.json, not a Keras model file")


def extract_encoder(model, path="model"):
    """Return (encoder, description): the part of an autoencoder that maps images to the code."""
    k = keras()
    in_shape, out_shape = tuple(model.input_shape[1:]), tuple(model.output_shape[1:])
    if len(in_shape) != 3 or in_shape != out_shape:
        raise UserError(f"{path}: not an autoencoder: it maps {_shape(in_shape)} inputs to {_shape(out_shape)} "
                        "outputs; expected images in and images of the same size out")
    cut = _named_cut(model) or _structural_cut(model)
    if cut is None:
        raise UserError(f"{path}: cannot find the encoder: no layer named {BOTTLENECK!r} and no UpSampling2D "
                        "or Conv2DTranspose where the decoder starts")
    encoder = k.Model(model.input, cut.output, name="encoder")
    return encoder, f"encoder: {_count_layers(encoder)} layers, output {_shape(encoder.output_shape[1:])}"


def check_fits(encoder, image_shape, path="model"):
    """The encoder must take images of the data's size (image_shape is (rows, cols, channels))."""
    expected = tuple(encoder.input_shape[1:])
    if any(e is not None and e != g for e, g in zip(expected, image_shape)) or len(expected) != len(image_shape):
        raise UserError(f"{path}: the encoder takes {_shape(expected)} images, but the data holds "
                        f"{_shape(image_shape)} images")


def _named_cut(model):
    for name in _NAMED_CODES:
        for layer in model.layers:
            if layer.name == name and not isinstance(layer, keras().Model):
                return layer
    return None


def _structural_cut(model):
    """The last top-level layer before the first widening layer (looking inside nested models)."""
    previous = None
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        if type(layer).__name__ in _WIDENING:
            return previous
        if isinstance(layer, keras().Model) and _widens(layer):
            return previous  # a nested decoder: the encoder ends before it
        previous = layer
    return None


def _widens(model):
    return any(type(l).__name__ in _WIDENING or (isinstance(l, keras().Model) and _widens(l)) for l in model.layers)


def _count_layers(model):
    """Layers with a role (not the input), nested models counted by their own layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras().Model):
            total += _count_layers(layer)
        elif type(layer).__name__ != "InputLayer":
            total += 1
    return total


def _shape(shape):
    return "x".join("?" if n is None else str(n) for n in shape)


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
