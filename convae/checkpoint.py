"""Checkpoints of the experiment in progress, so that a killed run resumes exactly (--resume).

One callback owns them (`checkpointer`): after every finished epoch it adds the epoch to the
experiment's `State` and writes `checkpoint.npz` into the output folder in one atomic rename; when
a resumed stage begins it gives the model and its optimizer the checkpoint's variables back. The
file holds a JSON record of what made it (script, hyperparameters, settings, data checksums) and
the `State` (stage, epoch, history, seconds, early stopping), and every variable under a name
that says what it is: `model/<layer>/<variable>` for the weights, BatchNormalization statistics
and update counts and the dropout and augmentation layers' random-generator states;
`optimizer/<variable>` for the optimizer's moments and step count (which the cosine schedule
follows); `best/<layer>/<variable>` for the weights early stopping would restore. The batches of
every epoch are drawn from (seed, epoch) alone (training.epoch_order), so nothing else is needed to
continue as the uninterrupted run would have.

Keras's BackupAndRestore callback is not used: it keeps the weights (`save_weights`) and the epoch,
but not the random-generator states (a resumed run would drop other units and augment otherwise),
nor the history, the stage or the early-stopping state, and it overwrites its files in place.
"""
import contextlib
import dataclasses
import json
import os
import sys
import zipfile
from typing import Callable, Optional

import numpy as np

from convae.backend import keras
from convae.errors import UserError, first_line
from convae.files import atomic_path

FILE = "checkpoint.npz"
FORMAT = 2
_RECORD = "record"  # the JSON record's entry in the file, beside the variables


@dataclasses.dataclass
class State:
    """Where an experiment stands: everything its checkpoint holds besides the variables."""
    stage: int = 1           # the autoencoder's only stage, or the classifier's: 1 (head), 2 (everything)
    epoch: int = 0           # epochs finished in `stage`
    history: dict = dataclasses.field(default_factory=dict)  # metric -> one value per finished epoch, all stages
    seconds: float = 0.0     # training time so far, that of earlier runs included
    stage2_start: Optional[int] = None  # the experiment's epoch (from 1) at which stage 2 began
    optimizers: dict = dataclasses.field(default_factory=dict)  # "stage N" -> the optimizer compiled for it
    early_stopping: Optional[dict] = None  # wait, best and best_epoch of the stage in progress

    @classmethod
    def from_record(cls, record):
        return cls(**{field.name: record[field.name] for field in dataclasses.fields(cls) if field.name in record})


@dataclasses.dataclass
class Resumed:
    """A checkpoint read for --resume: which experiment, where it stood, and its variables by name."""
    experiment: int
    state: State
    arrays: dict


@dataclasses.dataclass
class Bookkeeping:
    """Where a training stands and where it writes: the checkpoint's state and file, the variables to
    resume from (None for a fresh start), the clock of its seconds, and the callbacks every fit of the
    experiment takes besides its own (TensorBoard's)."""
    state: State = dataclasses.field(default_factory=State)
    file: Optional["File"] = None
    arrays: Optional[dict] = None
    clock: Optional[Callable] = None
    callbacks: list = dataclasses.field(default_factory=list)


def path_in(output_dir):
    return os.path.join(output_dir, FILE)


def write(path, record, arrays):
    """Write `record` (JSON-able) and `arrays` (name -> array) to `path` atomically, flushed to the disk."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{_RECORD: np.frombuffer(json.dumps(record).encode("utf-8"), np.uint8)}, **arrays)
            f.flush()
            os.fsync(f.fileno())


def read(path):
    """(record, arrays by name) from a checkpoint file, or a one-line UserError saying what is wrong with it."""
    if not os.path.exists(path):
        raise UserError(f"--resume: no checkpoint in {os.path.dirname(path) or '.'} (a run writes {FILE} into its "
                        "--output-dir after every epoch, and removes it when the experiment is complete)")
    try:
        with np.load(path) as data:
            record = json.loads(data[_RECORD].tobytes().decode("utf-8"))
            arrays = {name: data[name] for name in data.files if name != _RECORD}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise UserError(f"{path}: damaged checkpoint ({first_line(e)}); remove it to start afresh") from None
    if record.get("format") != FORMAT:
        raise UserError(f"{path}: a checkpoint of another format ({record.get('format')}), expected {FORMAT}")
    return record, arrays


def check_same_run(path, record, identity):
    """The checkpoint must have been written by the same script, hyperparameters, settings and data."""
    for key, what in (("script", "another program"), ("data", "other data"), ("settings", "other settings"),
                      ("hyperparameters", "other hyperparameters")):
        theirs, ours = record.get(key), identity[key]
        if theirs != ours:
            raise UserError(f"--resume: {path} was written by {what} ({_difference(theirs, ours)}); give the same "
                            "command line as the run it continues")


def _difference(theirs, ours):
    if isinstance(theirs, dict) and isinstance(ours, dict):
        for key in sorted(set(theirs) | set(ours)):
            if theirs.get(key) != ours.get(key):
                return f"{key}: {_abbreviated(theirs.get(key))} there, {_abbreviated(ours.get(key))} here"
    return f"{_abbreviated(theirs)} there, {_abbreviated(ours)} here"


def _abbreviated(value):
    text = json.dumps(value)
    return text if len(text) < 60 else text[:57] + "..."


def model_variables(model):
    """{name: variable} for every variable of the model: "<layer>/<variable>", nested models' layers
    under "<model>/". Layer names are fixed by the builders or the loaded file; the names Keras gives
    the variables themselves carry counters ("seed_generator_6") that depend on what else the
    process built before, so they cannot name anything across runs."""
    named = {}

    def walk(layer, prefix):
        for inner in layer.layers:
            if isinstance(inner, keras().Model):
                walk(inner, f"{prefix}{inner.name}/")
                continue
            for variable in inner.variables:
                name, count = f"{prefix}{inner.name}/{variable.name}", 1
                while name in named:  # a layer with two random generators: "<layer>/seed_generator_state#2"
                    count += 1
                    name = f"{prefix}{inner.name}/{variable.name}#{count}"
                named[name] = variable
    walk(model, "")
    return named


def optimizer_variables(optimizer):
    """{name: variable} for an optimizer's variables: Keras names each moment after the model variable
    it follows ("fc_kernel_momentum"), under the optimizer's own counter ("adam_1/"), left out here."""
    return {variable.name: variable for variable in optimizer.variables}


