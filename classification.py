"""Classify MNIST-format digits with the encoder of a saved autoencoder (part B).

usage: python classification.py -d TRAIN_IMAGES -dl TRAIN_LABELS -t TEST_IMAGES -tl TEST_LABELS -model AUTOENCODER.h5
"""
import csv
import io
import json
import os
import sys

import convae  # noqa: F401  first: where the requirements are missing, it says so in one line
import numpy as np

from convae import checkpoint, classifier, cli, data, metrics, plots, training
from convae.backend import seed_everything, set_verbose
from convae.encoder import check_fits, extract_encoder, load_autoencoder
from convae.files import md5_hex, write_text_atomic
from convae.networks import VIEWS, averaged_over_shifts, build_classifier
from convae.params import Param, choice, differences, integer, integer_choice, real
from convae.prompts import Prompter
from convae.records import check_save_path, make_output_dir
from convae.session import Session


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
          "dropout rate of the encoder's own Dropout layers in stage 2 (0: left out, as in the recipe; the 45-epoch "
          "recipe of `accuracy.sh --previous` uses 0.25; an encoder saved without dropout has none)", metavar="R",
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
MENU = [("repeat", "repeat with other hyperparameters"), ("plots", "plots and tables of the experiments so far"),
        ("classify", "classify the test set"), ("save", "save a classifier"), ("exit", "exit")]


def parse_args(argv):
    options = [("--output-dir", "DIR", "where plots, tables and test reports go "
                                       "(default: runs/classification-<date-time>)"),
               ("--save", "PATH", "where to save the classifier, .h5 or .keras (default: models/classifier.h5; with "
                                  "--no-input it is saved only when this is given)")]
    parser = cli.make_parser("classification.py", __doc__, PATHS, SETTINGS + HYPERPARAMETERS, options)
    return cli.parse_args(parser, argv)


class Inputs:
    """The four data files and the autoencoder, each checked against the others as it arrives."""

    def __init__(self, args, prompter):
        ask = lambda label, dest, load, flag: cli.ask_file(prompter, label, getattr(args, dest), load, flag)  # noqa
        self.train_images = ask("Training images (idx file)", "train_images", data.load_images, "-d")
        self.train_labels = ask("Training labels (idx file)", "train_labels", self._train_labels, "-dl")
        self.classes = int(self.train_labels.array.max()) + 1
        self.test_images = ask("Test images (idx file)", "test_images", self._test_images, "-t")
        self.test_labels = ask("Test labels (idx file)", "test_labels", self._test_labels, "-tl")
        self.autoencoder_path, (self.encoder, self.encoder_note) = None, (None, None)
        self.encoder = ask("Autoencoder (.h5 or .keras file)", "model", self._encoder, "-model")

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
        encoder, note = extract_encoder(load_autoencoder(path, self.train_images.array.shape[1:] + (1,)), path)
        check_fits(encoder, self.train_images.array.shape[1:] + (1,), path)
        self.autoencoder_path, self.encoder_note = path, note
        with open(path, "rb") as f:
            self.autoencoder_md5 = md5_hex(f.read())
        return encoder

    def record(self):
        files = {"train_images": self.train_images, "train_labels": self.train_labels,
                 "test_images": self.test_images, "test_labels": self.test_labels}
        return {name: {"path": f.path, "md5": f.md5, "count": int(len(f.array))} for name, f in files.items()}


