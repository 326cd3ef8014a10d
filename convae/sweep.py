"""Sweeps: many experiments of one script over hyperparameters x seeds, as trials of an Optuna study.

A `Spec` says what a sweep runs: the script, its fixed flags, the dimensions (a `--grid` of listed
values or a `--search` range) and the seeds. The study lives in a storage: a SQLite file in the
sweep's folder by default, or a PostgreSQL server that workers on many machines share. Every trial
is queued before it runs (`enqueue_trial`): a grid's configurations x seeds up front; a search
queues `--trials` trials of its first seed, whose other dimensions Optuna's TPE sampler draws, and
each of them queues its configuration for the other seeds. A worker pops one queued trial at a
time, so each runs once, and runs it as the script would with those flags, `--no-input` and that
seed (runner.Run.unattended), in its own folder, in a process that imported the backend once.

Nothing is lost: every trial's folder holds the script's checkpoint, so a trial whose worker was
killed (found by Optuna's heartbeat, or at once where its process is known to be gone) is queued
again under the same folder and resumes from its last finished epoch (`--resume`); a trial whose
result.json was written is not run again.
"""
import contextlib
import dataclasses
import gc
import itertools
import json
import os
import shutil
import socket
import sys
import time
import traceback
from typing import Optional

from convae.errors import UserError, first_line
from convae.files import write_text_atomic

HEARTBEAT_SECONDS = 20  # a running trial's worker says it is alive this often...
GRACE_SECONDS = 60      # ...and a trial not heard of for this long is taken for dead and queued again
SPEC_FILE = "sweep.json"
RESULT_FILE = "result.json"
NOT_DIMENSIONS = {"seed", "train_images", "train_labels", "test_images", "test_labels", "model", "output_dir",
                  "save", "overwrite", "resume", "steps_per_dispatch", "distribute", "no_input", "no_show",
                  "verbose", "tensorboard"}


@dataclasses.dataclass(frozen=True)
class Dimension:
    name: str                # the script's Param name ("batch_size")
    kind: str                # "grid" or "search"
    values: tuple = ()       # grid: the values as the flag takes them (text)
    low: float = 0.0         # search: the range, and whether it is drawn on a log scale,
    high: float = 0.0
    log: bool = False
    integer: bool = False    # of integers

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    def describe(self):
        if self.kind == "grid":
            return f"{self.flag} in {{{'; '.join(self.values)}}}"
        return f"{self.flag} from {self.low:g} to {self.high:g}" + (" (log scale)" if self.log else "")


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a sweep runs; two commands that join one sweep must give the same Spec."""
    script: str              # "autoencoder.py" or "classification.py"
    fixed: tuple             # the script's flags that hold for every trial, as given
    dimensions: tuple        # of Dimension
    seeds: tuple             # of int
    trials: int              # configurations a search draws (1 for a grid alone)
    tensorboard: bool = True

    def to_json(self):
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_json(cls, record):
        return cls(record["script"], tuple(record["fixed"]), tuple(Dimension(**{**d, "values": tuple(d["values"])})
                                                                    for d in record["dimensions"]),
                   tuple(record["seeds"]), record["trials"], record.get("tensorboard", True))

    @property
    def grid(self):
        return [d for d in self.dimensions if d.kind == "grid"]

    @property
    def search(self):
        return [d for d in self.dimensions if d.kind == "search"]

    def total(self):
        """How many trials the sweep runs."""
        count = len(self.seeds) * (self.trials if self.search else 1)
        for d in self.grid:
            count *= len(d.values)
        return count


def parse_seeds(text):
    """"1-3" or "1,2,5" (or both: "1-3,7") -> a tuple of distinct seeds, in order."""
    seeds = []
    for part in text.replace(" ", "").split(","):
        try:
            if "-" in part[1:]:
                first, last = part.split("-", 1) if not part.startswith("-") else (part, "")
                first, last = int(first), int(last)
                if last < first:
                    raise ValueError(f"{part}: the range ends before it begins")
                seeds += range(first, last + 1)
            else:
                seeds.append(int(part))
        except ValueError as e:
            reason = str(e) if "range" in str(e) else "expected seeds such as 1-3 or 1,2,5"
            raise UserError(f"--seeds {text}: {reason}") from None
    if not seeds or min(seeds) < 0:
        raise UserError(f"--seeds {text}: expected seeds of 0 or more, such as 1-3 or 1,2,5")
    return tuple(dict.fromkeys(seeds))


def parse_dimension(kind, text, params):
    """A --grid NAME=V1,V2 or --search NAME=LO:HI[:log] against the script's Params (by name)."""
    if "=" not in text:
        example = "batch-size=32,64" if kind == "grid" else "learning-rate=1e-4:1e-2:log"
        raise UserError(f"--{kind} {text}: expected NAME=VALUES, for example --{kind} {example}")
    name, values = text.split("=", 1)
    key = name.strip().lstrip("-").replace("-", "_")
    by_name = {p.name: p for p in params if p.name not in NOT_DIMENSIONS}
    if key not in by_name:
        raise UserError(f"--{kind} {name}: not a flag the sweep can vary; the script's are: "
                        + ", ".join(p.flag[2:] for p in by_name.values()))
    param = by_name[key]
    if kind == "grid":
        listed = getattr(param.parse, "is_list", False)
        texts = [v.strip() for v in values.split(";" if listed else ",") if v.strip()]
        if not texts:
            raise UserError(f"--grid {name}: no values")
        for value in texts:
            _check_value(param, value, f"--grid {name}")
        return Dimension(key, "grid", tuple(dict.fromkeys(texts)))
    parts = values.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
        raise UserError(f"--search {name}={values}: expected LOW:HIGH or LOW:HIGH:log")
    low, high = (_check_value(param, v, f"--search {name}") for v in parts[:2])
    if not isinstance(low, (int, float)) or isinstance(low, bool):
        raise UserError(f"--search {name}: only a number can be searched; give its values with --grid")
    if not low < high:
        raise UserError(f"--search {name}={values}: the range is upside down or empty ({low:g} is not below {high:g})")
    log = len(parts) == 3
    if log and low <= 0:
        raise UserError(f"--search {name}={values}: a log scale needs a range above 0")
    return Dimension(key, "search", low=float(low), high=float(high), log=log, integer=isinstance(low, int))


