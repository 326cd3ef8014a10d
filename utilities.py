"""The project's functions for use outside the two scripts: a notebook, a test, another program.

    import utilities as u
    images = u.read_idx_images("datasets/sample/train-images-idx3-ubyte.gz")  # (N, 28, 28) uint8
    x = u.to_float(images)                                                     # (N, 28, 28, 1) in [0, 1]
    model = u.build_autoencoder((28, 28), layers=3, kernel=[3] * 3, filters=[32, 64, 128], dropout=0.1)
    u.compile_autoencoder(model)
    model.fit(x, x, epochs=1, batch_size=64)
    u.save_model(model, "models/mine.h5", {"note": "trained in a notebook"})  # + models/mine.json
    encoder, note = u.extract_encoder(u.load_autoencoder("models/mine.h5"))

The code lives in the `convae` package, one module per concern; this module gathers what a user
reaches for. Importing it does not import TensorFlow: the functions that need it import it when
first called.
"""
from convae.data import split_indices, to_float
from convae.encoder import extract_encoder, load_autoencoder
from convae.errors import UserError
from convae.idx import read_idx_images, read_idx_labels, write_idx
from convae.networks import build_autoencoder, build_classifier, compile_autoencoder, compile_classifier
from convae.records import save_model

__all__ = ["UserError", "build_autoencoder", "build_classifier", "compile_autoencoder", "compile_classifier",
           "extract_encoder", "load_autoencoder", "read_idx_images", "read_idx_labels", "save_model",
           "split_indices", "to_float", "write_idx"]
