"""classification.py's experiments (part B): the encoder of a saved autoencoder under a fully connected
head, trained in two stages, and its test-set report."""
import copy
import os

from convae import classifier, cli, data, devices, metrics, plots
from convae.backend import keras
from convae.encoder import check_fits, extract_encoder, load_autoencoder
from convae.experiment import Definition, Trained
from convae.files import md5_hex
from convae.networks import VIEWS, averaged_over_shifts, build_classifier, count_parameters
from convae.params import Param, choice, differences, integer, integer_choice, real


# Settings: flags only, fixed for the whole run.
SETTINGS = data.settings(
    0.1, "share of the training images held out for validation (never the test set)") + [
    Param("tta", integer_choice(*VIEWS), 9,
          "test-time augmentation: the test set is classified with the network's probabilities averaged over N "
          "copies of each image: 1 (the image alone), 5 (also shifted one pixel up, down, left and right) or 9 "
          "(and diagonally); the saved model is the network, its JSON records N", metavar="{1,5,9}")]
# Hyperparameters: those with a prompt are asked for before every experiment unless given as flags.
HYPERPARAMETERS = [
    Param("fc_units", integer(1, 65536), 128, "units in the fully connected layer",
          "Units in the fully connected layer", metavar="N"),
    Param("epochs", integer(1, 10000), 2, "stage 1 epochs: the head alone, encoder frozen",
          "Epochs of stage 1 (head only)", metavar="N"),
    Param("fine_tune_epochs", integer(0, 10000), 10, "stage 2 epochs: the whole network (0 skips stage 2)",
          "Epochs of stage 2 (whole network)", metavar="N"),
    Param("batch_size", integer(1, 65536), 128, "images per training step", "Batch size", fit=data.fit_batch_size,
          metavar="N"),
    Param("dropout", real(0.0, 1.0), 0.3, "dropout rate after the fully connected layer", "Dropout rate",
          metavar="R"),
    Param("encoder_dropout", real(0.0, 1.0), 0.0,
          "dropout rate of the encoder's own Dropout layers in stage 2 (0: left out; an encoder saved without "
          "dropout has none)", metavar="R",
          group=cli.TRAINING),
    Param("patience", integer(0, 10000), 0,
          "early stopping: end a stage after N epochs without a better validation loss and restore its best "
          "weights (0: off; it cuts a cosine schedule short)", metavar="N", group=cli.TRAINING),
    Param("learning_rate", real(1e-6, 1.0), 1e-3, "Adam's learning rate in stage 1 (the head)", metavar="LR",
          group=cli.TRAINING),
    Param("fine_tune_learning_rate", real(1e-7, 1.0), 2e-3, "Adam's learning rate in stage 2 (the whole network)",
          metavar="LR", group=cli.TRAINING),
    Param("schedule", choice("cosine", "constant"), "cosine",
          "learning rate over each stage: cosine decay to zero, or constant", metavar="{cosine,constant}",
          group=cli.TRAINING),
    Param("batch_norm", choice("frozen", "trained"), "frozen",
          "the encoder's BatchNormalization in stage 2: frozen (the autoencoder's statistics) or trained "
          "(batch statistics, moving averages updated)", metavar="{frozen,trained}", group=cli.TRAINING),
    Param("shift", real(0.0, 0.5, hi_inclusive=True), 0.1,
          "random shifts, as a fraction of the image size (0: none)", metavar="F", group=cli.AUGMENTATION),
    Param("rotation", real(0.0, 180.0, hi_inclusive=True), 10.0,
          "random rotations, in degrees either way (0: none)", metavar="DEG", group=cli.AUGMENTATION),
    Param("zoom", real(0.0, 0.5, hi_inclusive=True), 0.1,
          "random zoom, as a fraction (0: none)", metavar="F", group=cli.AUGMENTATION),
]
COLUMNS = [("experiment", "#"), ("fc_units", "units"), ("epochs", "epochs"), ("fine_tune_epochs", "fine-tune"),
           ("batch_size", "batch"), ("dropout", "dropout"), ("encoder_dropout", "enc_drop"),
           ("patience", "patience"), ("learning_rate", "lr"), ("fine_tune_learning_rate", "ft_lr"),
           ("schedule", "schedule"), ("batch_norm", "bn"), ("shift", "shift"), ("rotation", "rotation"),
           ("zoom", "zoom"), ("parameters", "parameters"), ("loss", "loss"),
           ("accuracy", "accuracy"), ("val_loss", "val_loss"), ("val_accuracy", "val_acc"),
           ("val_precision", "val_prec"), ("val_recall", "val_recall"), ("val_f1", "val_f1"),
           ("minutes", "minutes"), ("status", "status"), ("saved", "saved to")]
PATHS = [("-d", "train_images", "training images (idx, gzipped or not)"),
         ("-dl", "train_labels", "training labels"),
         ("-t", "test_images", "test images"),
         ("-tl", "test_labels", "test labels"),
         ("-model", "model", "the autoencoder (.h5 or .keras) whose encoder the classifier reuses")]