def _check_value(param, text, where):
    try:
        return param.parse(text)
    except ValueError as e:
        raise UserError(f"{where}: {e}") from None


def flag_text(dimension, value):
    """A dimension's value as its flag takes it."""
    if dimension.kind == "grid" or isinstance(value, str):
        return str(value)
    return str(int(value)) if dimension.integer else repr(float(value))


# Storage -------------------------------------------------------------------------------------------

def masked(url):
    """A storage URL with its password hidden, for messages and records."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, at, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def default_storage(folder):
    return "sqlite:///" + os.path.abspath(os.path.join(folder, "study.db"))


def open_storage(url):
    """Optuna's RDBStorage on `url`, with heartbeats, or a one-line UserError where it cannot be reached."""
    import warnings

    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # the heartbeat's
    given = url
    for short in ("postgres://", "postgresql://"):
        if url.startswith(short):
            url = "postgresql+psycopg://" + url[len(short):]  # psycopg 3, the driver the requirements name
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
                                              heartbeat_stale_trial_callback=requeue,
                                              engine_kwargs=_engine_kwargs(url))
        except ModuleNotFoundError as e:
            raise UserError(f"--storage {masked(given)}: needs the {e.name} package (pip install -r "
                            "requirements-postgres.txt)") from None
        except Exception as e:  # SQLAlchemy's errors: the server, the file, the login
            reason = first_line(_root(e))
            if "already exists" in reason or "duplicate key" in reason:  # another command made the tables first
                time.sleep(0.5 * (attempt + 1))
                continue
            raise UserError(f"cannot reach the storage {masked(given)} ({reason})") from None
    raise UserError(f"cannot set up the storage {masked(given)} ({reason})")


def _engine_kwargs(url):
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}  # several workers on one file wait for each other's writes
    return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}


def _root(error):
    while getattr(error, "orig", None) is not None:
        error = error.orig
    return error


