"""Training and inference speed of the project's models against the same networks in plain Keras,
and across Keras's backends.

usage: python benchmarks/throughput.py [--quick] [--backend {tensorflow,jax,torch,all}]
       (the comparison with Keras 2 needs `pip install -r benchmarks/requirements.txt`)

For each workload, in one process and in alternating repetitions, it times
  (a) the project's model as autoencoder.py / classification.py build and train it,
  (b) the same network in plain Keras 2 (tf_keras; under TensorFlow only), and
  (c) the same network in plain Keras 3 layers,
all fed by the same input pipeline, and prints medians, the ratios a/b and a/c, and the share
of the machine's fp32 matmul peak. `--backend all` runs that once per installed backend, one
after the other, and prints one row per backend. Without --quick it also measures the peak
memory of a real autoencoder.py run on the full MNIST in datasets/mnist (skipped when absent).
"""
import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from convae import batching, classifier  # noqa: E402
from convae.backend import keras  # noqa: E402
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
    """fp32 GFLOP/s of a large matmul on the backend, the best of a few runs."""
    ops = keras().ops
    a = keras().random.normal((2048, 2048))
    best = 0.0
    ops.convert_to_numpy(ops.matmul(a, a))
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        c = a
        for _ in range(4):
            c = ops.matmul(a, c)
        ops.convert_to_numpy(c)
        best = max(best, 4 * 2 * 2048 ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def time_training(models, x, y, batch_size, reps):
    """images/s of model.fit over (x, y), alternating the models, medians over `reps`."""
    steps = -(-len(x) // batch_size)

    def data():
        return batching.training_batches(x, y, batch_size, 0, 0, 1)
    for model in models.values():
        model.fit(data(), steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
    rates = {name: [] for name in models}
    for _ in range(reps):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(data(), steps_per_epoch=steps, epochs=1, verbose=0)
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
    a, c = rates["a"], rates["c"]
    share = a * flops * (3 if train else 1) / 1e9 / peak
    b = f"b {rates['b']:7.0f}  " if "b" in rates else "b       -  "
    ab = f"a/b {a / rates['b']:4.2f}  " if "b" in rates else "a/b    -  "
    print(f"{title:44s} a {a:7.0f}  {b}c {c:7.0f} img/s   {ab}a/c {a / c:4.2f}  a: {share:4.0%} of peak")


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


WORKLOADS = ["autoencoder training, original (128,256)",
             f"autoencoder training, default ({','.join(map(str, DEFAULT['filters']))})",
             "classifier stage 2 (fine-tuning), default", "autoencoder inference, default"]


def measure(quick):
    """Time every workload on the current backend; print the table and return {workload: rates}."""
    k = keras()  # first, so that the backend's start-up noise is silenced
    plain2 = None
    if k.backend.backend() == "tensorflow" and importlib.util.find_spec("tf_keras"):
        import tf_keras as plain2
    steps, reps = (6, 3) if quick else (30, 5)
    rng = np.random.default_rng(0)
    peak = matmul_peak(2 if quick else 5)
    print(f"backend {k.backend.backend()}; fp32 matmul peak: {peak:.0f} GFLOP/s; {steps} steps per repetition, "
          f"medians of {reps}")

    def variants(project, plain, cfg):
        models = {"a": project(cfg), "c": plain(k, cfg)}
        if plain2 is not None:
            models["b"] = plain(plain2, cfg)
        return models
    results = {}
    for title, cfg in zip(WORKLOADS[:2], (ORIGINAL, DEFAULT)):
        x = rng.random((steps * cfg["batch_size"], 28, 28, 1), dtype=np.float32)
        models = variants(project_autoencoder, plain_autoencoder, cfg)
        results[title] = time_training(models, x, x, cfg["batch_size"], reps)
        report(title, results[title], conv_flops(models["c"]), peak)
    x = rng.random((steps * 64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    models = variants(lambda cfg: project_classifier(cfg), plain_classifier, DEFAULT)
    results[WORKLOADS[2]] = time_training(models, x, y, 64, reps)
    report(WORKLOADS[2], results[WORKLOADS[2]], conv_flops(models["c"]), peak)
    x = rng.random((2000 if quick else 10000, 28, 28, 1), dtype=np.float32)
    models = variants(project_autoencoder, plain_autoencoder, DEFAULT)
    results[WORKLOADS[3]] = time_inference(models, x, reps)
    report(f"{WORKLOADS[3]}, {len(x)} images", results[WORKLOADS[3]], conv_flops(models["c"]), peak, train=False)
    return results


def compare_backends(quick):
    """Run this script once per installed backend and print one row per backend."""
    rows = {}
    for backend, module in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch")):
        if importlib.util.find_spec(module) is None:
            print(f"{backend}: not installed, skipped")
            continue
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "rates.json")
            command = [sys.executable, __file__, "--backend", backend, "--json", out] + (["--quick"] if quick else [])
            subprocess.run(command, check=True, env=dict(os.environ, KERAS_BACKEND=backend))
            with open(out) as f:
                rows[backend] = json.load(f)
    short = ["ae training, original", "ae training, default", "classifier stage 2", "ae inference"]
    print("\nthe project's models (a), images per second, each backend in its own process:")
    print(f"{'backend':10s}" + "".join(f"  {name:>22s}" for name in short))
    first = next(iter(rows.values()))
    for backend, rates in rows.items():
        print(f"{backend:10s}" + "".join(f"{rates[w]['a']:9.0f} ({rates[w]['a'] / first[w]['a']:4.2f}x)".rjust(24)
                                         for w in WORKLOADS))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions; no memory run (< 1 min)")
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch", "all"],
                        help="the Keras backend (default: KERAS_BACKEND, else tensorflow); all: each in turn")
    parser.add_argument("--json", help=argparse.SUPPRESS)  # where a --backend all child writes its rates
    args = parser.parse_args()
    if args.backend == "all":
        return compare_backends(args.quick)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    results = measure(args.quick)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)
    elif args.quick:
        print("peak memory: measured without --quick")
    else:
        mib = peak_memory()
        print("peak memory: full MNIST absent, skipped" if mib is None else
              f"peak memory (max RSS) of autoencoder.py, original configuration, 60,000 images: {mib:.0f} MiB")


if __name__ == "__main__":
    main()