OPTIONS = [("--output-dir", "DIR",
            "where plots, tables and test reports go (default: runs/classification-<date-time>)"),
           ("--save", "PATH", "where to save the classifier, .h5 or .keras (default: models/classifier.h5; with "
                              "--no-input it is saved only when this is given)")]


class Inputs:
    """The four data files and the autoencoder, each checked against the others as it arrives, and
    the split of the training images that a run's settings ask for."""

    def __init__(self, paths, prompter, runtime, autoencoder=True):
        """`autoencoder=False`: the data files only (a sweep whose trials train their own autoencoders);
        `with_autoencoder` then gives the inputs with one."""
        def ask(label, dest, load, flag):
            return cli.ask_file(prompter, label, paths.get(dest), load, flag)
        self.runtime = runtime
        self.train_images = ask("Training images (idx file)", "train_images", data.load_images, "-d")
        self.train_labels = ask("Training labels (idx file)", "train_labels", self._train_labels, "-dl")
        self.classes = int(self.train_labels.array.max()) + 1
        self.test_images = ask("Test images (idx file)", "test_images", self._test_images, "-t")
        self.test_labels = ask("Test labels (idx file)", "test_labels", self._test_labels, "-tl")
        if autoencoder:
            self.encoder = ask("Autoencoder (.h5 or .keras file)", "model", self._encoder, "-model")
            print(f"{self.autoencoder_path}: {self.encoder_note}")
        print(f"{len(self.train_labels.array)} training images ({self.classes} classes), "
              f"{len(self.test_labels.array)} test images")

    def with_autoencoder(self, path):
        """These data files with the encoder of the autoencoder at `path` (a copy; the files are shared)."""
        inputs = copy.copy(self)
        inputs.encoder = inputs._encoder(path)
        print(f"{inputs.autoencoder_path}: {inputs.encoder_note}")
        return inputs

    def _train_labels(self, path):
        labels = data.load_labels(path)
        data.check_pair(self.train_images, labels)
        return labels

    def _test_images(self, path):
        images = data.load_images(path)
        data.check_same_size(self.train_images, images)
        return images

    def _test_labels(self, path):
        labels = data.load_labels(path)
        data.check_pair(self.test_images, labels)
        data.check_classes(labels, self.classes)
        return labels

    def _encoder(self, path):
        keras(self.runtime.verbose)
        encoder, note = extract_encoder(load_autoencoder(path, self.train_images.array.shape[1:] + (1,)), path)
        check_fits(encoder, self.train_images.array.shape[1:] + (1,), path)
        self.autoencoder_path, self.encoder_note = path, note
        with open(path, "rb") as f:
            self.autoencoder_md5 = md5_hex(f.read())
        return encoder

    def context(self):
        return {"image_shape": self.train_images.array.shape[1:], "n_images": len(self.train_images.array)}

    def checksums(self):
        return dict({name: f["md5"] for name, f in self.record().items()}, autoencoder=self.autoencoder_md5)

    def indices(self, settings):
        """(training, validation) indices of the images that `settings` (--limit, --val-split, --seed) take,
        every class keeping its share in both."""
        labels = self.train_labels.array[:settings["limit"]]
        return data.split_indices(len(labels), settings["val_split"], settings["seed"], labels)

    def split(self, settings):
        limit = settings["limit"]
        pixels, labels = data.to_float(self.train_images.array[:limit]), self.train_labels.array[:limit]
        train_idx, val_idx = self.indices(settings)
        return data.Split((pixels[train_idx], labels[train_idx]), (pixels[val_idx], labels[val_idx]))

    def record(self):
        files = {"train_images": self.train_images, "train_labels": self.train_labels,
                 "test_images": self.test_images, "test_labels": self.test_labels}
        return {name: {"path": f.path, "md5": f.md5, "count": int(len(f.array))} for name, f in files.items()}