def open_study(storage, name, spec, folder):
    """Create the study and queue its trials, or join the one that exists (same Spec, else UserError)."""
    import optuna
    direction = "maximize" if _higher_is_better(spec.script) else "minimize"
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction=direction,
                                    sampler=optuna.samplers.TPESampler(seed=spec.seeds[0]))
        study.set_user_attr("spec", spec.to_json())
        _queue(study, spec)
        study.set_user_attr("queued", True)
        return study
    except optuna.exceptions.DuplicatedStudyError:
        pass
    study = optuna.load_study(storage=storage, study_name=name,
                              sampler=optuna.samplers.TPESampler(seed=spec.seeds[0]))
    for _ in range(600):  # another command is creating it: wait until its trials are queued
        attrs = study.user_attrs
        if attrs.get("queued"):
            break
        time.sleep(0.5)
    theirs = Spec.from_json(study.user_attrs["spec"])
    if theirs != spec:
        raise UserError(f"the study {name!r} (in {folder}) is a sweep of {_difference(theirs, spec)}; "
                        "give the same command to join it, or another --output-dir or --study")
    return study


def _difference(theirs, ours):
    for field in ("script", "dimensions", "seeds", "fixed", "trials", "tensorboard"):
        a, b = getattr(theirs, field), getattr(ours, field)
        if a != b:
            show = {"dimensions": lambda ds: ", ".join(d.describe() for d in ds) or "none",
                    "fixed": lambda f: " ".join(f) or "none"}.get(field, str)
            return f"other {field}: {show(a)} there, {show(b)} here"
    return "another sweep"


def _higher_is_better(script):
    return script == "classification.py"


def _queue(study, spec):
    """Queue every trial of the sweep: grid configurations x seeds, or `trials` draws of a search at
    the first seed (each draw queues its other seeds when it runs)."""
    grids = [[(d.name, v) for v in d.values] for d in spec.grid]
    count = spec.trials if spec.search else 1
    number = 0
    for combination in itertools.product(*grids):
        for draw in range(count):
            seeds = spec.seeds[:1] if spec.search else spec.seeds
            for seed in seeds:
                study.enqueue_trial(dict(combination, seed=seed),
                                    user_attrs={"folder": f"c{number:03d}-s{seed}", "configuration": number})
            number += 1


def trial_folder(root, trial):
    return os.path.join(root, "trials", trial.user_attrs["folder"])


# Workers -------------------------------------------------------------------------------------------

def requeue(study, trial):
    """Queue a trial again under the same folder (a trial whose worker died: it resumes there)."""
    if trial.user_attrs.get("error") or "folder" not in trial.user_attrs:
        return
    attrs = {k: v for k, v in trial.user_attrs.items() if k in ("folder", "configuration")}
    attrs["retry_of"] = trial.number
    study.enqueue_trial(dict(trial.system_attrs.get("fixed_params", trial.params)), user_attrs=attrs)


def fail_dead_local_trials(study):
    """Trials marked running by a process of this machine that no longer exists: failed and queued
    again now, rather than after the heartbeat's grace period."""
    from optuna.trial import TrialState
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") == host and pid and not _alive(pid):
            try:
                if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                    requeue(study, study._storage.get_trial(trial._trial_id))
            except Exception:  # another process got there first
                pass


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie: gone, but not yet reaped by its parent
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def waiting(study):
    from optuna.trial import TrialState
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def worker(spec, storage_url, study_name, root, number, pin_cpu=None, gpu=None, log=None):
    """One worker process: run queued trials one after another until none is left."""
    _die_with_parent()
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    if pin_cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {pin_cpu})
        for variable in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            os.environ[variable] = "1"
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import optuna
    storage = open_storage(storage_url)
    study = optuna.load_study(storage=storage, study_name=study_name,
                              sampler=optuna.samplers.TPESampler(seed=spec.seeds[0] + number))
    runner = TrialRunner(spec, root, number)
    if spec.tensorboard and number == 1:
        write_hparams_config(os.path.join(root, "trials"), spec, runner.module.SCRIPT)
    while waiting(study):
        study.optimize(runner, n_trials=1, catch=(Exception,), gc_after_trial=True)
        if runner.unqueued:
            break


