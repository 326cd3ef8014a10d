"""A sweep's study and its storage: an Optuna study in a SQLite file in the sweep's folder, or on a
PostgreSQL server that workers on many machines share. Every trial is queued before it runs
(`enqueue_trial`): a grid's configurations x seeds up front; a search queues `--trials` trials of its
first seed (each of them queues its configuration for the other seeds when it runs). A trial whose
worker died is queued again under the same folder (`requeue`), to resume from its checkpoint.
"""
import contextlib
import itertools
import os
import socket
import sys
import time

from convae import internals
from convae.errors import UserError, first_line
from convae.sweep.spec import Spec, difference

HEARTBEAT_SECONDS = 20  # a running trial's worker says it is alive this often...
GRACE_SECONDS = 60      # ...and a trial not heard of for this long is taken for dead and queued again


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


def open_storage(url, patience=None):
    """Optuna's RDBStorage on `url`, with heartbeats, or a one-line UserError where it cannot be reached;
    with a `patience` (Patience), a storage that does not answer is waited for as it says."""
    import warnings

    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # the heartbeat's
    for attempt in range(5):
        try:
            return patience.call(lambda: _connect(url)) if patience else _connect(url)
        except ModuleNotFoundError as e:
            raise UserError(f"--storage {masked(url)}: needs the {e.name} package (pip install -r "
                            "requirements-postgres.txt)") from None
        except UserError:
            raise
        except Exception as e:  # SQLAlchemy's errors: the server, the file, the login
            reason = first_line(_root(e))
            if "already exists" in reason or "duplicate key" in reason:  # another command made the tables first
                time.sleep(0.5 * (attempt + 1))
                continue
            raise UserError(f"cannot reach the storage {masked(url)} ({reason})") from None
    raise UserError(f"cannot set up the storage {masked(url)} ({reason})")


def _connect(url):
    import optuna

    class Storage(optuna.storages.RDBStorage):
        def record_heartbeat(self, trial_id):
            """A heartbeat the storage cannot take is skipped, not fatal: Optuna's heartbeat thread ends at its
            first error, and a trial whose heartbeats stop is taken for dead and run again elsewhere."""
            try:
                super().record_heartbeat(trial_id)
            except Exception as e:
                if not storage_fault(e):
                    raise

    for short in ("postgres://", "postgresql://"):
        if url.startswith(short):
            url = "postgresql+psycopg://" + url[len(short):]  # psycopg 3, the driver the requirements name
    return Storage(url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
                   heartbeat_stale_trial_callback=requeue, engine_kwargs=_engine_kwargs(url))


def storage_fault(error):
    """Whether `error` says that the storage is away (a server restarting, a network blip, a file another
    process holds or a disk that refuses it) rather than that something is wrong with the sweep."""
    import optuna
    import sqlalchemy.exc
    return isinstance(error, (optuna.exceptions.StorageInternalError, sqlalchemy.exc.OperationalError,
                              sqlalchemy.exc.InterfaceError, sqlalchemy.exc.DisconnectionError))


class Patience:
    """How long to wait for a storage that stops answering: `call(function)` calls it again, with backoff,
    for up to `seconds`; one line (`say`) when the storage goes and one when it is back; past that, a
    UserError that names the storage (password masked) and ends with `again` (what continues the sweep)."""

    def __init__(self, url, seconds, again="", say=None):
        self.url, self.seconds, self.again = url, seconds, again
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))

    def call(self, function):
        since, delay = None, 0.5
        while True:
            try:
                result = function()
            except Exception as e:
                if not storage_fault(e):
                    raise
                reason, now = first_line(_root(e)), time.monotonic()
                refused = ("disk is full", "readonly database", "read-only", "disk I/O error")
                if any(words in reason for words in refused):
                    raise UserError(f"the storage {masked(self.url)} cannot write ({reason}): free some space or make "
                                    "it writable, then " + (self.again or "the same command continues the sweep")) \
                        from None
                if since is None:
                    since = now
                    self.say(f"the storage {masked(self.url)} is not answering ({reason}); waiting up to "
                             f"{self.seconds} s for it")
                if now - since >= self.seconds:
                    raise UserError(f"the storage {masked(self.url)} has not answered for {self.seconds} s "
                                    f"({reason}); " + (self.again or "the same command continues the sweep")) from None
                time.sleep(min(delay, since + self.seconds - now))
                delay = min(2 * delay, 15.0)
                continue
            if since is not None:
                self.say(f"the storage {masked(self.url)} is back, after {time.monotonic() - since:.0f} s")
            return result


def _engine_kwargs(url):
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}  # several workers on one file wait for each other's writes
    return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}


