"""autoencoder.py with BatchNormalization moved from after each convolution to the end of its block,
after the pooling (or upsampling) and the dropout: the other placement the original team tried
(benchmarks/claims.sh, docs/sweeps.md). Every flag is autoencoder.py's; the saved model's encoder is
taken by classification.py like any other.

usage: python benchmarks/bn_after_pooling.py -d IMAGES --no-input --epochs 3 --save AE.h5
"""
import os
import runpy
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from convae import networks  # noqa: E402
from convae.backend import keras  # noqa: E402


def conv_only(x, filters, kernel, name, convolutions="float32"):
    """The block's convolution (in `convolutions`, as --precision chose) without its BatchNormalization."""
    from convae.layers import BFloat16Conv2D
    conv = BFloat16Conv2D if convolutions == "bfloat16" else keras().layers.Conv2D
    return conv(filters, kernel, padding="same", activation="relu", name=name)(x)


def dropout_then_batch_norm(x, rate, name):
    """The block's dropout (if any), then its BatchNormalization: the block's last layer."""
    from convae.layers import BatchNormalization
    x = keras().layers.Dropout(rate, name=name)(x) if rate > 0 else x
    return BatchNormalization(name=f"{name}_bn")(x)


if __name__ == "__main__":
    networks._conv_block = conv_only  # build_autoencoder looks both up when it runs
    networks._dropout = dropout_then_batch_norm
    sys.argv[0] = os.path.join(ROOT, "autoencoder.py")
    runpy.run_path(sys.argv[0], run_name="__main__")