def _die_with_parent():
    """On Linux, end with the command that started this worker, as a SIGKILL of it would otherwise
    leave the worker training alone."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's to handle


class TrialRunner:
    """The objective: one trial = one experiment of the script, in its own folder."""

    def __init__(self, spec, root, number):
        self.spec, self.root, self.number = spec, root, number
        self.module = load_script(spec.script)
        self.inputs = {}  # the data files, loaded once per worker
        self.unqueued = False

    def __call__(self, trial):
        import optuna
        if "folder" not in trial.user_attrs:  # not one the sweep queued: the queue emptied between a look and a pop
            self.unqueued = True
            raise optuna.TrialPruned("nothing queued")
        values = {d.name: _suggest(trial, d) for d in self.spec.dimensions}
        seed = trial.suggest_categorical("seed", list(self.spec.seeds))
        for key, value in (("host", socket.gethostname()), ("pid", os.getpid()), ("worker", self.number)):
            trial.set_user_attr(key, value)
        if self.spec.search and seed == self.spec.seeds[0] and "retry_of" not in trial.user_attrs:
            self._queue_other_seeds(trial, values)
        folder = trial_folder(self.root, trial)
        try:
            result = self.run(folder, values, seed)
        except Exception as e:
            trial.set_user_attr("error", first_line(e) if isinstance(e, UserError) else
                                f"{type(e).__name__}: {first_line(e)}")
            raise
        for key, value in result.items():
            trial.set_user_attr(key, value)
        return result["metrics"][self.module.SCRIPT.best_metric]

    def _queue_other_seeds(self, trial, values):
        configuration = trial.user_attrs["configuration"]
        for seed in self.spec.seeds[1:]:
            trial.study.enqueue_trial(dict(values, seed=seed),
                                      user_attrs={"folder": f"c{configuration:03d}-s{seed}",
                                                  "configuration": configuration})

    def argv(self, folder, values, seed):
        dims = [x for d in self.spec.dimensions for x in (d.flag, flag_text(d, values[d.name]))]
        argv = [*self.spec.fixed, *dims, "--seed", str(seed), "--no-input", "--no-show", "--output-dir", folder,
                "--save", os.path.join(folder, "model.h5"), "--overwrite"]
        return argv + (["--tensorboard"] if self.spec.tensorboard else [])

    def run(self, folder, values, seed):
        """Run the experiment (or resume it, or take the result it already wrote); return its result."""
        started = time.perf_counter()
        done = os.path.join(folder, RESULT_FILE)
        if os.path.exists(done):
            with open(done) as f:
                return json.load(f)
        argv = self.argv(folder, values, seed)
        if os.path.exists(os.path.join(folder, "checkpoint.npz")):
            argv.append("--resume")
        elif os.path.exists(folder):  # killed before its first checkpoint, or after it but before its result
            shutil.rmtree(folder)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "log.txt"), "a") as log, \
                contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            print(f"$ python {self.spec.script} {' '.join(argv)}", flush=True)
            try:
                experiment = self.experiment(argv)
            except Exception:
                traceback.print_exc()
                raise
        result = {"metrics": experiment.metrics, "history": experiment.history, "status": experiment.status,
                  "minutes": experiment.seconds / 60, "parameters": experiment.parameters,
                  "test": experiment.extra.get("test")}
        if self.spec.tensorboard:
            write_hparams(folder, self.spec, values, seed, experiment.metrics)
        result["wall_seconds"] = time.perf_counter() - started  # the trial in its worker, from start to result
        write_text_atomic(done, json.dumps(result, indent=1) + "\n")
        del experiment
        gc.collect()
        return result

    def experiment(self, argv):
        """What the script does with these flags and --no-input (its main's path), the data read once."""
        from convae import cli, runner
        from convae.prompts import Prompter
        from convae.runtime import Runtime
        args = self.module.parse_args(argv)
        cli.check_save_flag(args)
        runtime = Runtime.from_flags(args)
        prompter = Prompter(enabled=False)
        key = tuple((dest, getattr(args, dest)) for _, dest, _ in self.module.PATHS)
        if key not in self.inputs:
            self.inputs = {key: self.module.Inputs(args, prompter, runtime)}
        run = runner.Run(self.module.SCRIPT, self.inputs[key], args, prompter, runtime)
        experiment = run.unattended(args.save)
        if experiment.status.startswith("stopped"):
            raise UserError(f"stopped: {experiment.status}")
        return experiment


def write_hparams(folder, spec, values, seed, metrics):
    """A trial's values and final figures, for TensorBoard's HParams tab (tensorboard --logdir DIR/trials)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp
    with tf.summary.create_file_writer(os.path.join(folder, "tensorboard")).as_default():
        hp.hparams({**{d.flag[2:]: values[d.name] for d in spec.dimensions}, "seed": seed},
                   trial_id=os.path.basename(folder))
        for name, value in metrics.items():
            tf.summary.scalar(name, value, step=0)


def write_hparams_config(folder, spec, script):
    """The HParams tab's columns: every dimension, the seed, and the script's final figures."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp
    columns = [hp.HParam(d.flag[2:], hp.Discrete(list(d.values)) if d.kind == "grid" else
                         hp.IntInterval(int(d.low), int(d.high)) if d.integer else hp.RealInterval(d.low, d.high))
               for d in spec.dimensions] + [hp.HParam("seed", hp.Discrete(list(spec.seeds)))]
    names = [key for key, _ in script.columns if key.startswith(("loss", "val_", "accuracy"))]
    os.makedirs(folder, exist_ok=True)
    with tf.summary.create_file_writer(folder).as_default():
        hp.hparams_config(hparams=columns, metrics=[hp.Metric(name) for name in names])


def _suggest(trial, dimension):
    if dimension.kind == "grid":
        return trial.suggest_categorical(dimension.name, list(dimension.values))
    if dimension.integer:
        return trial.suggest_int(dimension.name, int(dimension.low), int(dimension.high), log=dimension.log)
    return trial.suggest_float(dimension.name, dimension.low, dimension.high, log=dimension.log)


def load_script(name):
    """The script's module (autoencoder.py or classification.py, beside the convae package)."""
    import importlib
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(os.path.splitext(name)[0])


# Reading the study back ----------------------------------------------------------------------------

def trials_of(study):
    """The sweep's trials, one per folder: its complete try where there is one, else its latest (a
    trial queued again after its worker died replaces the one it retries)."""
    from optuna.trial import TrialState
    by_folder = {}
    for trial in study.get_trials(deepcopy=False):
        if "folder" in trial.user_attrs:
            by_folder.setdefault(trial.user_attrs["folder"], []).append(trial)
    chosen = [next((t for t in tries if t.state == TrialState.COMPLETE), max(tries, key=lambda t: t.number))
              for tries in by_folder.values()]
    return sorted(chosen, key=lambda t: t.user_attrs["folder"])


def status_of(trial):
    from optuna.trial import TrialState
    if trial.state == TrialState.COMPLETE:
        return "complete"
    if trial.state == TrialState.FAIL:
        return "failed" if trial.user_attrs.get("error") else "interrupted"
    return {TrialState.RUNNING: "running", TrialState.WAITING: "queued"}.get(trial.state, trial.state.name.lower())


def counts(study):
    """done, running, failed, left (queued), over the sweep's trials."""
    tally = {"complete": 0, "running": 0, "failed": 0, "queued": 0, "interrupted": 0}
    for trial in trials_of(study):
        tally[status_of(trial)] = tally.get(status_of(trial), 0) + 1
    return tally


@dataclasses.dataclass
class Layout:
    """Where a sweep's workers run: how many, and pinned to which CPU or GPU."""
    workers: int
    cpus: Optional[list] = None
    gpus: Optional[list] = None

    def describe(self):
        if self.gpus:
            return f"{self.workers} worker{'s' if self.workers > 1 else ''}, one per GPU"
        if self.cpus:
            return f"{self.workers} workers, each on one CPU core"
        return f"{self.workers} worker{'s' if self.workers > 1 else ''}"


def layout(workers=None):
    """One worker per GPU, each pinned to its own; on a CPU, one worker per core, each pinned to its
    core, up to 4 (on 2 cores, two workers of one core each ran a sweep 1.31x faster than one worker
    on both, docs/sweeps.md; each holds about a gigabyte). `workers` given: that many, pinned to one
    core each where there are as many cores."""
    gpus = _gpus()
    if gpus:
        count = workers or len(gpus)
        return Layout(count, gpus=[gpus[i % len(gpus)] for i in range(count)])
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count()))
    count = workers or min(len(cores), 4)
    if 1 < count <= len(cores):
        return Layout(count, cpus=cores[:count])
    return Layout(count)


def _gpus():
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if not shutil.which("nvidia-smi"):
        return []
    import subprocess
    with contextlib.suppress(Exception):
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
        return [str(i) for i, line in enumerate(listed.splitlines()) if line.startswith("GPU ")]
    return []
