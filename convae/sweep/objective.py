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
AUTOENCODER_DIR = "autoencoder"  # a trial's own autoencoder (--autoencoder), in its folder
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
        self.autoencoder = None  # --autoencoder: autoencoder.py's definition, flags and inputs, loaded once
        self.unqueued = False

    def __call__(self, trial):
        import optuna
        try:
            return self._call(trial)
        except optuna.TrialPruned:
            raise
        except Exception as e:  # one that the trial's own handling did not record (a bug of the sweep's)
            if "error" not in trial.user_attrs:
                with contextlib.suppress(Exception):
                    self.store(trial, {"error": f"{type(e).__name__}: {first_line(e)}"})
                traceback.print_exc()
            raise

    def _call(self, trial):
        import optuna
        if "folder" not in trial.user_attrs:  # not one the sweep queued: the queue emptied between a look and a pop
            self.unqueued = True
            raise optuna.TrialPruned("nothing queued")
        values = {d.name: suggest(trial, d) for d in self.spec.dimensions}
        seed = trial.user_attrs.get("seed")
        if seed is None:  # a sweep queued before 2026-12-07 holds its seed as a parameter
            seed = trial.suggest_categorical("seed", list(self.spec.seeds))
        self.store(trial, {"host": socket.gethostname(), "pid": os.getpid(), "worker": self.number})
        first = bool(self.spec.search) and seed == self.spec.seeds[0]
        if first and not self.spec.prune and "retry_of" not in trial.user_attrs:
            self._queue_other_seeds(trial, values)  # pruned on the first seed: the others wait until it completes
        folder = trial_folder(self.root, trial)
        try:
            with _only_here(folder):
                result = self.run(folder, values, seed, trial if self.spec.prune and first else None)
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
        if result.get("pruned_at"):
            raise optuna.TrialPruned(f"pruned after epoch {result['pruned_at']}")
        if self.spec.prune and first:
            self._queue_other_seeds(trial, values)
        best = result["metrics"][self.definition.best_metric]
        return (best, float(result[self.spec.against])) if self.spec.against else best

    def store(self, trial, attributes):
        """The trial's user attributes, written to the storage (waited for where it does not answer)."""
        for key, value in attributes.items():
            self.patience_call(lambda: trial.set_user_attr(key, value))

    def _queue_other_seeds(self, trial, values):
        configuration = trial.user_attrs["configuration"]
        for seed in self.spec.seeds[1:]:
            self.patience_call(lambda: trial.study.enqueue_trial(
                dict(values), user_attrs={"folder": f"c{configuration:03d}-s{seed}", "configuration": configuration,
                                          "seed": seed}))

    def patience_call(self, function):
        return self.patience.call(function) if self.patience else function()

    def config(self, values, seed, inputs=None):
        """The trial's experiment.Config: the fixed flags' values, the dimensions' and the seed, checked as
        the flags are."""
        given = dict(vars(self.fixed), seed=seed)
        given.update({d.name: value_of(d, values[d.name], self.params[d.name]) for d in self.spec.dimensions})
        return experiment.Config.from_values(self.definition, given, inputs or self.inputs)

    def command(self, values, seed, resume, model=None):
        """The command line that repeats this trial by hand (the first line of its log); `model`: the trial's
        own autoencoder (--autoencoder)."""
        dims = [x for d in self.spec.dimensions for x in (d.flag, flag_text(d, values[d.name]))]
        own = ["-model", model] if model else []
        return " ".join(["python", self.spec.script, *self.spec.fixed, *own, *dims, "--seed", str(seed),
                         "--no-input"] + (["--tensorboard"] if self.spec.tensorboard else [])
                        + (["--resume"] if resume else []))

    def run(self, folder, values, seed, pruned_by=None):
        """Run the experiment (or resume it, or take the result it already wrote); return its result. With
        `pruned_by` (the trial, on its first seed under --prune), it reports its validation figure after
        every epoch, and a trial the pruner stops returns a result with `pruned_at` (its epoch)."""
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
            _clear(folder, keep=AUTOENCODER_DIR)
        os.makedirs(folder, exist_ok=True)
        pruner = Pruner(pruned_by, self.definition.best_metric) if pruned_by is not None else None
        with open(os.path.join(folder, "log.txt"), "a") as log, \
                contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            try:
                inputs, autoencoder = self.trial_inputs(folder, seed)
                model = os.path.join(folder, AUTOENCODER_DIR, "model.h5") if autoencoder else None
                print(f"$ {self.command(values, seed, resuming, model)} --output-dir {folder} --save "
                      f"{os.path.join(folder, 'model.h5')} --overwrite", flush=True)
                trained = self.experiment(folder, inputs, values, seed, resuming, pruner)
            except Exception as e:
                if pruner is not None and isinstance(e, pruner.stop):
                    print(f"pruned after epoch {pruner.epoch}: {e}", flush=True)
                    result = {"pruned_at": pruner.epoch, "history": pruner.history, "metrics": pruner.last,
                              "minutes": (time.perf_counter() - started) / 60, "status": f"pruned at epoch "
                              f"{pruner.epoch}", "wall_seconds": time.perf_counter() - started}
                    if self.spec.tensorboard:
                        write_hparams(folder, self.spec, values, seed, dict(pruner.last, pruned_at=pruner.epoch))
                    write_text_atomic(done, json.dumps(result, indent=1) + "\n")
                    return result
                traceback.print_exc()
                raise
        result = {"metrics": trained.metrics, "history": trained.history, "status": trained.status,
                  "minutes": trained.seconds / 60, "parameters": trained.parameters,
                  "test": trained.extra.get("test")}
        if autoencoder:
            result["autoencoder"] = autoencoder
            result["minutes"] += autoencoder["minutes"]  # the whole pipeline's
        if self.spec.tensorboard:
            write_hparams(folder, self.spec, values, seed, trained.metrics)
        result["wall_seconds"] = time.perf_counter() - started  # the trial in its worker, from start to result
        write_text_atomic(done, json.dumps(result, indent=1) + "\n")
        del trained
        gc.collect()
        return result

    def trial_inputs(self, folder, seed):
        """The trial's inputs, loaded once per worker; under --autoencoder, with the trial's own autoencoder,
        trained (or resumed, or taken where done) in folder/autoencoder/ with the trial's seed. Returns
        (the inputs, the autoencoder's result or None)."""
        if not self.spec.autoencoder:
            if self.inputs is None:
                self.inputs = self.definition.load(self.fixed, Prompter(enabled=False), self.runtime)
            return self.inputs, None
        if self.inputs is None:
            self.inputs = self.definition.inputs(self.definition.given_paths(self.fixed), Prompter(enabled=False),
                                                 self.runtime, autoencoder=False)
        stage = os.path.join(folder, AUTOENCODER_DIR)
        done = os.path.join(stage, RESULT_FILE)
        model = os.path.join(stage, "model.h5")
        if os.path.exists(done) and os.path.exists(model):
            with open(done) as f:
                result = json.load(f)
        else:
            result = self.autoencoder_stage(stage, model, seed)
            write_text_atomic(done, json.dumps(result, indent=1) + "\n")
        return self.inputs.with_autoencoder(model), result

    def autoencoder_stage(self, stage, model, seed):
        """Train the trial's own autoencoder (autoencoder.py's --autoencoder flags, the classifier's -d, the
        trial's seed) into `stage`, its model saved as `model`; return its figures and minutes."""
        if self.autoencoder is None:
            self.autoencoder = definitions.of("autoencoder.py")
            self.autoencoder_flags = self.autoencoder.parse_args(
                ["-d", self.fixed.train_images, *self.spec.autoencoder, "--no-input", "--no-show"])
            self.autoencoder_inputs = self.autoencoder.load(self.autoencoder_flags, Prompter(enabled=False),
                                                            self.runtime)
        definition, inputs = self.autoencoder, self.autoencoder_inputs
        os.makedirs(stage, exist_ok=True)
        print(f"$ python autoencoder.py -d {self.fixed.train_images} {' '.join(self.spec.autoencoder)} --seed "
              f"{seed} --no-input --output-dir {stage} --save {model} --overwrite", flush=True)
        config = experiment.Config.from_values(definition, dict(vars(self.autoencoder_flags), seed=seed), inputs)
        resume = experiment.resume_point(definition, config, inputs, stage) \
            if os.path.exists(checkpoint.path_in(stage)) else None
        session = Session(stage, definition, resumed=resume.experiment if resume else None)
        trained = experiment.unattended(definition, config, inputs, self.runtime, session, model, resume,
                                        title=f"trial {os.path.basename(os.path.dirname(stage))}'s autoencoder, "
                                              f"seed {seed}")
        if trained.status.startswith("stopped"):
            raise UserError(f"stopped: {trained.status}")
        return {"metrics": trained.metrics, "minutes": trained.seconds / 60, "parameters": trained.parameters}

    def experiment(self, folder, inputs, values, seed, resuming, pruner=None):
        """The trial's experiment, as the script runs one with --no-input, its model saved in the folder."""
        save = os.path.join(folder, "model.h5")
        records.check_save_path(save, overwrite=True)
        config = self.config(values, seed, inputs)
        resume = experiment.resume_point(self.definition, config, inputs, folder) if resuming else None
        session = Session(folder, self.definition, resumed=resume.experiment if resume else None)
        trained = experiment.unattended(self.definition, config, inputs, self.runtime, session, save, resume,
                                        [pruner.callback()] if pruner else (),
                                        title=f"trial {os.path.basename(folder)}, seed {seed}")
        if trained.status.startswith("stopped"):
            raise UserError(f"stopped: {trained.status}")
        return trained