def variables_of(model):
    """Every variable a resume needs, by its name in the checkpoint: the model's and its optimizer's."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    return {**{f"model/{k}": v for k, v in model_variables(model).items()},
            **{f"optimizer/{k}": v for k, v in optimizer_variables(optimizer).items()}}


def restore(model, arrays, path):
    """Give the model and its optimizer the variables that a checkpoint holds under their names (the
    model's alone where it holds no optimizer's: one written between two stages)."""
    variables = variables_of(model)
    kinds = ("model", "optimizer") if any(name.startswith("optimizer/") for name in arrays) else ("model",)
    variables = {name: v for name, v in variables.items() if name.split("/", 1)[0] in kinds}
    stored = {name: array for name, array in arrays.items() if name.split("/", 1)[0] in kinds}
    missing, extra = sorted(set(variables) - set(stored)), sorted(set(stored) - set(variables))
    wrong = [name for name in variables if name in stored and tuple(variables[name].shape) != stored[name].shape]
    if missing or extra or wrong:
        what = (f"no {missing[0]}" if missing else f"{extra[0]}, which this network lacks" if extra else
                f"{wrong[0]} of shape {stored[wrong[0]].shape}, not {tuple(variables[wrong[0]].shape)}")
        raise UserError(f"{path}: the checkpoint does not fit this network ({what})")
    for name, variable in variables.items():
        variable.assign(stored[name])


class File:
    """The checkpoint file of one experiment: where it goes and what identifies the run that writes it."""

    def __init__(self, output_dir, identity, number):
        self.path = path_in(output_dir)
        self.identity = identity
        self.number = number
        self._warned = None

    def write(self, state, arrays):
        """Write the checkpoint. A failed write (disk full, no permission) is reported once and training
        goes on: the hours already spent on this experiment are worth more than the insurance, and the
        previous checkpoint, if any, stays as it was."""
        record = dict(self.identity, format=FORMAT, experiment=self.number, **dataclasses.asdict(state))
        try:
            write(self.path, record, arrays)
        except OSError as e:
            message = e.strerror or str(e)
            if message != self._warned:
                print(f"warning: cannot write the checkpoint {self.path} ({message}); training goes on without it",
                      file=sys.stderr, flush=True)
                self._warned = message
            return False
        return True

    def remove(self):
        """The experiment is complete: nothing is left to resume."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)


def checkpointer(state, file=None, clock=None, stopper=None, arrays=None):
    """The callback that owns the checkpoint of one fit (a stage).

    When the fit begins, where `arrays` (a checkpoint's variables) are given, it restores the model,
    its optimizer and the early-stopping state from them. After every finished epoch it adds the
    epoch's logs to `state.history`, advances `state.epoch`, takes the seconds from `clock()` and the
    state of `stopper` (training.early_stopping), and writes it all to `file` (none: the state alone
    is kept). Put it after the other callbacks, so that it sees their verdict on each epoch.
    """
    class Checkpointer(keras().callbacks.Callback):
        def on_train_begin(self, logs=None):
            nonlocal arrays
            if arrays is None:
                return
            restore(self.model, arrays, file.path if file else "the checkpoint")
            if stopper is not None and state.early_stopping is not None:
                names = _weight_names(self.model)
                best = [arrays[f"best/{n}"] for n in names] if f"best/{names[0]}" in arrays else None
                stopper.restore(state.early_stopping, best)
            arrays = None

        def on_epoch_end(self, epoch, logs=None):
            for name, value in (logs or {}).items():
                state.history.setdefault(name, []).append(float(value))
            state.epoch = epoch + 1
            if clock is not None:
                state.seconds = clock()
            best = {}
            if stopper is not None:
                state.early_stopping = stopper.state()
                best = _best_weights(self.model, stopper.best_weights)
            if file is not None:
                file.write(state, {**{name: np.asarray(v.numpy()) for name, v in variables_of(self.model).items()},
                                   **best})
    keeper = Checkpointer()
    keeper.state = state
    return keeper


def _weight_names(model):
    """The checkpoint's names of model.weights, in their order (the order of get_weights)."""
    names = {id(variable): name for name, variable in model_variables(model).items()}
    return [names[id(weight)] for weight in model.weights]


def _best_weights(model, weights):
    """Early stopping's best weights (a get_weights list) by their names in the checkpoint."""
    if not weights:
        return {}
    return {f"best/{name}": np.asarray(array) for name, array in zip(_weight_names(model), weights)}
