"""The one place where the project reaches into Keras's and TensorFlow's internals.

Each function here stands in for something the public APIs do not offer. When an upgrade moves
one of them, it fails here, with a message naming the internal and the versions it was written
for, rather than somewhere deep in training (tests/test_internals.py checks every one).
"""
import importlib

TESTED_WITH = "Keras 3.15 and TensorFlow 2.21"


class InternalMoved(RuntimeError):
    """A Keras or TensorFlow internal that this module relies on is no longer where it was."""


def _module(name):
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise InternalMoved(f"{name} is gone ({e}); convae/internals.py was written for {TESTED_WITH}") from None


def _attribute(owner, name, where):
    try:
        return getattr(owner, name)
    except AttributeError:
        raise InternalMoved(f"{where}.{name} is gone; convae/internals.py was written for {TESTED_WITH}") from None


def onednn_enabled():
    """Whether TensorFlow runs its oneDNN kernels in this process (TF_ENABLE_ONEDNN_OPTS, or its
    default for this CPU); TensorFlow says so only in a start-up log line otherwise."""
    name = "tensorflow.python.util._pywrap_util_port"
    return bool(_attribute(_module(name), "IsMklEnabled", name)())
