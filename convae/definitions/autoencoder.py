"""autoencoder.py's experiments (part A): a convolutional autoencoder trained to reconstruct its images."""
from convae import checkpoint, cli, data, devices, plots, records, training
from convae.experiment import Definition, Trained
from convae.networks import (BOTTLENECK, build_autoencoder, check_image_size, check_pooling, compile_autoencoder,
                             count_parameters, default_filters, default_pooling)
from convae.params import Param, differences, integer, integer_list, per_layer, real

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


PATHS = [("-d", "train_images", "training images (idx, gzipped or not)")]
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
OPTIONS = [("--output-dir", "DIR", "where plots and experiments.csv go (default: runs/autoencoder-<date-time>)"),
           ("--save", "PATH", "where to save the model, .h5 or .keras (default: models/autoencoder.h5; with "
                              "--no-input it is saved only when this is given)")]


class Inputs:
    """The training images, and the split of them that a run's settings ask for."""

    def __init__(self, paths, prompter, runtime=None):
        self.images = cli.ask_file(prompter, "Training images (idx file)", paths.get("train_images"),
                                   data.load_images, "-d")
        print(f"{self.images.path}: {len(self.images.array)} images of {self.images.array.shape[1]}x"
              f"{self.images.array.shape[2]}")

    def context(self):
        return {"image_shape": self.images.array.shape[1:], "n_images": len(self.images.array)}

    def checksums(self):
        return {"train_images": self.images.md5}

    def indices(self, settings):
        """(training, validation) indices of the images that `settings` (--limit, --val-split, --seed) take."""
        return data.split_indices(len(self.images.array[:settings["limit"]]), settings["val_split"],
                                  settings["seed"])

    def split(self, settings):
        pixels = data.to_float(self.images.array[:settings["limit"]])
        train_idx, val_idx = self.indices(settings)
        train, validation = pixels[train_idx], pixels[val_idx]
        return data.Split((train, train), (validation, validation))


def train(setup, number, hyper, bookkeeping):
    """Build and train one autoencoder (its checkpoint in `bookkeeping`, checkpoint.Bookkeeping)."""
    train_images, val_images = setup.data.train[0], setup.data.validation[0]
    convolutions = setup.runtime.convolutions()
    model = build_autoencoder(train_images.shape[1:], hyper["layers"], hyper["kernel"], hyper["filters"],
                              hyper["dropout"], hyper["pooling"], convolutions)
    compile_autoencoder(model)
    state = bookkeeping.state
    print(f"\nExperiment {number}: {count_parameters(model):,} parameters, bottleneck "
          f"{data.shape_text(model.get_layer(BOTTLENECK).output.shape[1:])}, "
          f"{len(train_images)} training and {len(val_images)} validation images"
          + (", convolutions in bfloat16" if convolutions == "bfloat16" else "")
          + (f", resumed after epoch {state.epoch}" if bookkeeping.arrays is not None else ""))
    keeper = checkpoint.checkpointer(state, bookkeeping.file, bookkeeping.clock, arrays=bookkeeping.arrays)
    schedule = training.Schedule(hyper["epochs"], hyper["batch_size"], setup.settings["seed"], state.epoch)
    interrupted = training.fit(model, setup.data.train, setup.data.validation, schedule, keeper, setup.runtime,
                               bookkeeping.callbacks,
                               statistics_from=train_images[:training.statistics_images(len(train_images))])
    done = len(state.history.get("loss", []))
    status = f"stopped at epoch {done} of {hyper['epochs']}" if interrupted else "complete"
    extra = {"convolutions": convolutions}
    if not done:
        return Trained(model, status, extra=extra)
    metrics = {"loss": state.history["loss"][-1], "val_loss": state.history["val_loss"][-1]}
    print(f"Experiment {number}: loss {metrics['loss']:.4f}, validation loss {metrics['val_loss']:.4f} "
          f"({status}, {bookkeeping.clock() / 60:.1f} min)")
    return Trained(model, status, metrics, extra)


def experiment_figures(setup, experiment):
    """The figures that belong to one experiment (written once, never overwritten)."""
    n, show = experiment.number, setup.runtime.show
    shown = setup.data.validation[0][:10]
    reconstructions = devices.predict(experiment.model, shown, setup.runtime.devices)
    changed = differences(HYPERPARAMETERS, experiment.hyper)
    title = f"{experiment.name}: " + (", ".join(changed) if changed else "the default hyperparameters")
    return [plots.history(experiment.history, setup.path(f"experiment-{n}-loss.png"), title, ["loss"], show=show),
            plots.image_pairs(shown, reconstructions, setup.path(f"experiment-{n}-reconstructions.png"),
                              f"{experiment.name}: validation images and their reconstructions", show=show)]


def summary_figures(session, show):
    """The final losses against each hyperparameter that varied, across all experiments so far."""
    n = session.experiments[-1].number
    return [plots.against_hyperparameters(session.rows(), [p.name for p in HYPERPARAMETERS], ["loss"],
                                          session.path(f"after-experiment-{n}-loss-vs-hyperparameters.png"),
                                          show=show)]


def describe(inputs, experiment):
    """The JSON description of an experiment's saved model."""
    images, model = inputs.images, experiment.model
    return {"model": "convolutional autoencoder", "experiment": experiment.number,
            "hyperparameters": experiment.hyper, "settings": experiment.settings, "status": experiment.status,
            "loss": "binary_crossentropy", "optimizer": records.describe_optimizer(model.optimizer),
            "metrics": experiment.metrics, "history": experiment.history, "parameters": experiment.parameters,
            "convolutions": experiment.extra.get("convolutions"),
            "input_shape": list(model.input_shape[1:]), "bottleneck_layer": BOTTLENECK,
            "bottleneck_shape": list(model.get_layer(BOTTLENECK).output.shape[1:]),
            "data": {"train_images": {"path": images.path, "md5": images.md5, "count": int(len(images.array))}},
            "seed": experiment.settings["seed"]}


DEFINITION = Definition("autoencoder.py", "autoencoder", PATHS, SETTINGS, HYPERPARAMETERS, COLUMNS, "val_loss", False,
                        inputs=Inputs, train=train, figures=experiment_figures, summary_figures=summary_figures,
                        describe=describe, options=tuple(OPTIONS))
