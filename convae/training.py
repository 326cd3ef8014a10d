"""Training loops that survive Ctrl-C, and the record of each experiment."""
import contextlib
import dataclasses
import signal
import sys
import threading
import time

from convae.backend import keras, tensorflow


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


def fit(model, x, y, validation, epochs, batch_size, callbacks=(), seed=0):
    """model.fit that returns (history, interrupted) and turns Ctrl-C into an early stop.

    Ctrl-C takes effect between two steps: the weights are then those of the last finished step
    and the history holds the epochs that finished.
    """
    recorder = _recorder()
    verbose = 1 if sys.stdout.isatty() else 2
    try:
        with _ctrl_c_between_steps() as stop:
            model.fit(batches(x, y, batch_size, seed), validation_data=batches(*validation, batch_size),
                      epochs=epochs, verbose=verbose, callbacks=[stop, recorder, *callbacks], shuffle=False)
    except KeyboardInterrupt:
        print(f"\nTraining stopped by Ctrl-C after {len(recorder.epochs)} of {epochs} epochs.", flush=True)
        return recorder.history, True
    return recorder.history, False


@contextlib.contextmanager
def _ctrl_c_between_steps():
    """Yield a callback that raises KeyboardInterrupt after the step during which Ctrl-C was pressed.

    A KeyboardInterrupt raised by Python's own handler lands wherever the main thread is, at
    times inside TensorFlow's C++ code while its threads still run, and then crashed the process
    now and then ("free(): invalid next size"), losing every experiment of the session. Here
    Ctrl-C only sets a flag, and the exception is raised from Python between two steps. A second
    Ctrl-C interrupts at once, for a step that never ends.
    """
    class Stop(keras().callbacks.Callback):
        requested = False

        def on_train_batch_end(self, batch, logs=None):
            self._check()

        def on_test_batch_end(self, batch, logs=None):
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


def batches(x, y, batch_size, seed=None):
    """A tf.data pipeline of (x, y) batches, reshuffled every epoch when `seed` is given.

    The arrays become tensors once; each epoch shuffles indices and gathers batches, so no epoch
    copies the data set. tf.data's autotuning and prefetch threads are off: on a 2-core CPU they
    compete with the training step and made every other epoch about 30% slower.
    """
    tf = tensorflow()
    same = y is x  # an autoencoder's target is its input: gather it once
    x = tf.convert_to_tensor(x)
    y = x if same else tf.convert_to_tensor(y)
    data = tf.data.Dataset.range(int(x.shape[0]))
    if seed is not None:
        data = data.shuffle(int(x.shape[0]), seed=seed, reshuffle_each_iteration=True)

    def gather(indices):
        inputs = tf.gather(x, indices)
        return inputs, (inputs if same else tf.gather(y, indices))
    data = data.batch(batch_size).map(gather)
    options = tf.data.Options()
    options.autotune.enabled = False
    options.threading.private_threadpool_size = 1
    return data.with_options(options)


def timer():
    """Return a function giving the seconds since this call."""
    start = time.perf_counter()
    return lambda: time.perf_counter() - start


def _recorder():
    """A callback keeping the logs of every finished epoch, also when fit() is interrupted.

    The class is made here rather than at module level so that importing this module does not
    import TensorFlow.
    """
    class Recorder(keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []
            self.history = {}

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(epoch)
            for name, value in (logs or {}).items():
                self.history.setdefault(name, []).append(float(value))
    return Recorder()
