"""Training and inference speed of the project's models against the same networks in plain Keras.

usage: python benchmarks/throughput.py [--quick]     (needs `pip install -r benchmarks/requirements.txt`)

For each workload, in one process and in alternating repetitions, it times
  (a) the project's model as autoencoder.py / classification.py build and train it,
  (b) the same network in plain Keras 2 (tf_keras), and
  (c) the same network in plain Keras 3 layers,
all fed by the same tf.data pipeline, and prints medians, the ratios a/b and a/c, and the share
of the machine's fp32 matmul peak. Without --quick it also measures the peak memory of a real
autoencoder.py run on the full MNIST in datasets/mnist (skipped when absent).
"""
import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from convae import classifier, training  # noqa: E402
from convae.backend import keras, tensorflow  # noqa: E402
from benchmarks.common import mnist_dir  # noqa: E402
from convae.encoder import extract_encoder  # noqa: E402
from convae.networks import (build_autoencoder, build_classifier, compile_autoencoder, compile_classifier,  # noqa: E402
                             default_filters, default_pooling)

ORIGINAL = {"layers": 2, "filters": [128, 256], "kernel": [3, 3], "dropout": 0.2, "batch_size": 64}
DEFAULT = {"layers": 3, "filters": default_filters(3), "kernel": [3, 3, 3], "dropout": 0.1, "batch_size": 64}
MNIST = mnist_dir()


def plain_autoencoder(lib, cfg):
    """The project's architecture in `lib`'s stock layers (tf_keras or keras)."""
    L = lib.layers
    inputs = lib.Input((28, 28, 1))
    x = inputs
    blocks = list(zip(cfg["filters"], cfg["kernel"]))
    for i, (f, k) in enumerate(blocks):
        x = L.BatchNormalization()(L.Conv2D(f, k, padding="same", activation="relu")(x))
        x = L.MaxPooling2D(2)(x) if i + 1 in default_pooling(cfg["layers"]) else x
        x = L.Dropout(cfg["dropout"])(x)
    for i, (f, k) in reversed(list(enumerate(blocks))):
        x = L.BatchNormalization()(L.Conv2D(f, k, padding="same", activation="relu")(x))
        x = L.UpSampling2D(2)(x) if i + 1 in default_pooling(cfg["layers"]) else x
        x = L.Dropout(cfg["dropout"])(x)
    outputs = L.Conv2D(1, cfg["kernel"][0], padding="same", activation="sigmoid")(x)
    model = lib.Model(inputs, outputs)
    model.compile(optimizer=lib.optimizers.Adam(1e-3), loss="binary_crossentropy")
    return model


