"""A sweep's objective: one trial is one experiment (experiment.unattended) in its own folder,
from the values Optuna holds for it, its inputs loaded once per worker.

Nothing is lost: a trial whose folder holds a checkpoint resumes from its last finished epoch; a
trial whose result.json was written is not run again.
"""
import contextlib
import dataclasses
import errno
import gc
import glob
import json
import os
import shutil
import socket
import sys
import time
import traceback

from convae import checkpoint, definitions, experiment, records
from convae.errors import UserError, first_line
from convae.files import write_text_atomic
from convae.prompts import Prompter
from convae.runtime import Runtime
from convae.session import Session
from convae.sweep.spec import flag_text, value_of
from convae.sweep.study import trial_folder

RESULT_FILE = "result.json"
DISK_FAULT = 75  # a worker's exit status where its disk refused a write
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)
DISK_WORDS = ("No space left on device", "Disk quota exceeded", "Read-only file system", "Permission denied")


def disk_fault(error):
    """Why the disk refused a write, where `error` (or what caused it) says so: no space left, a quota, a
    read-only or unwritable folder; None for any other error."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
            return error.strerror or os.strerror(error.errno)
        found = next((words for words in DISK_WORDS if words in str(error)), None)
        if found:
            return found
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def _only_here(folder):
    """The trial's folder for this process alone: a trial queued again while it still runs here (its
    heartbeats lost while the storage was away) waits, then finds its result.json."""
    import fcntl
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    with open(folder + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class Objective:
    """The objective of a worker's trials: `objective(trial)` runs the trial's experiment and returns
    its best metric (the definition's)."""

    def __init__(self, spec, root, number, patience=None):
        self.spec, self.root, self.number, self.patience = spec, root, number, patience
        self.definition = definitions.of(spec.script)
        self.params = {p.name: p for p in self.definition.params}
        self.fixed = self.definition.parse_args(list(spec.fixed) + ["--no-input", "--no-show"])
        self.runtime = dataclasses.replace(Runtime.from_flags(self.fixed), tensorboard=spec.tensorboard)
        self.inputs = None  # the data files, loaded by the worker's first trial
        self.unqueued = False

    def __call__(self, trial):
        import optuna
        if "folder" not in trial.user_attrs:  # not one the sweep queued: the queue emptied between a look and a pop
            self.unqueued = True
            raise optuna.TrialPruned("nothing queued")
        values = {d.name: suggest(trial, d) for d in self.spec.dimensions}
        seed = trial.suggest_categorical("seed", list(self.spec.seeds))
        self.store(trial, {"host": socket.gethostname(), "pid": os.getpid(), "worker": self.number})
        if self.spec.search and seed == self.spec.seeds[0] and "retry_of" not in trial.user_attrs:
            self._queue_other_seeds(trial, values)
        folder = trial_folder(self.root, trial)
        try:
            with _only_here(folder):
                result = self.run(folder, values, seed)
        except Exception as e:
            fault = disk_fault(e)
            if fault:  # not the trial's fault: it stays to be run again, and the sweep stops
                with contextlib.suppress(Exception):  # a storage on the same disk cannot take it either
                    self.store(trial, {"interrupted": f"{fault} ({folder})"})
                with contextlib.suppress(OSError):  # the log may be on that disk
                    sys.stderr.write(f"error: cannot write in {folder}: {fault}\n")
                os._exit(DISK_FAULT)
            self.store(trial, {"error": first_line(e) if isinstance(e, UserError) else
                               f"{type(e).__name__}: {first_line(e)}"})
            raise
        self.store(trial, result)
        return result["metrics"][self.definition.best_metric]

    def store(self, trial, attributes):
        """The trial's user attributes, written to the storage (waited for where it does not answer)."""
        for key, value in attributes.items():
            if self.patience:
                self.patience.call(lambda: trial.set_user_attr(key, value))
            else:
                trial.set_user_attr(key, value)

    def _queue_other_seeds(self, trial, values):
        configuration = trial.user_attrs["configuration"]
        for seed in self.spec.seeds[1:]:
            trial.study.enqueue_trial(dict(values, seed=seed),
                                      user_attrs={"folder": f"c{configuration:03d}-s{seed}",
                                                  "configuration": configuration})

    def config(self, values, seed):
        """The trial's experiment.Config: the fixed flags' values, the dimensions' and the seed, checked as
        the flags are."""
        given = dict(vars(self.fixed), seed=seed)
        given.update({d.name: value_of(d, values[d.name], self.params[d.name]) for d in self.spec.dimensions})
        return experiment.Config.from_values(self.definition, given, self.inputs)

    def command(self, values, seed, resume):
        """The command line that repeats this trial by hand (the first line of its log)."""
        dims = [x for d in self.spec.dimensions for x in (d.flag, flag_text(d, values[d.name]))]
        return " ".join(["python", self.spec.script, *self.spec.fixed, *dims, "--seed", str(seed), "--no-input"]
                        + (["--tensorboard"] if self.spec.tensorboard else []) + (["--resume"] if resume else []))

    def run(self, folder, values, seed):
        """Run the experiment (or resume it, or take the result it already wrote); return its result."""
        started = time.perf_counter()
        done = os.path.join(folder, RESULT_FILE)
        if os.path.exists(done):
            try:
                with open(done) as f:
                    return json.load(f)
            except (OSError, ValueError):  # edited or cut short by hand: the trial runs again
                os.remove(done)
        resuming = os.path.exists(checkpoint.path_in(folder))
        if not resuming and os.path.exists(folder):  # killed before its first checkpoint, or before its result
            shutil.rmtree(folder)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "log.txt"), "a") as log, \
                contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            print(f"$ {self.command(values, seed, resuming)} --output-dir {folder} --save "
                  f"{os.path.join(folder, 'model.h5')} --overwrite", flush=True)
            try:
                trained = self.experiment(folder, values, seed, resuming)
            except Exception:
                traceback.print_exc()
                raise
        result = {"metrics": trained.metrics, "history": trained.history, "status": trained.status,
                  "minutes": trained.seconds / 60, "parameters": trained.parameters,
                  "test": trained.extra.get("test")}
        if self.spec.tensorboard:
            write_hparams(folder, self.spec, values, seed, trained.metrics)
        result["wall_seconds"] = time.perf_counter() - started  # the trial in its worker, from start to result
        write_text_atomic(done, json.dumps(result, indent=1) + "\n")
        del trained
        gc.collect()
        return result

    def experiment(self, folder, values, seed, resuming):
        """The trial's experiment, as the script runs one with --no-input, its model saved in the folder."""
        save = os.path.join(folder, "model.h5")
        records.check_save_path(save, overwrite=True)
        if self.inputs is None:
            self.inputs = self.definition.load(self.fixed, Prompter(enabled=False), self.runtime)
        config = self.config(values, seed)
        resume = experiment.resume_point(self.definition, config, self.inputs, folder) if resuming else None
        session = Session(folder, self.definition, resumed=resume.experiment if resume else None)
        trained = experiment.unattended(self.definition, config, self.inputs, self.runtime, session, save, resume)
        if trained.status.startswith("stopped"):
            raise UserError(f"stopped: {trained.status}")
        return trained


