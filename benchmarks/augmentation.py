"""The classifier's augmentation (RandomAffine, one resampling) against Keras's three stock layers.

usage: python benchmarks/augmentation.py [--images N] [--repeats K]

Both draw shifts of up to 10%, rotations of up to 10 degrees and zooms of up to 10%, the
defaults of classification.py. Prints, for the MNIST test images in datasets/mnist
(random sparse images where it is absent), the ink sharpness (mean over images of
sum(x^2) / sum(x): 1 for pure black and white strokes, lower as resampling smears them) of the
originals and of each augmentation, and the median time per batch of 64 images of each, with
the ratio, from alternating repetitions in one process.
"""
import argparse
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from convae.backend import keras, tensorflow  # noqa: E402
from convae.layers import RandomAffine  # noqa: E402
from benchmarks.common import mnist_dir  # noqa: E402

MNIST = os.path.join(mnist_dir(), "t10k-images-idx3-ubyte.gz")


def sharpness(images):
    images = np.asarray(images, dtype=np.float64)
    return float(np.mean((images ** 2).sum(axis=(1, 2, 3)) / np.maximum(images.sum(axis=(1, 2, 3)), 1e-9)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    k, tf = keras(), tensorflow()
    k.utils.set_random_seed(0)
    if os.path.exists(MNIST):
        from convae.idx import read_idx_images
        x = read_idx_images(MNIST)[:args.images].astype(np.float32)[..., None] / 255.0
        source = f"{len(x)} MNIST test images"
    else:
        x = np.clip(np.random.default_rng(0).random((args.images, 28, 28, 1)) * 4 - 3, 0, 1).astype(np.float32)
        source = f"{len(x)} random images (no MNIST at {MNIST})"
    stock = k.Sequential([k.layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
                          k.layers.RandomRotation(10 / 360, fill_mode="constant"),
                          k.layers.RandomZoom(0.1, fill_mode="constant")])
    ours = RandomAffine(0.1, 10, 0.1)
    print(f"{source}; ink sharpness (1 = black and white):")
    print(f"  originals          {sharpness(x):.3f}")
    print(f"  Keras's 3 layers   {sharpness(stock(x, training=True)):.3f}")
    print(f"  RandomAffine       {sharpness(ours(x, training=True)):.3f}")

    batches = [tf.constant(x[i:i + 64]) for i in range(0, len(x) - 63, 64)]
    runs = {"stock": tf.function(lambda b: stock(b, training=True)),
            "ours": tf.function(lambda b: ours(b, training=True))}
    times = {name: [] for name in runs}
    for f in runs.values():
        f(batches[0])
    for _ in range(args.repeats):
        for name, f in runs.items():
            start = time.perf_counter()
            for b in batches:
                f(b).numpy()
            times[name].append((time.perf_counter() - start) / len(batches))
    stock_ms, ours_ms = (1e3 * float(np.median(times[n])) for n in ("stock", "ours"))
    print(f"time per batch of 64 (median of {args.repeats}): Keras's 3 layers {stock_ms:.2f} ms, "
          f"RandomAffine {ours_ms:.2f} ms, ratio {stock_ms / ours_ms:.2f}x")


if __name__ == "__main__":
    main()
