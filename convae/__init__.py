"""Building blocks of the MNIST convolutional autoencoder and classifier.

The command-line scripts at the top of the repository are thin; the work is done here, one
concern per module. Importing this package imports neither TensorFlow nor matplotlib: the
modules that need them import them when first used, so that `--help` and file checks are fast.
"""
import importlib.util as _util
import os as _os

# The third-party packages of requirements.txt (import name: package name), with the Keras backend
# chosen (KERAS_BACKEND; TensorFlow by default). Without one of them the scripts would end in a
# ModuleNotFoundError traceback, possibly after minutes of training; checking that they are
# installed costs no import.
_BACKEND = _os.environ.get("KERAS_BACKEND") or "tensorflow"
_REQUIRED = {"numpy": "numpy", "h5py": "h5py", _BACKEND: {"torch": "torch"}.get(_BACKEND, _BACKEND), "keras": "keras",
             "matplotlib": "matplotlib", "sklearn": "scikit-learn"}
_missing = [package for module, package in _REQUIRED.items() if _util.find_spec(module) is None]
if _missing:
    raise SystemExit(f"error: this Python lacks {', '.join(_missing)}; "
                     "install the requirements with: python -m pip install -r requirements.txt")
