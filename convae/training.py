"""Training loops that survive Ctrl-C, and the record of each experiment."""
import contextlib
import dataclasses
import signal
import sys
import threading
import time

import numpy as np

from convae import devices, dispatch, internals
from convae.backend import is_tensorflow, keras, tensorflow


@dataclasses.dataclass
class Experiment:
    number: int
    hyper: dict                      # the hyperparameters it was trained with
    model: object
    history: dict                    # metric name -> one value per completed epoch
    seconds: float
    status: str = "complete"         # or "stopped at epoch k of n"
    metrics: dict = dataclasses.field(default_factory=dict)  # final figures for tables
    saved_to: str = None
    extra: dict = dataclasses.field(default_factory=dict)    # e.g. the epoch where stage 2 began

    @property
    def parameters(self):
        return count_parameters(self.model)


def describe_optimizer(optimizer):
    """The compiled optimizer as the JSON records it: its class and learning rate (or schedule)."""
    rate = optimizer.get_config()["learning_rate"]
    if not isinstance(rate, dict):
        rate = float(f"{float(rate):.7g}")  # a float32 variable: 0.001 rather than 0.0010000000474974513
    else:  # a schedule
        rate = {"schedule": rate["class_name"], "initial_learning_rate": rate["config"]["initial_learning_rate"],
                "decay_steps": rate["config"]["decay_steps"]}
    return {"optimizer": type(optimizer).__name__, "learning_rate": rate}


def count_parameters(model):
    """model.count_params() as the saved model has it (without our BatchNormalization's update counts)."""
    from convae.layers import count_parameters as count
    return count(model)


_steps_per_dispatch = None  # None: dispatch.default_steps()


def configure(steps_per_dispatch=None, distribute=False):
    """The run's training settings: steps per compiled call (--steps-per-dispatch), and whether to
    train on every device (--distribute); return the number of devices."""
    global _steps_per_dispatch
    _steps_per_dispatch = steps_per_dispatch
    return devices.distribute() if distribute else 1


def fit(model, x, y, validation, epochs, batch_size, keeper, callbacks=(), seed=0, initial_epoch=0):
    """model.fit from `initial_epoch` to `epochs`; returns True where Ctrl-C stopped it early.

    `keeper` (checkpoint.checkpointer) records every finished epoch in its state and checkpoint;
    it goes after `callbacks`, so that it sees their verdict. Ctrl-C takes effect between two
    steps (two blocks of steps, see convae.dispatch): the weights are then those of the last
    finished step and the state holds the epochs that finished.
    """
    if initial_epoch >= epochs:  # resumed where the stage had ended: only its variables to restore
        keeper.set_model(model)
        keeper.on_train_begin()
        return False
    verbose = 1 if sys.stdout.isatty() else 2
    step_batch = devices.per_step(batch_size)
    steps = steps_per_epoch(len(x), batch_size)
    block = 1 if devices.count() > 1 else min(steps, _steps_per_dispatch or dispatch.default_steps())
    if block > 1 and not is_tensorflow():
        dispatch.install(model, x, y, step_batch, block)
        data = dispatch.block_batches(len(x), step_batch, seed, initial_epoch, epochs, block)
    else:
        internals.set_steps_per_execution(model, block)  # under TensorFlow, Keras runs a block in a graph loop
        data = training_batches(x, y, step_batch, seed, initial_epoch, epochs)
    if devices.count() > 1:
        validation_data, callbacks = None, [devices.validation(*validation, batch_size), *callbacks]
    else:
        validation_data = validation_batches(*validation, batch_size)
    try:
        with _ctrl_c_between_steps() as stop:
            model.fit(data, steps_per_epoch=steps, validation_data=validation_data, initial_epoch=initial_epoch,
                      epochs=epochs, verbose=verbose, callbacks=[stop, *callbacks, keeper])
    except KeyboardInterrupt:
        print(f"\nTraining stopped by Ctrl-C after {keeper.state.epoch} of {epochs} epochs.", flush=True)
        return True
    return False


def predict(model, x, batch_size=256):
    """model.predict, quietly, on however many devices training runs on."""
    return devices.predict(model, x, batch_size)


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
        # hook makes Keras wait for every step's results (on an H200 that cost a quarter of the
        # speed at batch 64, docs/speed.md).
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


def steps_per_epoch(count, batch_size):
    """Training steps in an epoch of `count` images: full batches only (of the images a step takes
    on the devices training runs on, devices.per_step).

    The last, partial batch of each epoch is dropped (each epoch draws a new order, so no image
    is left out for long): a batch of a few images would give BatchNormalization the statistics
    of those few, and a second batch shape costs a second compilation of the training step.
    """
    return count // devices.per_step(batch_size)


def epoch_order(count, seed, epoch):
    """The order in which an epoch visits the images: a permutation drawn from (seed, epoch) alone,
    so that a run resumed at any epoch visits them as the uninterrupted run did."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def training_batches(x, y, batch_size, seed, first_epoch, epochs):
    """(x, y) batches for the epochs from `first_epoch` to `epochs`, each epoch in `epoch_order`,
    full batches only (see `steps_per_epoch`).

    Under TensorFlow a tf.data pipeline: the arrays become tensors once and each batch is gathered
    from them, so no epoch copies the data set; tf.data's autotuning and prefetch threads are off,
    because on a 2-core CPU they competed with the training step and made every other epoch about
    30% slower. On the other backends, a generator of NumPy batches.
    """
    orders = np.stack([epoch_order(len(x), seed, e) for e in range(first_epoch, epochs)]).astype(np.int32)
    if not is_tensorflow():
        return _numpy_batches(x, y, batch_size, orders)
    tf = tensorflow()
    data = tf.data.Dataset.from_tensor_slices(orders).flat_map(
        lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=True))
    return _tf_gather(data, x, y)


def validation_batches(x, y, batch_size):
    """(x, y) in order, in batches: a tf.data pipeline under TensorFlow, the arrays otherwise."""
    if not is_tensorflow():
        return x, y
    tf = tensorflow()
    return _tf_gather(tf.data.Dataset.range(len(x)).batch(batch_size), x, y)


def _tf_gather(indices, x, y):
    tf = tensorflow()
    same = y is x  # an autoencoder's target is its input: gather it once
    x = tf.convert_to_tensor(x)
    y = x if same else tf.convert_to_tensor(y)

    def gather(batch):
        inputs = tf.gather(x, batch)
        return inputs, (inputs if same else tf.gather(y, batch))
    options = tf.data.Options()
    options.autotune.enabled = False
    options.threading.private_threadpool_size = 1
    return indices.map(gather).with_options(options)


def _numpy_batches(x, y, batch_size, orders):
    same = y is x
    for order in orders:
        for start in range(0, len(order) - batch_size + 1, batch_size):
            batch = order[start:start + batch_size]
            inputs = x[batch]
            yield inputs, (inputs if same else y[batch])


def timer(already=0.0):
    """Return a function giving the seconds since this call, plus `already` (those of an earlier run)."""
    start = time.perf_counter()
    return lambda: already + time.perf_counter() - start
