"""Seconds per epoch as the user sees them: this project's scripts against the same network in plain
Keras 2 (tf_keras, `model.fit` on NumPy arrays), on the same images, interleaved in one run.

usage: python benchmarks/epoch_time.py [--rounds N] [--epochs N] [--images N] [--only W[,W...]]
       (needs `pip install -r benchmarks/requirements.txt` for tf_keras, and the full MNIST)

Workloads (--only): original (the original submission's autoencoder: 2 layers, 128,256 filters,
kernel 3, dropout 0.2, batch 64), default (autoencoder.py's defaults, batch 64), stage2
(classification.py's defaults on a default autoencoder: stage 2's epochs, the whole network), and
sweep (a sweep.py trial of the default network on a core of its own, two at once, one per core,
against two tf_keras runs each on one core).

Every run is a process of its own, as a user starts it. Its output is read line by line as it comes
and each line is timed: an epoch's seconds are the time from one epoch's closing line (Keras's
"51/51 - ..." line, printed after every callback: validation, BatchNormalization's statistics,
checkpoints) to the next one's, so the first epoch (start-up, tracing) is never counted. Rounds
alternate which of the two goes first. Medians over rounds and epochs; the ratio is Keras 2's
seconds over the project's: above 1 the project is faster.
"""
import argparse
import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from common import REPO, machine, mnist_dir  # noqa: E402  (benchmarks/common.py)

MNIST = mnist_dir()
TRAIN = os.path.join(MNIST, "train-images-idx3-ubyte.gz")
CLOSING = re.compile(r"^\s*\d+/\d+ - \d+s - ")  # Keras 2 and 3 epoch lines under verbose=2
NETWORKS = {  # layers, filters, kernel, dropout: the autoencoders, as autoencoder.py's flags and Keras 2's
    "original": (2, [128, 256], 3, 0.2),
    "default": (3, [32, 64, 128], 3, 0.1),
}
CLASSIFIER = {"units": 128, "dropout": 0.3, "batch": 128, "shift": 0.1, "rotation": 10.0, "zoom": 0.1}
WORKLOADS = ("original", "default", "stage2", "sweep")


def project_flags(name):
    layers, filters, kernel, dropout = NETWORKS[name]
    return ["--layers", str(layers), "--filters", ",".join(map(str, filters)), "--kernel", str(kernel),
            "--dropout", str(dropout), "--batch-size", "64"]


# ---- Plain Keras 2: what a user of tf_keras writes for the same networks ----

def keras2_autoencoder(lib, name):
    layers, filters, kernel, dropout = NETWORKS[name]
    L = lib.layers
    inputs = lib.Input((28, 28, 1))
    x = inputs
    for i in range(layers):  # Encoder
        x = L.BatchNormalization()(L.Conv2D(filters[i], kernel, padding="same", activation="relu")(x))
        x = L.MaxPooling2D(2)(x) if i < 2 else x
        x = L.Dropout(dropout)(x)
    encoder_output = x
    for i in reversed(range(layers)):  # Decoder
        x = L.BatchNormalization()(L.Conv2D(filters[i], kernel, padding="same", activation="relu")(x))
        x = L.UpSampling2D(2)(x) if i < 2 else x
        x = L.Dropout(dropout)(x)
    outputs = L.Conv2D(1, kernel, padding="same", activation="sigmoid")(x)
    return lib.Model(inputs, outputs), lib.Model(inputs, encoder_output)


def keras2_classifier(lib, encoder, mean, variance):
    """classification.py's network: augmentation, the encoder (its BatchNormalization frozen, no
    dropout), standardised features, Dense -> LayerNormalization -> ReLU -> Dropout -> softmax."""
    L = lib.layers
    inputs = lib.Input((28, 28, 1))
    x = L.RandomTranslation(CLASSIFIER["shift"], CLASSIFIER["shift"], fill_mode="constant")(inputs)
    x = L.RandomRotation(CLASSIFIER["rotation"] / 360, fill_mode="constant")(x)
    x = L.RandomZoom(CLASSIFIER["zoom"], fill_mode="constant")(x)
    x = L.Flatten()(encoder(x))
    x = L.Normalization(mean=mean, variance=variance)(x)
    x = L.Dense(CLASSIFIER["units"], use_bias=False)(x)
    x = L.Dropout(CLASSIFIER["dropout"])(L.Activation("relu")(L.LayerNormalization()(x)))
    return lib.Model(inputs, L.Dense(10, activation="softmax")(x))


