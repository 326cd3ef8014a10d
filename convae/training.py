"""The fit loop that survives Ctrl-C, and early stopping whose state a checkpoint can hold."""
import contextlib
import signal
import sys
import threading

import numpy as np

from convae import batching, devices, dispatch, internals
from convae.backend import is_tensorflow, keras
from convae.runtime import Runtime


def fit(model, x, y, validation, epochs, batch_size, keeper, runtime=None, callbacks=(), seed=0, initial_epoch=0,
        statistics_from=None):
    """model.fit from `initial_epoch` to `epochs`; returns True where Ctrl-C stopped it early.

    `keeper` (checkpoint.checkpointer) records every finished epoch in its state and checkpoint;
    it goes after `callbacks`, so that it sees their verdict. Ctrl-C takes effect between two
    steps (two blocks of steps, see convae.dispatch): the weights are then those of the last
    finished step and the state holds the epochs that finished. With `statistics_from` (images),
    the model's BatchNormalization layers take their statistics over them before each validation
    (`batch_norm_statistics`).
    """
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
    if statistics_from is not None:
        callbacks = [batch_norm_statistics(statistics_from, runtime.devices), *callbacks]
    try:
        with _ctrl_c_between_steps() as stop:
            model.fit(data, steps_per_epoch=plan.steps, validation_data=validation_data, initial_epoch=initial_epoch,
                      epochs=epochs, verbose=verbose, callbacks=[stop, *callbacks, keeper])
    except KeyboardInterrupt:
        print(f"\nTraining stopped by Ctrl-C after {keeper.state.epoch} of {epochs} epochs.", flush=True)
        return True
    return False


def batch_norm_statistics(images, device_count=1, chunk=256):
    """A callback that gives the model's trainable BatchNormalization layers, before each epoch's
    validation, the mean and variance of what each of them sees over `images` in inference mode,
    layer after layer (each layer's input computed with the statistics just given to those before
    it): the statistics of the weights as they are. Moving averages of the batches' statistics lag
    weights that a short run still moves fast; the network that validates, is checkpointed and is
    saved is then not the one that trained, and a last epoch's validation loss could be three times
    its training loss (docs/design.md). It costs a forward pass over `images` per layer, so a few
    thousand images are plenty."""
    k = keras()

    class Statistics(k.callbacks.Callback):
        parts, done = None, False

        def on_epoch_begin(self, epoch, logs=None):
            self.done = False

        def on_test_begin(self, logs=None):  # Keras's validation, at the end of each epoch
            self.update()

        def on_epoch_end(self, epoch, logs=None):  # where validation is not Keras's (--distribute): first
            if not self.done:
                self.update()

        def update(self):
            if self.parts is None:
                layers = [layer for layer in self.model.layers
                          if isinstance(layer, k.layers.BatchNormalization) and layer.trainable]
                self.parts = [(layer, k.Model(self.model.inputs, layer.input)) for layer in layers]
            for layer, part in self.parts:
                total = squares = 0.0
                for start in range(0, len(images), chunk):
                    seen = devices.predict(part, images[start:start + chunk], device_count).astype(np.float64)
                    seen = seen.reshape(-1, seen.shape[-1])
                    total, squares = total + seen.sum(axis=0), squares + (seen ** 2).sum(axis=0)
                count = len(images) * np.prod(part.output_shape[1:-1])
                mean = total / count
                layer.moving_mean.assign(mean.astype("float32"))
                layer.moving_variance.assign(np.maximum(squares / count - mean ** 2, 0.0).astype("float32"))
            self.done = True
    return Statistics()


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