class Pruner:
    """A trial's reports to Optuna's pruner: its validation figure (`metric`) after every epoch, counted
    across the classifier's two stages; where the pruner says stop, the epoch's callback raises `stop`."""

    def __init__(self, trial, metric):
        import optuna
        self.trial, self.metric, self.stop = trial, metric, optuna.TrialPruned
        self.epoch, self.history, self.last = 0, {}, {}

    def callback(self):
        from convae.backend import keras
        pruner = self

        class Report(keras().callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                pruner.epoch_ended(dict(logs or {}))
        return Report()

    def epoch_ended(self, logs):
        self.epoch += 1
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        self.last = {key: float(value) for key, value in logs.items()}
        value = logs.get(self.metric)
        if value is None:
            return
        self.trial.report(float(value), self.epoch)
        if self.trial.should_prune():
            raise self.stop(f"{self.metric} {float(value):.4f} at epoch {self.epoch}")


def _clear(folder, keep):
    """Empty `folder` but for its subfolder `keep` (a trial's finished autoencoder stage)."""
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if name == keep:
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def suggest(trial, dimension):
    """The trial's value of a dimension (a queued trial's value is fixed; a search draws the rest). A grid of
    numbers is stored as numbers in their range (so that Optuna's dashboard orders and scales them), a grid
    of text as categories."""
    if dimension.kind == "grid":
        if dimension.numbers:
            low, high = min(dimension.numbers), max(dimension.numbers)
            log = low > 0 and high / low >= 8  # rates, batch sizes: a factor per step, as the sweep's figures
            if all(isinstance(n, int) for n in dimension.numbers):
                return trial.suggest_int(dimension.name, low, high, log=log)
            return trial.suggest_float(dimension.name, float(low), float(high), log=log)
        return trial.suggest_categorical(dimension.name, list(dimension.values))
    if dimension.integer:
        return trial.suggest_int(dimension.name, int(dimension.low), int(dimension.high), log=dimension.log)
    return trial.suggest_float(dimension.name, dimension.low, dimension.high, log=dimension.log)


def write_hparams(folder, spec, values, seed, metrics):
    """A trial's values and final figures, for TensorBoard's HParams tab (tensorboard --logdir DIR/trials)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp
    with tf.summary.create_file_writer(os.path.join(folder, "tensorboard")).as_default():
        hp.hparams({**{d.flag[2:]: _hparam_value(d, values[d.name]) for d in spec.dimensions}, "seed": seed},
                   trial_id=os.path.basename(folder))
        for name, value in metrics.items():
            tf.summary.scalar(name, value, step=0)


def _hparam_value(dimension, value):
    """A value as the HParams tab's column holds it: a grid's number or text, a search's number."""
    return dimension.stored(dimension.text(value)) if dimension.kind == "grid" else value


def write_hparams_config(folder, spec, definition):
    """The HParams tab's columns: every dimension, the seed, and the script's final figures; once a sweep
    (a worker started again, or a sweep continued, finds them written)."""
    if glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        return
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp
    columns = [hp.HParam(d.flag[2:], hp.Discrete(list(d.numbers or d.values)) if d.kind == "grid" else
                         hp.IntInterval(int(d.low), int(d.high)) if d.integer else hp.RealInterval(d.low, d.high))
               for d in spec.dimensions] + [hp.HParam("seed", hp.Discrete(list(spec.seeds)))]
    names = [key for key, _ in definition.columns if key.startswith(("loss", "val_", "accuracy"))]
    names += ["pruned_at"] if spec.prune else []  # the epoch a pruned trial stopped at
    os.makedirs(folder, exist_ok=True)
    with tf.summary.create_file_writer(folder).as_default():
        hp.hparams_config(hparams=columns, metrics=[hp.Metric(name) for name in names])
