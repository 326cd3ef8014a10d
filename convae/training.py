"""Training loops that survive Ctrl-C, and the record of each experiment."""
import dataclasses
import sys
import time

from convae.backend import keras


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
        return int(self.model.count_params())


def fit(model, x, y, validation, epochs, batch_size, callbacks=()):
    """model.fit that returns (history, interrupted) and turns Ctrl-C into an early stop.

    Ctrl-C raises KeyboardInterrupt in the middle of a batch; the weights are then those of the
    last finished step and the history holds the epochs that finished.
    """
    recorder = _recorder()
    verbose = 1 if sys.stdout.isatty() else 2
    try:
        model.fit(x, y, validation_data=validation, epochs=epochs, batch_size=batch_size, shuffle=True,
                  verbose=verbose, callbacks=[recorder, *callbacks])
    except KeyboardInterrupt:
        print(f"\nTraining stopped by Ctrl-C after {len(recorder.epochs)} of {epochs} epochs.", flush=True)
        return recorder.history, True
    return recorder.history, False


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
