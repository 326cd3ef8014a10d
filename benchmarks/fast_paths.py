"""What the TensorFlow-only fast path in convae/layers.py (the fused BatchNormalization kernel)
still gives, end to end in training.

usage: python benchmarks/fast_paths.py [--reps 5] [--steps 24]

Times, in one process and in alternating repetitions, the project's training step as the scripts
run it, with the fused kernel and with Keras's own BatchNormalization code, on the recipe's
autoencoder, the default autoencoder (BatchNormalization trains in both) and the recipe's
classifier in stage 2 (its BatchNormalization frozen: the fused path does not run, a control).
The path is switched off while its model is built and its training step traced, which is when the
layer chooses. Prints medians of images per second and the ratio to the fused kernel.
(A second path, dropout masks from 16-bit random integers, measured 0.97x to 1.01x here and was
removed: docs/speed.md.)
"""
import argparse
import contextlib
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from convae import batching, classifier, layers  # noqa: E402
from convae.backend import keras  # noqa: E402
from convae.encoder import extract_encoder  # noqa: E402
from convae.networks import build_autoencoder, build_classifier, compile_autoencoder, compile_classifier  # noqa: E402

RECIPE = dict(layers=5, kernel=[3] * 5, filters=[32, 32, 64, 64, 128], dropout=0.1, pooling=[2, 4])
DEFAULT = dict(layers=3, kernel=[3] * 3, filters=[32, 64, 128], dropout=0.1, pooling=[1, 2])
VARIANTS = {"fused": True, "Keras's BatchNormalization": False}


@contextlib.contextmanager
def fused_path(on):
    """The fused kernel on or off for the models built and traced inside."""
    saved = layers.BatchNormalization._fused
    if not on:
        layers.BatchNormalization._fused = lambda self, inputs: False
    try:
        yield
    finally:
        layers.BatchNormalization._fused = saved


def autoencoder(cfg):
    model = build_autoencoder((28, 28), cfg["layers"], cfg["kernel"], cfg["filters"], cfg["dropout"], cfg["pooling"])
    compile_autoencoder(model)
    return model


def stage_2(cfg):
    encoder = classifier.fresh_encoder(extract_encoder(autoencoder(cfg))[0], 0.25)
    model = build_classifier(encoder, 10, 128, 0.3, augment=(0.1, 10.0, 0.1))
    classifier.unfreeze_encoder(encoder, "frozen", 0.25)
    compile_classifier(model, 1e-3, 1000)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="alternating repetitions (default: 5)")
    parser.add_argument("--steps", type=int, default=24, help="training steps per repetition, batch 64 (default: 24)")
    args = parser.parse_args()
    keras()
    rng = np.random.default_rng(0)
    x = rng.random((args.steps * 64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    workloads = {"recipe autoencoder": (lambda: autoencoder(RECIPE), x),
                 "default autoencoder": (lambda: autoencoder(DEFAULT), x),
                 "recipe classifier, stage 2": (lambda: stage_2(RECIPE), y)}

    def batches(target, n):
        return batching.training_batches(x[:n * 64], target[:n * 64], 64, 0, 0, 1)
    print(f"images per second, medians of {args.reps} alternating repetitions of {args.steps} steps at batch 64")
    print(f"{'workload':28s}" + "".join(f"  {name:>28s}" for name in VARIANTS))
    for title, (build, target) in workloads.items():
        models = {}
        for name, on in VARIANTS.items():
            with fused_path(on):
                models[name] = build()
                models[name].fit(batches(target, 2), steps_per_epoch=2, verbose=0)  # traced here
        rates = {name: [] for name in VARIANTS}
        for _ in range(args.reps):
            for name, model in models.items():
                start = time.perf_counter()
                model.fit(batches(target, args.steps), steps_per_epoch=args.steps, verbose=0)
                rates[name].append(len(x) / (time.perf_counter() - start))
        base = np.median(rates["fused"])
        print(f"{title:28s}" + "".join(f"{np.median(r):9.0f} ({np.median(r) / base:4.2f}x)".rjust(30)
                                       for r in rates.values()), flush=True)


if __name__ == "__main__":
    main()