def run_keras2(name, images, epochs, seed=1):
    """One Keras 2 run in this process (the child side of `keras2_command`)."""
    import numpy as np
    import tf_keras as lib
    sys.path.insert(0, REPO)
    from convae import data
    lib.utils.set_random_seed(seed)
    if name == "stage2":
        labels = data.load_labels(os.path.join(MNIST, "train-labels-idx1-ubyte.gz")).array[:images]
        pixels = data.to_float(data.load_images(TRAIN).array[:images])
        train, val = data.split_indices(len(labels), 0.1, seed, labels)
        autoencoder, encoder = keras2_autoencoder(lib, "default")
        encoder = lib.Model(encoder.input, encoder.output)
        for layer in encoder.layers:  # the encoder without dropout, as classification.py uses it
            if isinstance(layer, lib.layers.Dropout):
                layer.rate = 0.0
        features = encoder.predict(pixels[train], batch_size=256, verbose=0).reshape(len(train), -1)
        model = keras2_classifier(lib, encoder, features.mean(axis=0), np.maximum(features.var(axis=0), 1e-6))
        fit = dict(x=pixels[train], y=labels[train], batch_size=CLASSIFIER["batch"],
                   validation_data=(pixels[val], labels[val]), verbose=2)
        encoder.trainable = False
        model.compile(lib.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(epochs=1, **fit)
        print("Stage 2", flush=True)
        encoder.trainable = True
        for layer in encoder.layers:
            if isinstance(layer, lib.layers.BatchNormalization):
                layer.trainable = False
        steps = -(-len(train) // CLASSIFIER["batch"])
        model.compile(lib.optimizers.Adam(lib.optimizers.schedules.CosineDecay(2e-3, epochs * steps)),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(epochs=epochs, **fit)
        return
    pixels = data.to_float(data.load_images(TRAIN).array[:images])
    train, val = data.split_indices(len(pixels), 0.2, seed)
    model, _ = keras2_autoencoder(lib, name)
    model.compile(lib.optimizers.Adam(1e-3), "binary_crossentropy")
    model.fit(pixels[train], pixels[train], batch_size=64, epochs=epochs,
              validation_data=(pixels[val], pixels[val]), verbose=2)


def keras2_command(name, images, epochs):
    return [sys.executable, os.path.abspath(__file__), "--keras2", name, "--images", str(images),
            "--epochs", str(epochs)]


# ---- Running and timing ----

def timed_lines(command, env=None, watch=None, cwd=None):
    """Run `command`; return [(seconds since start, line)] of its output as it came, or of the files
    matching the glob `watch` (read as they grow) where given."""
    start = time.monotonic()
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    lines = []
    if watch is None:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                   cwd=cwd)
        for line in process.stdout:
            lines.append((time.monotonic() - start, line.rstrip("\n")))
        process.wait()
    else:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        read = {}
        while True:
            finished = process.poll() is not None
            for path in sorted(glob.glob(watch)):
                with open(path) as f:
                    f.seek(read.get(path, 0))
                    text = f.read()
                    complete = text[:text.rfind("\n") + 1]
                    read[path] = read.get(path, 0) + len(complete.encode())
                now = time.monotonic() - start
                lines += [(now, f"{path}\t{line}") for line in complete.splitlines()]
            if finished:
                break
            time.sleep(0.05)
    if process.returncode:
        sys.exit(f"{' '.join(command)} exited with {process.returncode}:\n" +
                 "\n".join(line for _, line in lines[-20:]))
    return lines


def epoch_seconds(lines, after=None):
    """Seconds between consecutive closing lines of epochs, per source (the file a watched line came
    from, before a tab), counting only lines after the first that contains `after`."""
    started = after is None
    last, seconds = {}, []
    for t, line in lines:
        if not started:
            started = after in line
            continue
        source, watched, text = line.partition("\t")
        source, text = (source, text) if watched else ("", line)
        if CLOSING.match(text):
            if source in last:
                seconds.append(t - last[source])
            last[source] = t
    return seconds


def project_run(name, images, epochs, folder, autoencoder=None):
    folder = tempfile.mkdtemp(prefix=f"{name}-", dir=folder)  # a fresh --output-dir for every run
    common = ["--no-input", "--seed", "1", "--limit", str(images)]
    if name in NETWORKS:
        command = [sys.executable, "autoencoder.py", "-d", TRAIN, *project_flags(name), "--epochs", str(epochs),
                   "--output-dir", os.path.join(folder, "runs"), *common]
        return epoch_seconds(timed_lines(command, cwd=REPO))
    if name == "stage2":
        command = [sys.executable, "classification.py", "-d", TRAIN,
                   "-dl", os.path.join(MNIST, "train-labels-idx1-ubyte.gz"),
                   "-t", os.path.join(MNIST, "t10k-images-idx3-ubyte.gz"),
                   "-tl", os.path.join(MNIST, "t10k-labels-idx1-ubyte.gz"), "-model", autoencoder,
                   "--epochs", "1", "--fine-tune-epochs", str(epochs), "--output-dir", os.path.join(folder, "runs"),
                   *common]
        return epoch_seconds(timed_lines(command, cwd=REPO), after="Stage 2")
    out = os.path.join(folder, "sweep")
    command = [sys.executable, "sweep.py", "autoencoder.py", "-d", TRAIN, "--limit", str(images),
               "--batch-size", "64", "--epochs", str(epochs), "--seeds", "1-2", "--workers", "2",
               "--no-tensorboard", "--output-dir", out]
    return epoch_seconds(timed_lines(command, watch=os.path.join(out, "trials", "*", "log.txt"), cwd=REPO))


def keras2_run(name, images, epochs):
    if name != "sweep":
        return epoch_seconds(timed_lines(keras2_command(name, images, epochs)), after="Stage 2" if name == "stage2"
                             else None)
    # two at once, each on one core with one thread, as the sweep's workers run
    one = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    folder = tempfile.mkdtemp(prefix="keras2-sweep-")
    script = " & ".join(f"taskset -c {core} {' '.join(keras2_command('default', images, epochs))} "
                        f"> {folder}/worker-{core}.log 2>&1" for core in (0, 1)) + " & wait"
    return epoch_seconds(timed_lines(["bash", "-c", script], env=one, watch=os.path.join(folder, "*.log")))


def saved_autoencoder(folder, images):
    path = os.path.join(folder, "autoencoder.h5")
    subprocess.run([sys.executable, "autoencoder.py", "-d", TRAIN, "--limit", str(images), "--epochs", "1",
                    "--no-input", "--seed", "1", "--output-dir", os.path.join(folder, "ae"), "--save", path],
                   cwd=REPO, check=True, capture_output=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating (default 3)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is not counted (default 3)")
    parser.add_argument("--images", type=int, default=4096, help="the first N training images (default 4096)")
    parser.add_argument("--only", default=",".join(WORKLOADS), help=f"workloads, of {','.join(WORKLOADS)}")
    parser.add_argument("--keras2", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keras2:
        return run_keras2(args.keras2, args.images, args.epochs)
    if not os.path.exists(TRAIN):
        print(f"skipped: {TRAIN} is absent (python datasets/download.py)")
        return
    workloads = args.only.split(",")
    print(f"{machine()}; {args.images} images, {args.epochs} epochs a run, {args.rounds} rounds", flush=True)
    folder = tempfile.mkdtemp(prefix="epoch-time-")
    autoencoder = saved_autoencoder(folder, args.images) if "stage2" in workloads else None
    seconds = {(w, who): [] for w in workloads for who in ("project", "keras2")}
    for r in range(args.rounds):
        for w in workloads:
            order = ("project", "keras2") if r % 2 == 0 else ("keras2", "project")
            for who in order:
                got = (project_run(w, args.images, args.epochs, folder, autoencoder) if who == "project"
                       else keras2_run(w, args.images, args.epochs))
                seconds[(w, who)] += got
                print(f"round {r + 1}, {w}, {who}: " + ", ".join(f"{s:.2f}" for s in got) + " s an epoch", flush=True)
    print("\n| workload | this project (s an epoch) | plain Keras 2 (s an epoch) | Keras 2 / project |")
    print("| --- | ---: | ---: | ---: |")
    for w in workloads:
        ours, theirs = statistics.median(seconds[(w, "project")]), statistics.median(seconds[(w, "keras2")])
        print(f"| {w} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f}x |")


if __name__ == "__main__":
    main()