def plain_classifier(lib, cfg, units=128):
    """The project's stage-2 classifier in stock layers: encoder without dropout, BN frozen."""
    L = lib.layers
    inputs = lib.Input((28, 28, 1))
    x = inputs
    for i, (f, k) in enumerate(zip(cfg["filters"], cfg["kernel"])):
        bn = L.BatchNormalization()
        bn.trainable = False
        x = bn(L.Conv2D(f, k, padding="same", activation="relu")(x))
        x = L.MaxPooling2D(2)(x) if i + 1 in default_pooling(cfg["layers"]) else x
    x = L.Dense(units, use_bias=False)(L.Flatten()(x))
    x = L.Dropout(0.5)(L.Activation("relu")(L.LayerNormalization()(x)))
    model = lib.Model(inputs, L.Dense(10, activation="softmax")(x))
    model.compile(optimizer=lib.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    return model


def project_autoencoder(cfg):
    model = build_autoencoder((28, 28), cfg["layers"], cfg["kernel"], cfg["filters"], cfg["dropout"])
    compile_autoencoder(model)
    return model


def project_classifier(cfg, units=128):
    """As classification.py builds it for stage 2 (the encoder unfrozen, its BN frozen)."""
    encoder, _ = extract_encoder(project_autoencoder(cfg))
    encoder = classifier.fresh_encoder(encoder)
    model = build_classifier(encoder, 10, units, 0.5)
    classifier.unfreeze_encoder(encoder)
    compile_classifier(model, 1e-4)
    return model


def conv_flops(model):
    """Forward multiply-adds x 2 of the Conv2D and Dense layers, per image."""
    total = 0
    for layer in _all_layers(model):
        kind = type(layer).__name__
        if kind == "Conv2D":
            h, w, cout = layer.output.shape[1:]
            kh, kw, cin, _ = layer.kernel.shape
            total += 2 * h * w * cout * kh * kw * cin
        elif kind == "Dense":
            total += 2 * int(np.prod(layer.kernel.shape))
    return total


def _all_layers(model):
    for layer in model.layers:
        yield from (_all_layers(layer) if hasattr(layer, "layers") else [layer])


def matmul_peak(seconds):
    """fp32 GFLOP/s of a large tf.matmul, the best of a few runs."""
    tf = tensorflow()
    a = tf.random.normal((2048, 2048))
    best = 0.0
    (a @ a).numpy()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        c = a
        for _ in range(4):
            c = tf.matmul(a, c)
        c.numpy()
        best = max(best, 4 * 2 * 2048 ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def time_training(models, x, y, batch_size, reps):
    """images/s of model.fit over (x, y), alternating the models, medians over `reps`."""
    data = lambda: training.batches(x, y, batch_size, seed=0)  # noqa: E731
    for model in models.values():
        model.fit(data().take(2), epochs=1, verbose=0)  # trace and warm up
    rates = {name: [] for name in models}
    for _ in range(reps):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(data(), epochs=1, verbose=0)
            rates[name].append(len(x) / (time.perf_counter() - start))
    return {name: float(np.median(r)) for name, r in rates.items()}


def time_inference(models, x, reps):
    for model in models.values():
        model.predict(x[:512], batch_size=256, verbose=0)
    rates = {name: [] for name in models}
    for _ in range(reps):
        for name, model in models.items():
            start = time.perf_counter()
            model.predict(x, batch_size=256, verbose=0)
            rates[name].append(len(x) / (time.perf_counter() - start))
    return {name: float(np.median(r)) for name, r in rates.items()}


def report(title, rates, flops, peak, train=True):
    a, b, c = rates["a"], rates["b"], rates["c"]
    share = a * flops * (3 if train else 1) / 1e9 / peak
    print(f"{title:44s} a {a:7.0f}  b {b:7.0f}  c {c:7.0f} img/s   a/b {a / b:4.2f}  a/c {a / c:4.2f}  "
          f"a: {share:4.0%} of peak")


def peak_memory():
    """Max RSS of autoencoder.py training the original configuration on the full 60,000 images."""
    images = os.path.join(MNIST, "train-images-idx3-ubyte.gz")
    if not os.path.exists(images):
        return None
    out = os.path.join(REPO, "runs", "benchmark-memory")
    args = [sys.executable, os.path.join(REPO, "autoencoder.py"), "-d", images, "--no-input", "--epochs", "1",
            "--layers", "2", "--filters", "128,256", "--kernel", "3", "--dropout", "0.2", "--batch-size", "64",
            "--output-dir", out]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB on Linux


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions; no memory run (< 1 min)")
    args = parser.parse_args()
    k = keras()  # first, so that TensorFlow's start-up noise is silenced
    import tf_keras
    steps, reps = (6, 3) if args.quick else (30, 5)
    rng = np.random.default_rng(0)
    peak = matmul_peak(2 if args.quick else 5)
    print(f"fp32 matmul peak: {peak:.0f} GFLOP/s; {steps} steps per repetition, medians of {reps}")
    for title, cfg in (("autoencoder training, original (128,256)", ORIGINAL),
                       (f"autoencoder training, default ({','.join(map(str, DEFAULT['filters']))})", DEFAULT)):
        x = rng.random((steps * cfg["batch_size"], 28, 28, 1), dtype=np.float32)
        models = {"a": project_autoencoder(cfg), "b": plain_autoencoder(tf_keras, cfg), "c": plain_autoencoder(k, cfg)}
        report(title, time_training(models, x, x, cfg["batch_size"], reps), conv_flops(models["c"]), peak)
    x = rng.random((steps * 64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    models = {"a": project_classifier(DEFAULT), "b": plain_classifier(tf_keras, DEFAULT),
              "c": plain_classifier(k, DEFAULT)}
    report("classifier stage 2 (fine-tuning), default", time_training(models, x, y, 64, reps),
           conv_flops(models["c"]), peak)
    x = rng.random((2000 if args.quick else 10000, 28, 28, 1), dtype=np.float32)
    models = {"a": project_autoencoder(DEFAULT), "b": plain_autoencoder(tf_keras, DEFAULT),
              "c": plain_autoencoder(k, DEFAULT)}
    report(f"autoencoder inference, default, {len(x)} images", time_inference(models, x, reps),
           conv_flops(models["c"]), peak, train=False)
    if args.quick:
        print("peak memory: measured without --quick")
    else:
        mib = peak_memory()
        print("peak memory: full MNIST absent, skipped" if mib is None else
              f"peak memory (max RSS) of autoencoder.py, original configuration, 60,000 images: {mib:.0f} MiB")


if __name__ == "__main__":
    main()
