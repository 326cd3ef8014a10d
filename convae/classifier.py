"""The classifier's two training stages: the head alone, then the whole network."""
import numpy as np

from convae import training
from convae.backend import keras


def fresh_encoder(encoder, dropout=0.0):
    """A copy of `encoder` with the autoencoder's weights, so that every experiment starts alike.

    The encoder's Dropout layers stay where `dropout` is not 0, to act in stage 2 only (see
    freeze_encoder and unfreeze_encoder), and are left out otherwise. Their rate in the autoencoder served the
    reconstruction. In stage 1 the frozen encoder should give the head the same features in training
    as in use, and a Keras 3 fit() cannot keep a nested layer in inference mode, so the rate is 0
    there. BatchNormalization runs on the fused kernel.
    """
    from convae.layers import FastDropout, FusedBatchNormalization, copy_weights
    k = keras()

    def clone(layer):
        if isinstance(layer, k.layers.Dropout):
            return FastDropout(dropout, name=layer.name) if dropout else k.layers.Identity(name=layer.name)
        if isinstance(layer, k.layers.BatchNormalization):
            return FusedBatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())
    copy = k.models.clone_model(encoder, clone_function=clone, recursive=True)
    copy_weights(encoder, copy)
    return copy


def dropout_layers(encoder):
    """The encoder's Dropout layers, nested models included."""
    return [layer for layer in _all_layers(encoder) if isinstance(layer, keras().layers.Dropout)]


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
    for layer in _all_layers(encoder):
        if isinstance(layer, keras().layers.BatchNormalization):
            layer.trainable = batch_norm == "trained"
    for layer in dropout_layers(encoder):
        layer.rate = dropout


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def compile_classifier(model, learning_rate, decay_steps=None, label_smoothing=0.0, weight_decay=0.0):
    """Compile (again: a change of `trainable` takes effect only at compile time).

    With `decay_steps` the learning rate follows a cosine from `learning_rate` down to zero.
    With `label_smoothing` e the target is 1 - e on the true class and e spread evenly over all
    classes, so the network is not pushed towards ever more confident outputs.
    With `weight_decay` w the optimizer is AdamW: after each step every kernel is multiplied by
    1 - w * (the step's learning rate), apart from the gradient (Loshchilov and Hutter, 2019).
    """
    k = keras()
    if decay_steps:
        learning_rate = k.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    if label_smoothing:  # the labels are one-hot then (see targets): Keras's sparse loss has no smoothing
        loss = k.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    else:
        loss = "sparse_categorical_crossentropy"
    if weight_decay:
        optimizer = k.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    else:
        optimizer = k.optimizers.Adam(learning_rate)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


def targets(labels, classes, label_smoothing):
    """What the loss compares the outputs with: class numbers, or one-hot rows for label smoothing."""
    return np.eye(classes, dtype="float32")[labels] if label_smoothing else labels


def weight_average(last):
    """A callback that ends a fit with the mean of the weights after each of its last `last` epochs.

    While the learning rate stays up, the weights wander around a minimum from epoch to epoch, and
    their mean tends to lie nearer its centre than any one of them (stochastic weight averaging,
    Izmailov et al., 2018); at the end of a cosine decay they hardly move, and their mean is close to
    the last of them. All floating-point weights are averaged, so trained BatchNormalization moving
    statistics are too. Where early stopping ended the fit, its restored best weights stand; where
    Ctrl-C did, the last weights do (on_train_end is not called then).
    """
    class WeightAverage(keras().callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.sums, self.count = None, 0

        def on_epoch_end(self, epoch, logs=None):
            if epoch < self.params["epochs"] - last:
                return
            values = [np.asarray(v.numpy(), np.float64) for v in self._averaged()]
            self.sums = values if self.sums is None else [s + v for s, v in zip(self.sums, values)]
            self.count += 1

        def on_train_end(self, logs=None):
            if self.count < 2 or self.model.stop_training:  # a fit that ran to its end: the last epochs were kept
                return
            for variable, total in zip(self._averaged(), self.sums):
                variable.assign((total / self.count).astype(variable.dtype))
            epochs = self.params["epochs"]
            print(f"Weights averaged over epochs {epochs - self.count + 1} to {epochs}.")

        def _averaged(self):
            return [v for v in self.model.weights if "float" in str(v.dtype)]

    return WeightAverage()


def _stage_callbacks(patience, callbacks):
    if not patience:
        return list(callbacks)
    stop = keras().callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True,
                                           verbose=1)
    return [stop, *callbacks]


def train_two_stages(model, encoder, train, validation, hyper, callbacks=(), seed=0):
    """Train the head with the encoder frozen, then everything; return (history, stage-2 start, status)."""
    smoothing = hyper.get("label_smoothing", 0.0)
    classes = model.output_shape[-1]
    x, y = train[0], targets(train[1], classes, smoothing)
    validation = (validation[0], targets(validation[1], classes, smoothing))
    steps = -(-len(x) // hyper["batch_size"])
    decay = (lambda epochs: epochs * steps) if hyper["schedule"] == "cosine" else (lambda epochs: None)  # noqa: E731
    callbacks = _stage_callbacks(hyper.get("patience", 0), callbacks)
    freeze_encoder(encoder)
    weight_decay = hyper.get("weight_decay", 0.0)
    compile_classifier(model, hyper["learning_rate"], decay(hyper["epochs"]), smoothing, weight_decay)
    print(f"Stage 1: the fully connected head only, {_epochs(hyper['epochs'])}")
    history, interrupted = training.fit(model, x, y, validation, hyper["epochs"], hyper["batch_size"], callbacks,
                                        seed)
    stage2_start = len(history.get("loss", [])) + 1
    if interrupted:
        return history, None, f"stopped in stage 1 at epoch {stage2_start - 1} of {hyper['epochs']}"
    if hyper["fine_tune_epochs"] == 0:
        return history, None, "complete (stage 1 only)"
    unfreeze_encoder(encoder, hyper.get("batch_norm", "frozen"), hyper.get("encoder_dropout", 0.0))
    compile_classifier(model, hyper["fine_tune_learning_rate"], decay(hyper["fine_tune_epochs"]), smoothing,
                       weight_decay)
    print(f"Stage 2: the whole network, {_epochs(hyper['fine_tune_epochs'])}")
    average = hyper.get("average_epochs", 0)
    more, interrupted = training.fit(model, x, y, validation, hyper["fine_tune_epochs"], hyper["batch_size"],
                                     [*callbacks, weight_average(average)] if average > 1 else callbacks, seed + 1)
    for key, values in more.items():
        history.setdefault(key, []).extend(values)
    done = len(more.get("loss", []))
    status = f"stopped in stage 2 at epoch {done} of {hyper['fine_tune_epochs']}" if interrupted else "complete"
    return history, stage2_start, status


def _epochs(n):
    return f"{n} epoch" + ("" if n == 1 else "s")
