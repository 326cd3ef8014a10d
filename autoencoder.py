"""Train convolutional autoencoders on MNIST-format images and save the one you like (part A).

usage: python autoencoder.py -d datasets/sample/train-images-idx3-ubyte.gz
       python autoencoder.py -d IMAGES --no-input --epochs 5 --save models/autoencoder.h5
"""
import os
import sys

from convae import checkpoint, cli, data, devices, plots, records, runner, training
from convae.networks import (BOTTLENECK, build_autoencoder, check_image_size, check_pooling, compile_autoencoder,
                             count_parameters, default_filters, default_pooling)
from convae.params import Param, differences, integer, integer_list, per_layer, real
from convae.runtime import Runtime

MAX_LAYERS = 6


def _fit_pooling(value, values):
    pooling = check_pooling(value, values["layers"])
    check_image_size(pooling, values["image_shape"])
    return pooling


def _fit_kernel(value, values):
    kernel = per_layer(value, values["layers"], "kernel size")
    if max(kernel) > min(values["image_shape"][:2]):
        raise ValueError(f"kernel size {max(kernel)} is larger than the {values['image_shape'][0]}x"
                         f"{values['image_shape'][1]} images")
    return kernel


# Settings: flags only, fixed for the whole run.
SETTINGS = data.settings(0.2, "share of the images held out for validation")
# Hyperparameters: those with a prompt are asked for before every experiment unless given as flags.
HYPERPARAMETERS = [
    Param("layers", integer(1, MAX_LAYERS), 3, "convolutional layers in the encoder; the decoder mirrors them",
          "Convolutional layers in the encoder", metavar="N"),
    Param("kernel", integer_list(1, 15), [3], "convolution kernel size: one for all layers or one per layer",
          "Kernel size (one, or one per layer)", fit=_fit_kernel, metavar="K[,K...]"),
    Param("filters", integer_list(1, 1024), lambda values: default_filters(values["layers"]),
          "filters per layer: one for all layers or one per layer",
          "Filters per layer", fit=lambda value, values: per_layer(value, values["layers"], "filter count"),
          metavar="F[,F...]", shown_default="32,64,128,128..."),
    Param("pooling", integer_list(1, MAX_LAYERS), lambda values: default_pooling(values["layers"]),
          "layers (numbered from 1) after which max pooling halves the image, for example --layers 5 "
          "--filters 32,32,64,64,128 --pooling 2,4", fit=_fit_pooling, metavar="L[,L...]",
          shown_default="1,2, the first two", group=cli.TRAINING),
    Param("epochs", integer(1, 10000), 2, "training epochs", "Epochs", metavar="N"),
    Param("batch_size", integer(1, 65536), 64, "images per training step", "Batch size", fit=data.fit_batch_size,
          metavar="N"),
    Param("dropout", real(0.0, 1.0), 0.1, "dropout rate after every block (0 for none)", "Dropout rate",
          metavar="R"),
]
COLUMNS = [("experiment", "#"), ("layers", "layers"), ("kernel", "kernel"), ("filters", "filters"),
           ("pooling", "pooling"), ("epochs", "epochs"), ("batch_size", "batch"), ("dropout", "dropout"),
           ("parameters", "parameters"),
           ("loss", "loss"), ("val_loss", "val_loss"), ("minutes", "minutes"), ("status", "status"),
           ("saved", "saved to")]
MENU = [("repeat", "repeat with other hyperparameters"), ("plots", "plots and table of the experiments so far"),
        ("save", "save a model"), ("exit", "exit")]


PATHS = [("-d", "train_images", "training images (idx, gzipped or not)")]


def parse_args(argv):
    options = [("--output-dir", "DIR", "where plots and experiments.csv go (default: runs/autoencoder-<date-time>)"),
               ("--save", "PATH", "where to save the model, .h5 or .keras (default: models/autoencoder.h5; with "
                                  "--no-input it is saved only when this is given)")]
    parser = cli.make_parser("autoencoder.py", __doc__, PATHS, SETTINGS + HYPERPARAMETERS, options)
    return cli.parse_args(parser, argv)


class Inputs:
    """The training images, and the split of them that a run's settings ask for."""

    def __init__(self, args, prompter, runtime=None):
        self.images = cli.ask_file(prompter, "Training images (idx file)", args.train_images, data.load_images, "-d")
        print(f"{self.images.path}: {len(self.images.array)} images of {self.images.array.shape[1]}x"
              f"{self.images.array.shape[2]}")

    def context(self):
        return {"image_shape": self.images.array.shape[1:], "n_images": len(self.images.array)}

    def checksums(self):
        return {"train_images": self.images.md5}

    def split(self, settings):
        pixels = data.to_float(self.images.array[:settings["limit"]])
        train_idx, val_idx = data.split_indices(len(pixels), settings["val_split"], settings["seed"])
        train, validation = pixels[train_idx], pixels[val_idx]
        return data.Split((train, train), (validation, validation))


