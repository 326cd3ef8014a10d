"""The classifier's two training stages (the head alone, then the whole network), and its test-set report."""
import json
import os

import numpy as np

from convae import batching, devices, internals, metrics, plots, records, training
from convae.backend import keras
from convae.checkpoint import Bookkeeping, checkpointer, model_variables
from convae.files import write_text_atomic
from convae.networks import all_layers, averaged_over_shifts, compile_classifier
from convae.runtime import Runtime


def fresh_encoder(encoder, dropout=0.0, convolutions="float32"):
    """A copy of `encoder` with the autoencoder's weights, so that every experiment starts alike.

    The encoder's Dropout layers stay where `dropout` is not 0, to act in stage 2 only (see
    freeze_encoder and unfreeze_encoder), and are left out otherwise. Their rate in the autoencoder served the
    reconstruction. In stage 1 the frozen encoder should give the head the same features in training
    as in use, and a Keras 3 fit() cannot keep a nested layer in inference mode, so the rate is 0
    there. BatchNormalization becomes the project's own (convae.layers), and with `convolutions`
    "bfloat16" every Conv2D a BFloat16Conv2D.
    """
    from convae.layers import BatchNormalization, BFloat16Conv2D, copy_weights
    k = keras()

    def clone(layer):
        if isinstance(layer, k.layers.Dropout):
            return k.layers.Dropout(dropout, name=layer.name) if dropout else k.layers.Identity(name=layer.name)
        if isinstance(layer, k.layers.BatchNormalization):
            return BatchNormalization.from_config(layer.get_config())
        if convolutions == "bfloat16" and type(layer) is k.layers.Conv2D:
            return BFloat16Conv2D.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())
    copy = k.models.clone_model(encoder, clone_function=clone, recursive=True)
    copy_weights(encoder, copy)
    return copy


def float32_convolutions(model):
    """A copy of `model` with stock Conv2D in place of BFloat16Conv2D (same weights), every other layer
    kept: the network that its saved file gives back."""
    from convae.layers import BFloat16Conv2D, copy_weights
    k = keras()

    def clone(layer):
        kind = k.layers.Conv2D if type(layer) is BFloat16Conv2D else type(layer)
        return kind.from_config(layer.get_config())
    copy = k.models.clone_model(model, clone_function=clone, recursive=True)
    copy_weights(model, copy)
    for layer in all_layers(copy):
        if isinstance(layer, k.layers.Normalization):  # its statistics reach its arrays only this way
            internals.set_normalization_statistics(layer, *layer.get_weights()[:2])
    return copy


def feature_statistics(encoder, images, chunk=4096, device_count=1):
    """The mean and variance of each of the encoder's outputs over `images`, in inference mode
    (a chunk at a time, so that the features of the whole data set are never held at once)."""
    total = squares = 0.0
    for start in range(0, len(images), chunk):
        features = devices.predict(encoder, images[start:start + chunk], device_count)
        features = features.reshape(len(features), -1).astype(np.float64)
        total, squares = total + features.sum(axis=0), squares + (features ** 2).sum(axis=0)
    mean = total / len(images)
    variance = np.maximum(squares / len(images) - mean ** 2, 0.0)
    # A feature constant over the training images (a ReLU that never fires) would be divided by
    # about zero once stage 2 moves it: floor each variance at 1% of the mean variance.
    return mean.astype(np.float32), np.maximum(variance, 0.01 * variance.mean()).astype(np.float32)


def dropout_layers(encoder):
    """The encoder's Dropout layers, nested models included."""
    return [layer for layer in all_layers(encoder) if isinstance(layer, keras().layers.Dropout)]


def freeze_encoder(encoder):
    """Stage 1: nothing in the encoder trains, BatchNormalization statistics included; no dropout."""
    encoder.trainable = False
    for layer in dropout_layers(encoder):
        layer.rate = 0.0


def unfreeze_encoder(encoder, batch_norm="frozen", dropout=0.0):
    """Stage 2: the encoder's weights train; its BatchNormalization layers stay frozen by default.

    In Keras 3 a frozen BatchNormalization layer also runs in inference mode, so its moving
    statistics, learnt on the autoencoder's task, are neither used as batch statistics nor updated.
    With batch_norm="trained" they train like the rest: batch statistics in training, moving
    statistics updated. The encoder's Dropout layers (if any) come on at rate `dropout`.
    """
    encoder.trainable = True
    for layer in all_layers(encoder):
        if isinstance(layer, keras().layers.BatchNormalization):
            layer.trainable = batch_norm == "trained"
    for layer in dropout_layers(encoder):
        layer.rate = dropout


