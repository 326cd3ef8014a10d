"""Import TensorFlow and Keras once, quietly, and seed them."""
import contextlib
import logging
import os
import sys
import warnings

_verbose = False


def set_verbose(verbose):
    """Let TensorFlow's own log messages and warnings through (--verbose)."""
    global _verbose
    _verbose = verbose


def keras():
    """Return the keras module, importing TensorFlow first with its start-up noise silenced."""
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return sys.modules["keras"]
    if not _verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with contextlib.nullcontext() if _verbose else _stderr_silenced():
        import tensorflow as tf
        import keras as keras_module
        tf.config.list_physical_devices()  # device discovery logs its own messages: do it now
        tf.zeros(1)
    if not _verbose:
        logging.getLogger("absl").setLevel(logging.ERROR)
        tf.get_logger().setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=r"keras(\.|$)")
        warnings.filterwarnings("ignore", module=r"tensorflow(\.|$)")
    return keras_module


def tensorflow():
    """Return the tensorflow module (imported quietly through `keras()`)."""
    keras()
    return sys.modules["tensorflow"]


def seed_everything(seed):
    """Seed Python, NumPy and TensorFlow so that a run can be repeated."""
    keras().utils.set_random_seed(seed)


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to /dev/null: TensorFlow's C++ logs bypass Python's sys.stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
