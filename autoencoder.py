"""Train convolutional autoencoders on MNIST-format images and save the one you like (part A).

usage: python autoencoder.py -d datasets/sample/train-images-idx3-ubyte.gz
       python autoencoder.py -d IMAGES --no-input --epochs 5 --save models/autoencoder.h5
"""
import os
import sys

from convae import checkpoint, cli, data, plots, training
from convae.backend import seed_everything, set_verbose
from convae.networks import (BOTTLENECK, build_autoencoder, check_image_size,
                             check_pooling, compile_autoencoder, default_filters, default_pooling)
from convae.params import Param, differences, integer, integer_list, per_layer, real
from convae.prompts import Prompter
from convae.records import check_save_path, make_output_dir
from convae.session import Session

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
    Param("filters", integer_list(1, 1024), lambda v: default_filters(v["layers"]),
          "filters per layer: one for all layers or one per layer",
          "Filters per layer", fit=lambda value, v: per_layer(value, v["layers"], "filter count"),
          metavar="F[,F...]", shown_default="32,64,128,128..."),
    Param("pooling", integer_list(1, MAX_LAYERS), lambda v: default_pooling(v["layers"]),
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


def parse_args(argv):
    paths = [("-d", "train_images", "training images (idx, gzipped or not)")]
    options = [("--output-dir", "DIR", "where plots and experiments.csv go (default: runs/autoencoder-<date-time>)"),
               ("--save", "PATH", "where to save the model, .h5 or .keras (default: models/autoencoder.h5; with "
                                  "--no-input it is saved only when this is given)")]
    parser = cli.make_parser("autoencoder.py", __doc__, paths, SETTINGS + HYPERPARAMETERS, options)
    return cli.parse_args(parser, argv)


def train_experiment(number, hyper, settings, images, val_images, file, resume=None):
    """Build and train one autoencoder, writing its checkpoint to `file` after every epoch, from the
    checkpoint `resume` (checkpoint.Resumed) where one is given; return its Experiment (None if
    stopped before one epoch)."""
    seed_everything(settings["seed"])
    model = build_autoencoder(images.shape[1:], hyper["layers"], hyper["kernel"], hyper["filters"], hyper["dropout"],
                              hyper["pooling"])
    compile_autoencoder(model)
    state, arrays = (resume.state, resume.arrays) if resume else (checkpoint.State(), None)
    print(f"\nExperiment {number}: {training.count_parameters(model):,} parameters, bottleneck "
          f"{'x'.join(str(n) for n in model.get_layer(BOTTLENECK).output.shape[1:])}, "
          f"{len(images)} training and {len(val_images)} validation images"
          + (f", resumed after epoch {state.epoch}" if resume else ""))
    clock = training.timer(state.seconds)
    keeper = checkpoint.checkpointer(state, file, clock, arrays=arrays)
    interrupted = training.fit(model, images, images, (val_images, val_images), hyper["epochs"], hyper["batch_size"],
                               keeper, seed=settings["seed"], initial_epoch=state.epoch)
    if not interrupted:
        file.remove()
    history = state.history
    done = len(history.get("loss", []))
    if done == 0:
        print(f"Experiment {number} discarded: no epoch finished.")
        return None
    status = f"stopped at epoch {done} of {hyper['epochs']}" if interrupted else "complete"
    metrics = {"loss": history["loss"][-1], "val_loss": history["val_loss"][-1]}
    print(f"Experiment {number}: loss {metrics['loss']:.4f}, validation loss {metrics['val_loss']:.4f} "
          f"({status}, {clock() / 60:.1f} min)")
    return training.Experiment(number, dict(hyper), model, history, clock(), status, metrics)


def experiment_figures(session, experiment, val_images):
    """The figures that belong to one experiment (written once, never overwritten)."""
    n = experiment.number
    shown = val_images[:10]
    reconstructions = training.predict(experiment.model, shown)
    changed = differences(HYPERPARAMETERS, experiment.hyper)
    title = f"Experiment {n}: " + (", ".join(changed) if changed else "the default hyperparameters")
    return [plots.history(experiment.history, session.path(f"experiment-{n}-loss.png"), title, ["loss"]),
            plots.image_pairs(shown, reconstructions, session.path(f"experiment-{n}-reconstructions.png"),
                              f"Experiment {n}: validation images and their reconstructions")]


def summary_figures(session):
    """The final losses against each hyperparameter that varied, across all experiments so far."""
    n = session.experiments[-1].number
    return [plots.against_hyperparameters(session.rows(), [p.name for p in HYPERPARAMETERS], ["loss"],
                                          session.path(f"after-experiment-{n}-loss-vs-hyperparameters.png"))]


def describe(images, settings):
    """A function giving the JSON description of an experiment's saved model."""
    def description(experiment):
        return {"model": "convolutional autoencoder", "experiment": experiment.number,
                "hyperparameters": experiment.hyper, "settings": settings, "status": experiment.status,
                "loss": "binary_crossentropy", "optimizer": training.describe_optimizer(experiment.model.optimizer),
                "metrics": experiment.metrics, "history": experiment.history, "parameters": experiment.parameters,
                "input_shape": list(experiment.model.input_shape[1:]), "bottleneck_layer": BOTTLENECK,
                "bottleneck_shape": list(experiment.model.get_layer(BOTTLENECK).output.shape[1:]),
                "data": {"train_images": {"path": images.path, "md5": images.md5, "count": int(len(images.array))}},
                "seed": settings["seed"]}
    return description


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    set_verbose(args.verbose)
    plots.configure(show=not args.no_show)
    count = training.configure(args.steps_per_dispatch, args.distribute)
    if args.distribute:
        print(f"--distribute: training on {count} device{'s' if count > 1 else ''}, each batch split between them")
    prompter = Prompter(enabled=not args.no_input)
    if args.save:
        check_save_path(args.save)  # before the files, the backend and hours of training
    images = cli.ask_file(prompter, "Training images (idx file)", args.train_images, data.load_images, "-d")
    context = {"image_shape": images.array.shape[1:], "n_images": len(images.array)}
    settings = cli.resolve(SETTINGS, vars(args), prompter, context)
    pixels = data.to_float(images.array[:settings["limit"]])
    train_idx, val_idx = data.split_indices(len(pixels), settings["val_split"], settings["seed"])
    train_images, val_images = pixels[train_idx], pixels[val_idx]
    del pixels
    context["n_train"] = len(train_idx)
    identity = {"script": "autoencoder.py", "data": {"train_images": images.md5}, "settings": settings}
    hyper, resumed = cli.resume_point(args, HYPERPARAMETERS, dict(context, **settings), identity)
    session = Session(prompter, make_output_dir(args.output_dir, "autoencoder"), COLUMNS, "val_loss", False,
                      summary_figures, first_number=resumed.experiment if resumed else 1, params=HYPERPARAMETERS)
    print(f"{images.path}: {len(images.array)} images of {images.array.shape[1]}x{images.array.shape[2]}; "
          f"outputs go to {session.output_dir}")
    save_path = args.save or os.path.join("models", "autoencoder.h5")
    description = describe(images, settings)
    while True:
        if not resumed:
            hyper = cli.resolve(HYPERPARAMETERS, vars(args), prompter, dict(context, **settings), previous=hyper)
        number = session.next_number()
        file = checkpoint.File(session.output_dir, dict(identity, hyperparameters=hyper), number)
        experiment = train_experiment(number, hyper, settings, train_images, val_images, file, resumed)
        resumed = None
        if experiment:
            session.add(experiment, experiment_figures(session, experiment, val_images))
        if args.no_input:
            return session.finish(args.save, description)
        while (choice := session.choose(MENU)) != "repeat":
            if choice == "plots":
                session.summary()
            elif choice == "save":
                session.save_chosen(session.experiments[-1], save_path, description)
            elif choice == "exit" and session.confirm_exit():
                return 0


if __name__ == "__main__":
    cli.run(main)
