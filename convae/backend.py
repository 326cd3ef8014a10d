"""Import Keras once, quietly, on the backend the user chose, and seed it.

Keras 3 runs the same model on TensorFlow (the default here), JAX or PyTorch: set KERAS_BACKEND
to jax or torch to use them.
"""
import contextlib
import logging
import os
import sys
import warnings

def name():
    """The Keras backend these programs run on: KERAS_BACKEND, TensorFlow where it is not set."""
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


# Read by TensorFlow when it starts; a user's own setting wins. oneDNN's kernels are what make
# convolutions fast on a CPU, and TensorFlow 2.21 leaves them off by default on some CPUs (docs/speed.md).
CPU_SETTINGS = {"TF_ENABLE_ONEDNN_OPTS": "1"}


def keras(verbose=False):
    """Return the keras module. The first call imports the backend, with its start-up noise and
    warnings silenced unless `verbose` (--verbose); later calls return the module."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("KERAS_BACKEND", name())
    for variable, value in CPU_SETTINGS.items():
        os.environ.setdefault(variable, value)
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with contextlib.nullcontext() if verbose else _stderr_silenced():
        if name() == "tensorflow":
            import tensorflow as tf
            tf.config.list_physical_devices()  # device discovery logs its own messages: do it now
            tf.zeros(1)
        import keras as keras_module
    if name() != "tensorflow" and "tensorflow" not in sys.modules:
        from convae import internals
        internals.hide_tensorflow_from_keras()
    if not verbose:
        logging.getLogger("absl").setLevel(logging.ERROR)
        if "tensorflow" in sys.modules:
            sys.modules["tensorflow"].get_logger().setLevel(logging.ERROR)
        for module in ("keras", "tensorflow", "jax", "torch"):
            warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")
    return keras_module


def tensorflow():
    """Return the tensorflow module, for the TensorFlow backend's fast paths (imported quietly)."""
    keras()
    import tensorflow as tf
    return tf


def is_tensorflow():
    return keras().backend.backend() == "tensorflow"


def seed_everything(seed):
    """Seed Python, NumPy and the backend so that a run can be repeated."""
    keras().utils.set_random_seed(seed)


def version():
    """The backend's name and version (and under TensorFlow, whether its oneDNN kernels are on), for the record."""
    backend = keras().backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    found = {"backend": backend, backend: sys.modules[module].__version__ if module in sys.modules else None}
    if backend == "tensorflow":
        from convae import internals
        found["onednn"] = internals.onednn_enabled()
    return found


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