def train_two_stages(model, encoder, data, hyper, bookkeeping=None, seed=0, runtime=None):
    """Train the head with the encoder frozen, then everything, on `data` (data.Split); return (state, status).

    `bookkeeping` (checkpoint.Bookkeeping) says where the experiment stands: a fresh state starts at
    stage 1; one read from a checkpoint, with the checkpoint's arrays, continues after the epoch it
    was written at, as if never interrupted. After every epoch the state is written to its file, with
    the seconds from its clock. The state comes back with the history of both stages.
    """
    bookkeeping = bookkeeping or Bookkeeping()
    state, file, arrays = bookkeeping.state, bookkeeping.file, bookkeeping.arrays
    x = data.train[0]
    runtime = runtime or Runtime()
    steps = batching.steps_per_epoch(len(x), hyper["batch_size"], runtime.devices)

    def run_stage(stage, epochs, learning_rate):
        nonlocal arrays
        compile_classifier(model, learning_rate, epochs * steps if hyper["schedule"] == "cosine" else None)
        state.optimizers[f"stage {stage}"] = records.describe_optimizer(model.optimizer)
        resuming = arrays is not None and state.stage == stage
        first = state.epoch if resuming else 0
        state.stage, state.epoch = stage, first
        if not first:
            state.early_stopping = None
        stopper = training.early_stopping(hyper["patience"])
        keeper = checkpointer(state, file, bookkeeping.clock, stopper, arrays if resuming else None)
        arrays = None
        print(f"Stage {stage}: {('the fully connected head only', 'the whole network')[stage - 1]}, "
              f"{_epochs(epochs)}" + (f", from epoch {first + 1}" if first else ""))
        schedule = training.Schedule(epochs, hyper["batch_size"], seed + stage - 1, first)
        interrupted = training.fit(model, data.train, data.validation, schedule, keeper, runtime,
                                   ([stopper] if stopper else []) + list(bookkeeping.callbacks))
        return interrupted, state.epoch

    if state.stage == 1:
        freeze_encoder(encoder)
        interrupted, done = run_stage(1, hyper["epochs"], hyper["learning_rate"])
        if interrupted:
            return state, f"stopped in stage 1 at epoch {done} of {hyper['epochs']}"
        if hyper["fine_tune_epochs"] == 0:
            return state, "complete (stage 1 only)"
        state.stage2_start = len(state.history.get("loss", [])) + 1
        # Stage 1 is over (early stopping's best weights restored): a run killed before stage 2's first
        # epoch ends resumes here, with the network that stage 2 starts from.
        state.stage, state.epoch, state.early_stopping = 2, 0, None
        if file is not None:
            file.write(state, {f"model/{name}": variable.numpy() for name, variable in model_variables(model).items()})
    unfreeze_encoder(encoder, hyper["batch_norm"], hyper["encoder_dropout"])
    interrupted, done = run_stage(2, hyper["fine_tune_epochs"], hyper["fine_tune_learning_rate"])
    status = f"stopped in stage 2 at epoch {done} of {hyper['fine_tune_epochs']}" if interrupted else "complete"
    return state, status


def _epochs(n):
    return f"{n} epoch" + ("" if n == 1 else "s")


def classify_test_set(model, number, images, labels, classes, views, folder, about, runtime=None):
    """Classify the test set with `model` averaged over `views` shifted copies of each image (--tta);
    print the figures and write the report (with `about`, what made the model), the predictions and
    the figures into `folder`. Returns (the report, the paths written)."""
    runtime = runtime or Runtime()
    probabilities = devices.predict(averaged_over_shifts(model, views), images, runtime.devices)
    report = metrics.evaluate(labels, probabilities)
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    over = f" (averaged over {views} shifted views)" if views > 1 else ""
    print(f"\nTest set, experiment {number} ({len(labels)} images): accuracy {report['accuracy']:.4f}, "
          f"loss {report['loss']:.4f}, {report['correct']} correct, {report['errors']} incorrect{over}")
    print(metrics.text_report(labels, predicted, classes))
    print("Confusion matrix (rows: true class, columns: predicted):")
    print(np.array2string(np.array(report["confusion_matrix"]), max_line_width=200))
    os.makedirs(folder, exist_ok=True)
    written = [os.path.join(folder, "test_report.json"), os.path.join(folder, "predictions.csv")]
    write_text_atomic(written[0], json.dumps(dict(report, **about), indent=2) + "\n")
    records.write_predictions(written[1], labels, predicted, confidence)
    features = devices.predict(keras().Model(model.input, model.get_layer("flatten").output), images, runtime.devices)
    written += plots.test_set(folder, images, labels, predicted, report["confusion_matrix"],
                              metrics.principal_components(features), number, runtime.show)
    return report, written