def train_experiment(number, hyper, settings, inputs, train, validation, file, resume=None):
    """Build the classifier on a fresh copy of the encoder and train it in two stages, writing its
    checkpoint to `file` after every epoch (from the checkpoint `resume`, checkpoint.Resumed, where
    one is given)."""
    seed_everything(settings["seed"])
    encoder = classifier.fresh_encoder(inputs.encoder, hyper["encoder_dropout"])
    if hyper["encoder_dropout"] and not classifier.dropout_layers(encoder):
        print(f"Note: this encoder has no Dropout layers for --encoder-dropout {hyper['encoder_dropout']:g} to act on.")
    model = build_classifier(encoder, inputs.classes, hyper["fc_units"], hyper["dropout"],
                             augment=(hyper["shift"], hyper["rotation"], hyper["zoom"]),
                             features=classifier.feature_statistics(encoder, train[0]))
    print(f"\nExperiment {number}: {training.count_parameters(model):,} parameters, {len(train[0])} training and "
          f"{len(validation[0])} validation images")
    state, arrays = (resume.state, resume.arrays) if resume else (checkpoint.State(), None)
    clock = training.timer(state.seconds)
    state, status = classifier.train_two_stages(model, encoder, train, validation, hyper, state, file, arrays, clock,
                                                seed=settings["seed"])
    if not status.startswith("stopped"):
        file.remove()
    history = state.history
    if not history.get("loss"):
        print(f"Experiment {number} discarded: no epoch finished.")
        return None
    # Both in inference mode (no dropout, no augmentation), so that they compare; the network alone.
    fit = metrics.evaluate(train[1], training.predict(model, train[0]))
    val = metrics.evaluate(validation[1], training.predict(model, validation[0]))
    figures = {"loss": fit["loss"], "accuracy": fit["accuracy"], "val_loss": val["loss"],
               "val_accuracy": val["accuracy"], "val_precision": val["precision"], "val_recall": val["recall"],
               "val_f1": val["f1"]}
    print(f"Experiment {number}: validation accuracy {val['accuracy']:.4f}, loss {val['loss']:.4f}, "
          f"macro F1 {val['f1']:.4f}; training accuracy {fit['accuracy']:.4f} ({status}, {clock() / 60:.1f} min)")
    predictor = averaged_over_shifts(model, settings["tta"])
    if predictor is not model:
        tta = metrics.evaluate(validation[1], training.predict(predictor, validation[0]))
        figures["val_accuracy_tta"] = tta["accuracy"]
        print(f"  averaged over {settings['tta']} shifted views (--tta): validation accuracy {tta['accuracy']:.4f}, "
              f"{tta['errors']} wrong against {val['errors']}")
    return training.Experiment(number, dict(hyper), model, history, clock(), status, figures,
                               extra={"stage2_start": state.stage2_start, "optimizers": state.optimizers})


def experiment_figures(session, experiment):
    n = experiment.number
    changed = differences(HYPERPARAMETERS, experiment.hyper)
    title = f"Experiment {n}: " + (", ".join(changed) if changed else "the default hyperparameters")
    return [plots.history(experiment.history, session.path(f"experiment-{n}-curves.png"), title,
                          ["loss", "accuracy"], experiment.extra.get("stage2_start"))]


def summary_figures(session):
    n = session.experiments[-1].number
    return [plots.against_hyperparameters(session.rows(), [p.name for p in HYPERPARAMETERS], ["loss", "accuracy"],
                                          session.path(f"after-experiment-{n}-vs-hyperparameters.png"))]


def classify_test_set(session, experiment, inputs, settings):
    """Report the test set's figures for one experiment's model and write its files."""
    x = data.to_float(inputs.test_images.array)
    y = inputs.test_labels.array
    probabilities = training.predict(averaged_over_shifts(experiment.model, settings["tta"]), x)
    report = metrics.evaluate(y, probabilities)
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    folder = session.path(f"test-experiment-{experiment.number}")
    os.makedirs(folder, exist_ok=True)
    views = f" (averaged over {settings['tta']} shifted views)" if settings["tta"] > 1 else ""
    print(f"\nTest set, experiment {experiment.number} ({len(y)} images): accuracy {report['accuracy']:.4f}, "
          f"loss {report['loss']:.4f}, {report['correct']} correct, {report['errors']} incorrect{views}")
    print(_sklearn_report(y, predicted, inputs.classes))
    print("Confusion matrix (rows: true class, columns: predicted):")
    print(np.array2string(np.array(report["confusion_matrix"]), max_line_width=200))
    report.update(experiment=experiment.number, hyperparameters=experiment.hyper, settings=settings,
                  autoencoder=inputs.autoencoder_path, data=inputs.record())
    written = [os.path.join(folder, "test_report.json"), os.path.join(folder, "predictions.csv")]
    write_text_atomic(written[0], json.dumps(report, indent=2) + "\n")
    write_text_atomic(written[1], _predictions_csv(y, predicted, confidence))
    right, wrong = np.flatnonzero(predicted == y), np.flatnonzero(predicted != y)
    titles = lambda idx: [f"{predicted[i]} (true {y[i]})" for i in idx]  # noqa: E731
    written += [
        plots.image_grid(x[right[:30]], titles(right[:30]), os.path.join(folder, "correct.png"),
                         f"Correctly classified: {len(right)} of {len(y)} (predicted, true)"),
        plots.image_grid(x[wrong[:30]], titles(wrong[:30]), os.path.join(folder, "misclassified.png"),
                         f"Misclassified: {len(wrong)} of {len(y)} (predicted, true)"),
        plots.confusion(report["confusion_matrix"], os.path.join(folder, "confusion_matrix.png"),
                        f"Experiment {experiment.number}: test confusion matrix"),
        plots.embedding(_feature_map(experiment.model, x), y, os.path.join(folder, "encoder_features_pca.png"),
                        "Encoder features of the test images (PCA), by true class"),
    ]
    for path in written:
        print(f"  wrote {path}")
    experiment.extra["test"] = {k: report[k] for k in ("accuracy", "loss", "errors")}
    return report


