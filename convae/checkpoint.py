"""Checkpoints of the experiment in progress, so that a killed run resumes exactly (--resume).

After every finished epoch the training loop writes `checkpoint.npz` into the output folder, in
one atomic rename: every variable of the model (weights, BatchNormalization statistics and update
counts, the dropout and augmentation layers' random-generator states), every variable of the
optimizer (its moments and step count, which the cosine schedule follows), and a JSON record of
what made it (script, hyperparameters, settings, data checksums), where it stands (experiment,
stage, epoch), the history so far, the seconds spent and the early-stopping state. The batches of
every epoch are drawn from (seed, epoch) alone (training.epoch_order), so nothing else is needed to
continue as the uninterrupted run would have.

Keras's BackupAndRestore callback is not used: it keeps the weights (`save_weights`) and the epoch,
but not the random-generator states (a resumed run would drop other units and augment otherwise),
nor the history, the stage or the early-stopping state, and it overwrites its files in place.
"""
import contextlib
import json
import os
import sys
import zipfile

import numpy as np

from convae.errors import UserError
from convae.files import atomic_path

FILE = "checkpoint.npz"
FORMAT = 1


def path_in(output_dir):
    return os.path.join(output_dir, FILE)


def write(path, record, arrays):
    """Write `record` (JSON-able) and `arrays` to `path` atomically, flushed to the disk."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, record=np.frombuffer(json.dumps(record).encode("utf-8"), np.uint8),
                     **{f"a{i}": array for i, array in enumerate(arrays)})
            f.flush()
            os.fsync(f.fileno())


def read(path):
    """(record, arrays) from a checkpoint file, or a one-line UserError saying what is wrong with it."""
    if not os.path.exists(path):
        raise UserError(f"--resume: no checkpoint in {os.path.dirname(path) or '.'} (a run writes {FILE} into its "
                        "--output-dir after every epoch, and removes it when the experiment is complete)")
    try:
        with np.load(path) as data:
            record = json.loads(data["record"].tobytes().decode("utf-8"))
            arrays = [data[f"a{i}"] for i in range(len(data.files) - 1)]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise UserError(f"{path}: damaged checkpoint ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                        "remove it to start afresh") from None
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
                return f"{key}: {_short(theirs.get(key))} there, {_short(ours.get(key))} here"
    return f"{_short(theirs)} there, {_short(ours)} here"


def _short(value):
    text = json.dumps(value)
    return text if len(text) < 60 else text[:57] + "..."


def state_of(model):
    """Every variable of the model and of its optimizer, as NumPy arrays."""
    return [np.array(v.numpy()) for v in list(model.variables) + list(model.optimizer.variables)]


def restore(model, arrays, path):
    """Give the model and its (built) optimizer the variables of a checkpoint."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = list(model.variables) + list(optimizer.variables)
    if len(variables) != len(arrays) or any(tuple(v.shape) != a.shape for v, a in zip(variables, arrays)):
        raise UserError(f"{path}: the checkpoint does not fit this network ({len(arrays)} arrays for "
                        f"{len(variables)} variables)")
    for variable, array in zip(variables, arrays):
        variable.assign(array)


class Progress:
    """The checkpoint of one experiment: where it goes and what identifies the run that writes it."""

    def __init__(self, output_dir, identity, number):
        self.path = path_in(output_dir)
        self.identity = identity
        self.number = number
        self._warned = None

    def save(self, model, position, history, seconds, extra=None, extra_arrays=()):
        """Write the checkpoint after an epoch. A failed write (disk full, no permission) is reported
        once and training goes on: the hours already spent on this experiment are worth more than
        the insurance, and the previous checkpoint, if any, stays as it was."""
        record = dict(self.identity, format=FORMAT, experiment=self.number, **position, history=history,
                      seconds=seconds, extra=extra or {})
        try:
            write(self.path, record, state_of(model) + list(extra_arrays))
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
