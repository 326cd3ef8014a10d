"""What autoencoder.py and classification.py share, in one importable place.

    import utilities
    images = utilities.read_idx_images("datasets/sample/train-images-idx3-ubyte.gz")  # (N, 28, 28) uint8

The code lives in the `convae` package, one module per concern (idx files, flags and prompts,
preprocessing, networks, plots, records); this module gathers the names that users and tests
reach for. Importing it does not import TensorFlow.
"""
from convae.cli import ask_file, make_parser, normalize_argv, resolve
from convae.data import (check_classes, check_pair, check_same_size, load_images, load_labels, split_indices,
                         to_float)
from convae.errors import EndOfInput, UserError
from convae.idx import read_idx, read_idx_images, read_idx_labels, write_idx
from convae.params import Param, integer, integer_list, real
from convae.prompts import Prompter

__all__ = ["EndOfInput", "Param", "Prompter", "UserError", "ask_file", "check_classes", "check_pair",
           "check_same_size", "integer", "integer_list", "load_images", "load_labels", "make_parser",
           "normalize_argv", "read_idx", "read_idx_images", "read_idx_labels", "real", "resolve",
           "split_indices", "to_float", "write_idx"]
