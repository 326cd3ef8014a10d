"""The fit loop that survives Ctrl-C, and early stopping whose state a checkpoint can hold."""
import contextlib
import dataclasses
import signal
import sys
import threading

import numpy as np

from convae import batching, devices, dispatch, internals
from convae.backend import is_tensorflow, keras
from convae.runtime import Runtime


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Which epochs a fit runs and how: to `epochs` from `initial_epoch`, `batch_size` images a step, the
    batches of each epoch drawn from `seed` (batching.epoch_order)."""
    epochs: int
    batch_size: int
    seed: int = 0
    initial_epoch: int = 0


def fit(model, train, validation, schedule, keeper, runtime=None, callbacks=(), statistics_from=None):
    """model.fit on `train` ((x, y)) over the epochs of `schedule` (Schedule); returns True where Ctrl-C
    stopped it early.

    `keeper` (checkpoint.checkpointer) records every finished epoch in its state and checkpoint;
    it goes after `callbacks`, so that it sees their verdict. Ctrl-C takes effect between two
    steps (two blocks of steps, see convae.dispatch): the weights are then those of the last
    finished step and the state holds the epochs that finished. With `statistics_from` (images),
    the model's BatchNormalization layers take their statistics over them before each validation
    (`batch_norm_statistics`).
    """
    (x, y), epochs, batch_size = train, schedule.epochs, schedule.batch_size
    seed, initial_epoch = schedule.seed, schedule.initial_epoch
    runtime = runtime or Runtime()
    if initial_epoch >= epochs:  # resumed where the stage had ended: only its variables to restore
        keeper.set_model(model)
        keeper.on_train_begin()
        return False
    verbose = 1 if sys.stdout.isatty() else 2
    plan = batching.plan(len(x), batch_size, runtime.devices, runtime.steps_per_dispatch or dispatch.default_steps())
    if plan.block > 1 and not is_tensorflow():
        dispatch.install(model, x, y, plan.step_batch, plan.block)
        data = batching.block_batches(len(x), plan.step_batch, seed, initial_epoch, epochs, plan.block)
    else:
        internals.set_steps_per_execution(model, plan.block)  # under TensorFlow, Keras runs a block in a graph loop
        data = batching.training_batches(x, y, plan.step_batch, seed, initial_epoch, epochs)
    if runtime.devices > 1:
        validation_data = None
        callbacks = [devices.validation(*validation, batch_size, runtime.devices), *callbacks]
    else:
        validation_data = batching.validation_batches(*validation, batch_size)
    if statistics_from is not None and len(statistics_from):
        callbacks = [batch_norm_statistics(statistics_from, runtime.devices), *callbacks]
    try:
        with _ctrl_c_between_steps() as stop:
            model.fit(data, steps_per_epoch=plan.steps, validation_data=validation_data, initial_epoch=initial_epoch,
                      epochs=epochs, verbose=verbose, callbacks=[stop, *callbacks, keeper])
    except KeyboardInterrupt:
        print(f"\nTraining stopped by Ctrl-C after {keeper.state.epoch} of {epochs} epochs.", flush=True)
        return True
    return False


def batch_norm_statistics(images, device_count=1, batch=256):
    """A callback that gives the model's trainable BatchNormalization layers, before each epoch's
    validation, the mean and variance of what each of them sees over `images` with the weights as
    they are: "precise BatchNorm". Moving averages of the batches' statistics lag weights that a
    short run still moves fast; the network that validates, is checkpointed and is saved is then
    not the one that trained, and a last epoch's validation loss could be three times its training
    loss (docs/design.md).

    One inference pass (dropout off) over `images` in the compiled predict function gives every
    layer's statistics at once: in that pass each of those layers normalises with its batch's own
    statistics, as in training, and hands out each image's per-channel mean and mean square;
    their averages over all the images become the layer's moving mean and variance (see
    `statistics_images` for how many)."""
    k = keras()

    class Statistics(k.callbacks.Callback):
        layers = probe = None
        done = False

        def on_epoch_begin(self, epoch, logs=None):
            self.done = False

        def on_test_begin(self, logs=None):  # Keras's validation, at the end of each epoch
            self.update()

        def on_epoch_end(self, epoch, logs=None):  # where validation is not Keras's (--distribute): first
            if not self.done:
                self.update()

        def update(self):
            if self.probe is None:
                self.layers, self.probe = statistics_probe(self.model)
            if self.layers:
                moments = devices.predict(self.probe, images, device_count, even_batch(len(images), batch))
                for layer, mean, square in zip(self.layers, moments[0::2], moments[1::2]):
                    mean, square = mean.astype(np.float64).mean(axis=0), square.astype(np.float64).mean(axis=0)
                    layer.moving_mean.assign(mean.astype("float32"))
                    layer.moving_variance.assign(np.maximum(square - mean ** 2, 0.0).astype("float32"))
            self.done = True
    return Statistics()


def statistics_probe(model):
    """(layers, probe): `model`'s trainable BatchNormalization layers (channels last), and a model
    sharing all of `model`'s layers whose outputs are, for each of those layers in turn, each
    image's per-channel mean and mean square of what the layer sees, the layer normalising with
    its batch's statistics."""
    from convae.layers import BatchMoments
    k = keras()
    layers, outputs = [], []

    def call(layer, *args, **kwargs):
        if not (isinstance(layer, k.layers.BatchNormalization) and layer.trainable and layer.axis in (-1, 3)):
            return layer(*args, **kwargs)
        normalised, mean, square = BatchMoments(layer, name=f"{layer.name}_moments")(args[0])
        layers.append(layer)
        outputs.extend([mean, square])
        return normalised
    copy = k.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    return layers, (k.Model(copy.inputs, outputs) if layers else None)