def _root(error):
    """The driver's own error behind SQLAlchemy's and Optuna's wrappers: what the server or the file said."""
    while True:
        if getattr(error, "orig", None) is not None:
            error = error.orig
        elif type(error).__name__ == "StorageInternalError" and error.__cause__ is not None:
            error = error.__cause__
        else:
            return error


def objective_names(spec, definition):
    """The study's objectives by name (what Optuna's dashboard shows): the definition's validation figure,
    then --against's."""
    return [definition.best_metric] + ([spec.against] if spec.against else [])


def directions(spec, definition):
    return [definition.direction] + (["minimize"] if spec.against else [])


def pruner(spec):
    """--prune: successive halving over the epochs (Optuna's SuccessiveHalvingPruner; its rungs at 1, 3, 9...
    epochs, a third of the trials promoted at each); without it, none."""
    import optuna
    if not spec.prune:
        return optuna.pruners.NopPruner()
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)


def sampler(spec, number=0):
    import optuna
    return optuna.samplers.TPESampler(seed=spec.seeds[0] + number)


def load(storage, name, spec, number=0):
    """The study as a worker (number >= 1) or the command (0) opens it: its sampler and pruner."""
    import optuna
    return optuna.load_study(storage=storage, study_name=name, sampler=sampler(spec, number), pruner=pruner(spec))


def open_study(storage, name, spec, folder, definition):
    """Create the study and queue its trials, or join the one that exists (same Spec, else UserError). Its
    directions: the definition's for its validation figure, then "minimize" for --against's figure."""
    import optuna
    try:
        study = optuna.create_study(storage=storage, study_name=name, directions=directions(spec, definition),
                                    sampler=sampler(spec), pruner=pruner(spec))
        study.set_metric_names(objective_names(spec, definition))
        study.set_user_attr("spec", spec.to_json())
        _queue(study, spec)
        study.set_user_attr("queued", True)
        return study
    except optuna.exceptions.DuplicatedStudyError:
        pass
    study = load(storage, name, spec)
    for _ in range(600):  # another command is creating it: wait until its trials are queued
        attrs = study.user_attrs
        if attrs.get("queued"):
            break
        time.sleep(0.5)
    theirs = Spec.from_json(study.user_attrs["spec"])
    if theirs != spec:
        raise UserError(f"the study {name!r} (in {folder}) is a sweep of {difference(theirs, spec)}; "
                        "give the same command to join it, or another --output-dir or --study")
    return study


def _queue(study, spec):
    """Queue every trial of the sweep: grid configurations x seeds, or `trials` draws of a search at
    the first seed (each draw queues its other seeds when it runs)."""
    grids = [[(d.name, d.stored(v)) for v in d.values] for d in spec.grid]
    count = spec.trials if spec.search else 1
    number = 0
    for combination in itertools.product(*grids):
        for draw in range(count):
            seeds = spec.seeds[:1] if spec.search else spec.seeds
            for seed in seeds:
                study.enqueue_trial(dict(combination), user_attrs={"folder": f"c{number:03d}-s{seed}",
                                                                   "configuration": number, "seed": seed})
            number += 1


def params_of(trial):
    """A trial's dimensions' values: those queued for it, and those it drew."""
    return trial.system_attrs.get("fixed_params", {}) | trial.params


def seed_of(trial):
    """A trial's seed: a user attribute, not a parameter (a sweep before 2026-12-07 queued it as one)."""
    seed = trial.user_attrs.get("seed")
    return seed if seed is not None else params_of(trial).get("seed")


def trial_folder(root, trial):
    return os.path.join(root, "trials", trial.user_attrs["folder"])


def requeue(study, trial):
    """Queue a trial again under the same folder (a trial whose worker died: it resumes there)."""
    if trial.user_attrs.get("error") or "folder" not in trial.user_attrs:
        return
    attrs = {k: v for k, v in trial.user_attrs.items() if k in ("folder", "configuration", "seed")}
    attrs["retry_of"] = trial.number
    study.enqueue_trial(dict(params_of(trial)), user_attrs=attrs)


def fail_dead_local_trials(study):
    """Trials marked running by a process of this machine that no longer exists: failed and queued
    again now, rather than after the heartbeat's grace period."""
    from optuna.trial import TrialState
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") == host and pid and not _alive(pid):
            try:
                failed = internals.fail_trial(study, trial)
                if failed is not None:
                    requeue(study, failed)
            except Exception:  # another process got there first
                pass


def requeue_interrupted(study):
    """Trials that ended without a result of their own (their worker stopped, a disk refused a write) and
    were not queued again then: queued again now, to resume from their checkpoints."""
    for trial in trials_of(study):
        if status_of(trial) == "interrupted":
            requeue(study, trial)


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
    return {TrialState.RUNNING: "running", TrialState.WAITING: "queued",
            TrialState.PRUNED: "pruned"}.get(trial.state, trial.state.name.lower())
