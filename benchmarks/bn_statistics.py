"""The autoencoder's losses with BatchNormalization's moving averages (before) and with its statistics
taken over training images before each validation (after, training.batch_norm_statistics), on
the two short runs whose last epoch jumped before, drawn as docs/bn-statistics.png.

usage: python benchmarks/bn_statistics.py [--out DIR] [--figure docs/bn-statistics.png]

Each run is autoencoder.py's experiment with --no-input and seed 1, by the one call the script makes
(experiment.unattended); "before" sets its statistics to none (convae.training.statistics_images
gives 0). The saved model's training images are then scored in inference mode as saved, and with
every BatchNormalization layer's statistics recomputed over all of them (layer by layer, from what
the layer sees): what the network gives when its statistics match its weights.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

from common import REPO, machine, mnist_dir  # noqa: E402  (benchmarks/common.py)

sys.path.insert(0, REPO)

RUNS = {  # name: (images, flags)
    "the README's first run (sample, --epochs 5)": (
        os.path.join(REPO, "datasets", "sample", "train-images-idx3-ubyte.gz"), ["--epochs", "5"]),
    "the original submission's network (4,096 MNIST images)": (
        os.path.join(mnist_dir(), "train-images-idx3-ubyte.gz"),
        ["--limit", "4096", "--layers", "2", "--filters", "128,256", "--dropout", "0.2", "--epochs", "3"]),
}
WAYS = {"before: moving averages": False, "after: statistics before each validation": True}


def train(images, flags, way, folder):
    """One run of autoencoder.py's experiment with `flags` and --no-input, by the one call the script makes
    (experiment.unattended); "before" gives it no images for the statistics (training.statistics_images 0)."""
    from convae import definitions, experiment, records, training
    from convae.prompts import Prompter
    from convae.runtime import Runtime
    from convae.session import Session
    name = "after" if WAYS[way] else "before"
    path = os.path.join(folder, f"ae-{name}.h5")
    definition = definitions.of("autoencoder.py")
    args = definition.parse_args(["-d", images, *flags, "--no-input", "--seed", "1"])
    runtime = Runtime()
    inputs = definition.load(args, Prompter(enabled=False), runtime)
    config = experiment.Config.from_values(definition, vars(args), inputs)
    session = Session(records.make_output_dir(os.path.join(folder, f"out-{name}"), "autoencoder"), definition)
    chosen = training.statistics_images
    training.statistics_images = chosen if WAYS[way] else (lambda count: 0)
    try:
        experiment.unattended(definition, config, inputs, runtime, session, save=path)
    finally:
        training.statistics_images = chosen
    with open(os.path.splitext(path)[0] + ".json") as f:
        return path, json.load(f)


def scored(path, images, limit):
    """The binary cross-entropy on the run's own training images: as saved, and with recomputed statistics."""
    from convae import data
    from convae.backend import keras
    k = keras()
    pixels = data.to_float(data.load_images(images).array[:limit])
    train_idx, _ = data.split_indices(len(pixels), 0.2, 1)
    x = pixels[train_idx]
    model = k.models.load_model(path, compile=False)

    def loss():
        predicted = model.predict(x, verbose=0)
        return float(np.mean(k.ops.convert_to_numpy(k.losses.binary_crossentropy(x.reshape(len(x), -1),
                                                                                  predicted.reshape(len(x), -1)))))
    as_saved = loss()
    for layer in [layer for layer in model.layers if isinstance(layer, k.layers.BatchNormalization)]:
        seen = k.Model(model.input, layer.input).predict(x, verbose=0)
        seen = seen.reshape(-1, seen.shape[-1])
        layer.moving_mean.assign(seen.mean(axis=0))
        layer.moving_variance.assign(seen.var(axis=0))
    return as_saved, loss()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None)
    parser.add_argument("--figure", default=os.path.join(REPO, "docs", "bn-statistics.png"))
    args = parser.parse_args()
    folder = args.out or tempfile.mkdtemp(prefix="bn-statistics-")
    print(machine())
    curves = {}
    for name, (images, flags) in RUNS.items():
        if not os.path.exists(images):
            print(f"{name}: skipped, {images} is absent")
            continue
        limit = int(flags[flags.index("--limit") + 1]) if "--limit" in flags else None
        for way in WAYS:
            run_folder = os.path.join(folder, name.split(" (")[0].replace(" ", "-").replace("'", ""))
            os.makedirs(run_folder, exist_ok=True)
            path, description = train(images, flags, way, run_folder)
            history = description["history"]
            curves[(name, way)] = history
            as_saved, recomputed = scored(path, images, limit)
            print(f"{name}, {way}: training loss {' '.join(f'{v:.3f}' for v in history['loss'])}; "
                  f"validation loss {' '.join(f'{v:.3f}' for v in history['val_loss'])}; the saved model on its "
                  f"training images {as_saved:.3f} as saved, {recomputed:.3f} with its statistics recomputed")
    draw(curves, args.figure)
    print(f"wrote {args.figure}")


def draw(curves, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(dict.fromkeys(name for name, _ in curves))
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.2), squeeze=False, layout="constrained")
    for ax, name in zip(axes[0], names):
        for way, colour in zip(WAYS, ("tab:red", "tab:blue")):
            history = curves[(name, way)]
            epochs = np.arange(1, len(history["loss"]) + 1)
            ax.plot(epochs, history["val_loss"], marker="o", color=colour, label=f"validation, {way}")
            ax.plot(epochs, history["loss"], linestyle="--", color=colour, alpha=0.6, label=f"training, {way}")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("binary cross-entropy")
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("The autoencoder's losses: BatchNormalization's moving averages (before) and its statistics "
                 "taken before each validation (after)")
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