def statistics_images(count, share=5, fewest=512, most=2048):
    """How many of `count` training images batch_norm_statistics takes: a `share`-th of them, at least
    `fewest` and at most `most` (all where there are fewer). The pass costs about a third of a
    training step per image, so a fifth of an epoch's images is about 5% of its time on the
    small runs where its cost shows; fewer than about 500 images gave noticeably noisier statistics
    (docs/design.md)."""
    return min(count, max(fewest, min(most, count // share)))


def even_batch(count, largest):
    """The batch size at most `largest` that splits `count` images into the fewest, most even batches
    (no last batch of a few images, whose statistics would be those of a few)."""
    return -(-count // -(-count // largest)) if count else largest


def early_stopping(patience):
    """An EarlyStopping callback on the validation loss (None where patience is 0)."""
    if not patience:
        return None

    class EarlyStopping(keras().callbacks.Callback):
        """End a fit after `patience` epochs without a lower validation loss, and give the model back
        the weights of its best epoch. Keras's own keeps this state in attributes a checkpoint would
        have to reach into; here `state()` and `restore()` are the way in and out."""

        def __init__(self):
            super().__init__()
            self.wait, self.best, self.best_epoch, self.best_weights = 0, None, 0, None

        def on_epoch_end(self, epoch, logs=None):
            current = logs["val_loss"]
            if self.best is None or current < self.best:
                self.wait, self.best, self.best_epoch = 0, current, epoch
                self.best_weights = self.model.get_weights()
                return
            self.wait += 1
            if self.wait >= patience:
                print(f"Epoch {epoch + 1}: early stopping")
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
                self.model.set_weights(self.best_weights)

        def state(self):
            """What a checkpoint keeps of it besides the best weights (JSON-able)."""
            return {"wait": self.wait, "best_epoch": self.best_epoch,
                    "best": None if self.best is None else float(self.best)}

        def restore(self, state, best_weights):
            """Continue from a checkpoint's `state()` and best weights (a get_weights list, or None)."""
            self.wait, self.best, self.best_epoch = state["wait"], state["best"], state["best_epoch"]
            self.best_weights = best_weights
    return EarlyStopping()


@contextlib.contextmanager
def _ctrl_c_between_steps():
    """Yield a callback that raises KeyboardInterrupt before the step after the one during which Ctrl-C
    was pressed.

    A KeyboardInterrupt raised by Python's own handler lands wherever the main thread is, at
    times inside TensorFlow's C++ code while its threads still run, and then crashed the process
    now and then ("free(): invalid next size"), losing every experiment of the session. Here
    Ctrl-C only sets a flag, and the exception is raised from Python between two steps. A second
    Ctrl-C interrupts at once, for a step that never ends.
    """
    class Stop(keras().callbacks.Callback):
        requested = False

        # At the start of the next step rather than the end of this one: a callback with a batch-end
        # hook makes Keras wait for every step's results (on a GPU that cost a quarter of the speed,
        # docs/speed.md).
        def on_train_batch_begin(self, batch, logs=None):
            self._check()

        def on_test_batch_begin(self, batch, logs=None):
            self._check()

        def _check(self):
            if self.requested:
                raise KeyboardInterrupt

    stop = Stop()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield stop
        return

    def request(signum, frame):
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
    previous = signal.signal(signal.SIGINT, request)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