def train(run, number, hyper, progress):
    """Build and train one autoencoder (its checkpoint in `progress`, runner.Progress)."""
    train_images, val_images = run.data.train[0], run.data.validation[0]
    model = build_autoencoder(train_images.shape[1:], hyper["layers"], hyper["kernel"], hyper["filters"],
                              hyper["dropout"], hyper["pooling"])
    compile_autoencoder(model)
    state = progress.state
    print(f"\nExperiment {number}: {count_parameters(model):,} parameters, bottleneck "
          f"{data.shape_text(model.get_layer(BOTTLENECK).output.shape[1:])}, "
          f"{len(train_images)} training and {len(val_images)} validation images"
          + (f", resumed after epoch {state.epoch}" if progress.arrays is not None else ""))
    keeper = checkpoint.checkpointer(state, progress.file, progress.clock, arrays=progress.arrays)
    interrupted = training.fit(model, train_images, train_images, run.data.validation, hyper["epochs"],
                               hyper["batch_size"], keeper, run.runtime, progress.callbacks, seed=run.settings["seed"],
                               initial_epoch=state.epoch,
                               statistics_from=train_images[:training.statistics_images(len(train_images))])
    done = len(state.history.get("loss", []))
    status = f"stopped at epoch {done} of {hyper['epochs']}" if interrupted else "complete"
    if not done:
        return runner.Trained(model, status)
    metrics = {"loss": state.history["loss"][-1], "val_loss": state.history["val_loss"][-1]}
    print(f"Experiment {number}: loss {metrics['loss']:.4f}, validation loss {metrics['val_loss']:.4f} "
          f"({status}, {progress.clock() / 60:.1f} min)")
    return runner.Trained(model, status, metrics)


def experiment_figures(run, experiment):
    """The figures that belong to one experiment (written once, never overwritten)."""
    n, session, show = experiment.number, run.session, run.runtime.show
    shown = run.data.validation[0][:10]
    reconstructions = devices.predict(experiment.model, shown, run.runtime.devices)
    changed = differences(HYPERPARAMETERS, experiment.hyper)
    title = f"Experiment {n}: " + (", ".join(changed) if changed else "the default hyperparameters")
    return [plots.history(experiment.history, session.path(f"experiment-{n}-loss.png"), title, ["loss"], show=show),
            plots.image_pairs(shown, reconstructions, session.path(f"experiment-{n}-reconstructions.png"),
                              f"Experiment {n}: validation images and their reconstructions", show=show)]


def summary_figures(run):
    """The final losses against each hyperparameter that varied, across all experiments so far."""
    session = run.session
    n = session.experiments[-1].number
    return [plots.against_hyperparameters(session.rows(), [p.name for p in HYPERPARAMETERS], ["loss"],
                                          session.path(f"after-experiment-{n}-loss-vs-hyperparameters.png"),
                                          show=run.runtime.show)]


def describe(run, experiment):
    """The JSON description of an experiment's saved model."""
    images, model = run.inputs.images, experiment.model
    return {"model": "convolutional autoencoder", "experiment": experiment.number,
            "hyperparameters": experiment.hyper, "settings": run.settings, "status": experiment.status,
            "loss": "binary_crossentropy", "optimizer": records.describe_optimizer(model.optimizer),
            "metrics": experiment.metrics, "history": experiment.history, "parameters": experiment.parameters,
            "input_shape": list(model.input_shape[1:]), "bottleneck_layer": BOTTLENECK,
            "bottleneck_shape": list(model.get_layer(BOTTLENECK).output.shape[1:]),
            "data": {"train_images": {"path": images.path, "md5": images.md5, "count": int(len(images.array))}},
            "seed": run.settings["seed"]}


SCRIPT = runner.Script("autoencoder.py", "autoencoder", SETTINGS, HYPERPARAMETERS, COLUMNS, "val_loss", False,
                       train=train, figures=experiment_figures, summary_figures=summary_figures, describe=describe)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    runtime = Runtime.from_flags(args)
    run = runner.start(SCRIPT, Inputs, args, runtime)
    if args.no_input:
        run.unattended(args.save)
        return 0
    save_path = args.save or os.path.join("models", "autoencoder.h5")
    while True:
        run.experiment(run.ask())
        while (choice := run.session.choose(MENU)) != "repeat":
            if choice == "plots":
                run.summary()
            elif choice == "save":
                run.save(run.session.pick("Experiment to save", run.session.experiments[-1]), save_path)
            elif choice == "exit" and run.session.confirm_exit():
                return 0


if __name__ == "__main__":
    cli.run(main)