def train(setup, number, hyper, bookkeeping):
    """Build the classifier on a fresh copy of the encoder and train it in two stages (its checkpoint
    in `bookkeeping`, checkpoint.Bookkeeping); evaluate it on the training and validation images."""
    train_set, validation, inputs, runtime = setup.data.train, setup.data.validation, setup.inputs, setup.runtime
    convolutions = runtime.convolutions()
    encoder = classifier.fresh_encoder(inputs.encoder, hyper["encoder_dropout"], convolutions)
    if hyper["encoder_dropout"] and not classifier.dropout_layers(encoder):
        print(f"Note: this encoder has no Dropout layers for --encoder-dropout {hyper['encoder_dropout']:g} to act on.")
    model = build_classifier(encoder, inputs.classes, hyper["fc_units"], hyper["dropout"],
                             augment=(hyper["shift"], hyper["rotation"], hyper["zoom"]),
                             features=classifier.feature_statistics(encoder, train_set[0],
                                                                    device_count=runtime.devices))
    print(f"\nExperiment {number}: {count_parameters(model):,} parameters, {len(train_set[0])} training and "
          f"{len(validation[0])} validation images"
          + (", convolutions in bfloat16" if convolutions == "bfloat16" else ""))
    state, status = classifier.train_two_stages(model, encoder, setup.data, hyper, bookkeeping,
                                                seed=setup.settings["seed"], runtime=runtime)
    extra = {"stage2_start": state.stage2_start, "optimizers": state.optimizers, "convolutions": convolutions,
             "split": {"train": data.class_counts(train_set[1], inputs.classes),
                       "validation": data.class_counts(validation[1], inputs.classes)}}
    if not state.history.get("loss"):
        return Trained(model, status, extra=extra)
    if convolutions == "bfloat16":  # what follows scores the saved network, whose convolutions are float32
        model = classifier.float32_convolutions(model)
    # Both in inference mode (no dropout, no augmentation), so that they compare; the network alone.
    fit = metrics.evaluate(train_set[1], devices.predict(model, train_set[0], runtime.devices))
    val = metrics.evaluate(validation[1], devices.predict(model, validation[0], runtime.devices))
    scores = {"loss": fit["loss"], "accuracy": fit["accuracy"], "val_loss": val["loss"],
               "val_accuracy": val["accuracy"], "val_precision": val["precision"], "val_recall": val["recall"],
               "val_f1": val["f1"]}
    print(f"Experiment {number}: validation accuracy {val['accuracy']:.4f}, loss {val['loss']:.4f}, "
          f"macro F1 {val['f1']:.4f}; training accuracy {fit['accuracy']:.4f} ({status}, "
          f"{bookkeeping.clock() / 60:.1f} min)")
    views = setup.settings["tta"]
    if views > 1:
        tta = metrics.evaluate(validation[1], devices.predict(averaged_over_shifts(model, views), validation[0],
                                                              runtime.devices))
        scores["val_accuracy_tta"], scores["val_loss_tta"] = tta["accuracy"], tta["loss"]
        print(f"  averaged over {views} shifted views (--tta): validation accuracy {tta['accuracy']:.4f}, "
              f"{tta['errors']} wrong against {val['errors']}")
    return Trained(model, status, scores, extra)


def experiment_figures(setup, experiment):
    n = experiment.number
    changed = differences(HYPERPARAMETERS, experiment.hyper)
    title = f"{experiment.name}: " + (", ".join(changed) if changed else "the default hyperparameters")
    return [plots.history(experiment.history, setup.path(f"experiment-{n}-curves.png"), title,
                          ["loss", "accuracy"], experiment.extra.get("stage2_start"), show=setup.runtime.show)]


def summary_figures(session, show):
    n = session.experiments[-1].number
    return [plots.against_hyperparameters(session.rows(), [p.name for p in HYPERPARAMETERS], ["loss", "accuracy"],
                                          session.path(f"after-experiment-{n}-vs-hyperparameters.png"),
                                          show=show)]


def report(inputs, experiment, folder, runtime):
    """Classify the test set with an experiment's model; its report and figures go to
    `folder`/test-experiment-<n>/."""
    settings = experiment.settings
    about = {"experiment": experiment.number, "hyperparameters": experiment.hyper, "settings": settings,
             "autoencoder": inputs.autoencoder_path, "data": inputs.record()}
    result, written = classifier.classify_test_set(
        experiment.model, experiment.number, data.to_float(inputs.test_images.array), inputs.test_labels.array,
        inputs.classes, settings["tta"], os.path.join(folder, f"test-experiment-{experiment.number}"), about, runtime)
    for path in written:
        print(f"  wrote {path}")
    experiment.extra["test"] = {k: result[k] for k in ("accuracy", "loss", "errors")}
    return result


def describe(inputs, experiment):
    """The JSON description of an experiment's saved model."""
    return {"model": "classifier on the encoder of an autoencoder", "experiment": experiment.number,
            "hyperparameters": experiment.hyper, "settings": experiment.settings, "status": experiment.status,
            "validation": experiment.metrics, "test": experiment.extra.get("test"),
            "history": experiment.history, "stage2_first_epoch": experiment.extra.get("stage2_start"),
            "optimizers": experiment.extra.get("optimizers"), "split": experiment.extra.get("split"),
            "convolutions": experiment.extra.get("convolutions"),
            "parameters": experiment.parameters, "classes": inputs.classes,
            "autoencoder": inputs.autoencoder_path, "encoder": inputs.encoder_note,
            "input_shape": list(experiment.model.input_shape[1:]), "data": inputs.record(),
            "seed": experiment.settings["seed"]}


DEFINITION = Definition("classification.py", "classification", PATHS, SETTINGS, HYPERPARAMETERS, COLUMNS,
                        "val_accuracy", True, inputs=Inputs, train=train, figures=experiment_figures,
                        summary_figures=summary_figures, describe=describe, report=report, options=tuple(OPTIONS))