def _sklearn_report(y, predicted, classes):
    from sklearn.metrics import classification_report
    return classification_report(y, predicted, labels=list(range(classes)), digits=4, zero_division=0)


def _predictions_csv(y, predicted, confidence):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["index", "true", "predicted", "confidence"])
    for i, (t, p, c) in enumerate(zip(y, predicted, confidence)):
        writer.writerow([i, int(t), int(p), f"{c:.6f}"])
    return out.getvalue()


def _feature_map(model, x):
    """The encoder's output for `x`, projected on its first two principal components."""
    from sklearn.decomposition import PCA
    from convae.backend import keras
    features = training.predict(keras().Model(model.input, model.get_layer("flatten").output), x)
    return PCA(n_components=2, random_state=0).fit_transform(features)


def describe(inputs, settings, split):
    """A function giving the JSON description of an experiment's saved model; `split` holds the
    training and validation images per class."""
    def description(experiment):
        return {"model": "classifier on the encoder of an autoencoder", "experiment": experiment.number,
                "hyperparameters": experiment.hyper, "settings": settings, "status": experiment.status,
                "validation": experiment.metrics, "test": experiment.extra.get("test"),
                "history": experiment.history, "stage2_first_epoch": experiment.extra.get("stage2_start"),
                "optimizers": experiment.extra.get("optimizers"), "split": split,
                "parameters": experiment.parameters, "classes": inputs.classes,
                "autoencoder": inputs.autoencoder_path, "encoder": inputs.encoder_note,
                "input_shape": list(experiment.model.input_shape[1:]), "data": inputs.record(),
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
    inputs = Inputs(args, prompter)
    print(f"{inputs.autoencoder_path}: {inputs.encoder_note}")
    context = {"image_shape": inputs.train_images.array.shape[1:], "n_images": len(inputs.train_images.array)}
    settings = cli.resolve(SETTINGS, vars(args), prompter, context)
    limit = settings["limit"]
    pixels, labels = data.to_float(inputs.train_images.array[:limit]), inputs.train_labels.array[:limit]
    train_idx, val_idx = data.split_indices(len(labels), settings["val_split"], settings["seed"], labels)
    train, validation = (pixels[train_idx], labels[train_idx]), (pixels[val_idx], labels[val_idx])
    del pixels
    context["n_train"] = len(train_idx)
    identity = {"script": "classification.py", "data": dict({k: v["md5"] for k, v in inputs.record().items()},
                                                           autoencoder=inputs.autoencoder_md5), "settings": settings}
    hyper, resumed = cli.resume_point(args, HYPERPARAMETERS, dict(context, **settings), identity)
    session = Session(prompter, make_output_dir(args.output_dir, "classification"), COLUMNS, "val_accuracy", True,
                      summary_figures, first_number=resumed.experiment if resumed else 1, params=HYPERPARAMETERS)
    print(f"{len(labels)} training images ({inputs.classes} classes), {len(inputs.test_labels.array)} test images; "
          f"outputs go to {session.output_dir}")
    save_path = args.save or os.path.join("models", "classifier.h5")
    split = {"train": data.class_counts(train[1], inputs.classes),
             "validation": data.class_counts(validation[1], inputs.classes)}
    description = describe(inputs, settings, split)
    while True:
        if not resumed:
            hyper = cli.resolve(HYPERPARAMETERS, vars(args), prompter, dict(context, **settings), previous=hyper)
        number = session.next_number()
        file = checkpoint.File(session.output_dir, dict(identity, hyperparameters=hyper), number)
        experiment = train_experiment(number, hyper, settings, inputs, train, validation, file, resumed)
        resumed = None
        if experiment:
            session.add(experiment, experiment_figures(session, experiment))
        if args.no_input:
            return session.finish(args.save, description,
                                  report=lambda last: classify_test_set(session, last, inputs, settings))
        while (choice := session.choose(MENU)) != "repeat":
            if choice == "plots":
                session.summary()
            elif choice == "classify":
                print("\n" + session.table())
                chosen = session.pick("Experiment whose model classifies the test set (default: best validation "
                                      "accuracy)", session.best() or session.experiments[-1])
                classify_test_set(session, chosen, inputs, settings)
            elif choice == "save":
                session.save_chosen(session.best() or session.experiments[-1], save_path, description)
            elif choice == "exit" and session.confirm_exit():
                return 0


if __name__ == "__main__":
    cli.run(main)