def suggest(trial, dimension):
    """The trial's value of a dimension (a queued trial's value is fixed; a search draws the rest)."""
    if dimension.kind == "grid":
        return trial.suggest_categorical(dimension.name, list(dimension.values))
    if dimension.integer:
        return trial.suggest_int(dimension.name, int(dimension.low), int(dimension.high), log=dimension.log)
    return trial.suggest_float(dimension.name, dimension.low, dimension.high, log=dimension.log)


def write_hparams(folder, spec, values, seed, metrics):
    """A trial's values and final figures, for TensorBoard's HParams tab (tensorboard --logdir DIR/trials)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp
    with tf.summary.create_file_writer(os.path.join(folder, "tensorboard")).as_default():
        hp.hparams({**{d.flag[2:]: values[d.name] for d in spec.dimensions}, "seed": seed},
                   trial_id=os.path.basename(folder))
        for name, value in metrics.items():
            tf.summary.scalar(name, value, step=0)


def write_hparams_config(folder, spec, definition):
    """The HParams tab's columns: every dimension, the seed, and the script's final figures; once a sweep
    (a worker started again, or a sweep continued, finds them written)."""
    if glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        return
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp
    columns = [hp.HParam(d.flag[2:], hp.Discrete(list(d.values)) if d.kind == "grid" else
                         hp.IntInterval(int(d.low), int(d.high)) if d.integer else hp.RealInterval(d.low, d.high))
               for d in spec.dimensions] + [hp.HParam("seed", hp.Discrete(list(spec.seeds)))]
    names = [key for key, _ in definition.columns if key.startswith(("loss", "val_", "accuracy"))]
    os.makedirs(folder, exist_ok=True)
    with tf.summary.create_file_writer(folder).as_default():
        hp.hparams_config(hparams=columns, metrics=[hp.Metric(name) for name in names])
