"""A sweep's workers: processes on this machine that each run queued trials one after another, and
the supervisor that starts them, restarts them where trials come back to the queue, and shows the
progress. On a CPU one worker per core, each pinned to its own; on GPUs one per GPU."""
import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import time
from typing import Optional

from convae.errors import UserError
from convae.sweep.objective import DISK_FAULT, Objective, write_hparams_config
from convae.sweep.study import (Patience, fail_dead_local_trials, load as load_study, masked, open_storage,
                                 requeue_interrupted, status_of, trials_of, waiting)


RESTARTS = 3        # a worker that dies this many times in a row, no trial finishing between, stops the sweep
STORAGE_GONE = 69   # a worker's exit status where the storage did not answer for longer than the sweep waits


def run_workers(spec, url, name, folder, study, layout, patience):
    """Start the workers, show progress until no trial is queued or running, and restart workers where
    trials come back to the queue (a worker died, here or on another machine). Every call to the
    storage goes through `patience` (study.Patience). A worker that keeps dying, or a disk that refuses
    a write, stops the sweep with a UserError of one line; Ctrl-C, SIGTERM and SIGHUP stop it as
    KeyboardInterrupt. Either way the workers are stopped and their trials queued again, to resume."""
    import multiprocessing
    from optuna.storages import fail_stale_trials
    context = multiprocessing.get_context("spawn")
    logs = os.path.join(folder, "workers")
    os.makedirs(logs, exist_ok=True)
    patience.call(lambda: (fail_dead_local_trials(study), requeue_interrupted(study)))
    progress = ProgressLine(spec.total(), sys.stdout.isatty(), len(spec.seeds))
    workers, deaths = {}, Deaths(folder, logs, patience.again)
    started = time.time()
    try:
        while True:
            try:
                tally, queued = patience.call(lambda: (progress.update(study, started), waiting(study)))
            except KeyError:  # Optuna's word for a study no longer in the storage
                raise UserError(f"the study {name!r} is gone from the storage {masked(url)} (deleted while the "
                                "sweep ran); its trials' folders are kept: give another --study to start it anew")\
                    from None
            deaths.progress(tally["complete"] + tally["failed"] + tally["pruned"])
            for i in range(layout.workers):
                if i in workers and not workers[i].is_alive():
                    deaths.check(i + 1, workers.pop(i).exitcode)
                if i not in workers and queued:
                    cpu = layout.cpus[i] if layout.cpus else None
                    gpu = layout.gpus[i] if layout.gpus else None
                    workers[i] = context.Process(target=worker, daemon=True,
                                                 args=(spec, url, name, folder, i + 1, cpu, gpu,
                                                       os.path.join(logs, f"worker-{i + 1}.log"), patience.seconds))
                    deaths.started(i + 1)
                    workers[i].start()
            if not workers and not tally["queued"]:
                if not tally["running"]:
                    break
                patience.call(lambda: fail_stale_trials(study))  # trials of workers elsewhere: wait for them
            patience.call(lambda: fail_dead_local_trials(study))
            time.sleep(1.0)
    except BaseException:
        for process in workers.values():
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
        for process in workers.values():
            process.join()
        with contextlib.suppress(Exception):  # a storage away: the next command queues them again
            fail_dead_local_trials(study)  # queued again, to resume from their checkpoints
        progress.close()
        raise
    patience.call(lambda: progress.update(study, started))
    progress.close()


class Deaths:
    """The workers that die without finishing their queue: each is started again, up to RESTARTS times in a
    row with no trial finishing in between; then, or at once where the disk refused a write, the sweep
    stops with one line: how the worker ended (its exit status, its signal, the out-of-memory killer)
    and the end of its log."""

    def __init__(self, folder, logs, again):
        self.folder, self.logs, self.again = folder, logs, again
        self.count, self.finished, self.ooms = {}, None, {}

    def started(self, number):
        self.ooms[number] = oom_kills()

    def progress(self, finished):
        if finished != self.finished:
            self.finished, self.count = finished, {}

    def check(self, number, status):
        """A worker ended with `status` (Process.exitcode): 0 is a worker whose queue ran out."""
        if status == 0:
            return
        log = os.path.join(self.logs, f"worker-{number}.log")
        problem = disk_problem(self.folder)
        if status == DISK_FAULT or problem:
            raise UserError(f"cannot write in {self.folder}: {problem or 'the disk refused a write'} (worker "
                            f"{number}, {log}); free some space or make it writable, then {self.again}")
        if status == STORAGE_GONE:
            raise UserError(f"worker {number} gave up on the storage ({last_line(log)}); {self.again}")
        self.count[number] = self.count.get(number, 0) + 1
        if self.count[number] >= RESTARTS:
            raise UserError(f"worker {number} died {RESTARTS} times in a row without finishing a trial, the last "
                            f"time {ending(status, oom_kills() > self.ooms.get(number, 0))}; the end of {log}: "
                            f"{last_line(log)}; {self.again}")


def ending(status, oom):
    """How a process ended, in words, from multiprocessing's exitcode (negative: the signal)."""
    if status < 0:
        name = signal.Signals(-status).name if -status in signal.valid_signals() else f"signal {-status}"
        if oom and -status == signal.SIGKILL:
            return "killed by the kernel's out-of-memory killer (SIGKILL): give it fewer workers or smaller batches"
        return f"killed by {name}"
    return f"with exit status {status}"


def oom_kills():
    """How many processes the out-of-memory killer has ended in this cgroup (cgroup v2), 0 where unknown."""
    with contextlib.suppress(OSError, ValueError):
        with open("/sys/fs/cgroup/memory.events") as f:
            return int(next(line.split()[1] for line in f if line.startswith("oom_kill ")))
    return 0


def disk_problem(folder):
    """Why `folder` cannot take a small write now (no space left, read-only, no permission), or None."""
    probe = os.path.join(folder, f".probe-{os.getpid()}")
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * 65536)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        return f"{e.strerror or e}"
    finally:
        with contextlib.suppress(OSError):
            os.remove(probe)
    return None


def last_line(path):
    """The last line of a log that says something, or why there is none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError as e:
        return f"no log ({e.strerror or e})"
    return lines[-1][:300] if lines else "an empty log"


class ProgressLine:
    """A live line on a terminal (tqdm): done, running, failed, left, elapsed, time left; in a pipe, one
    line per finished trial."""

    def __init__(self, total, live, seeds=1):
        self.total, self.live, self.seen, self.seeds = total, live, set(), seeds
        self.bar = None
        if live:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="trial", dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} trials [{elapsed}<{remaining}]{postfix}")

    def update(self, study, started):
        trials = trials_of(study)
        tally = {"complete": 0, "running": 0, "failed": 0, "queued": 0, "interrupted": 0, "pruned": 0}
        for trial in trials:
            status = status_of(trial)
            tally[status] = tally.get(status, 0) + 1
            if status in ("complete", "failed", "pruned") and trial.user_attrs["folder"] not in self.seen:
                self.seen.add(trial.user_attrs["folder"])
                self._finished(trial, status, started)
        # a pruned trial's configuration does not run its other seeds: they leave the count too
        ended = tally["complete"] + tally["failed"] + tally["pruned"] * self.seeds
        if self.bar is not None:
            self.bar.n = min(ended, self.total)
            self.bar.set_postfix_str(f"done {tally['complete']}, running {tally['running']}, failed {tally['failed']}"
                                     + (f", pruned {tally['pruned']}" if tally["pruned"] else "")
                                     + f", left {max(self.total - ended, 0)}", refresh=True)
        return tally

    def _finished(self, trial, status, started):
        attrs = trial.user_attrs
        if status == "failed":
            line = f"trial {attrs['folder']} failed: {attrs.get('error', 'no reason recorded')}"
        elif status == "pruned":
            line = f"trial {attrs['folder']} pruned after epoch {attrs.get('pruned_at', '?')}"
        else:
            metrics = attrs.get("metrics", {})
            shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("loss", "val_loss", "val_accuracy") if k in metrics)
            line = f"trial {attrs['folder']} complete: {shown} ({attrs.get('minutes', 0):.1f} min)"
        elapsed = time.time() - started
        line += f" [{len(self.seen)}/{self.total}, {elapsed / 60:.1f} min]"
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def worker(spec, storage_url, study_name, root, number, pin_cpu=None, gpu=None, log=None, patience_seconds=300):
    """One worker process: run queued trials one after another until none is left. Ends with DISK_FAULT
    where its disk refused a write, STORAGE_GONE where the storage stopped answering for longer than
    `patience_seconds`."""
    _die_with_parent()
    try:
        if log:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
            sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    except OSError:
        os._exit(DISK_FAULT)  # no log: nothing can be said here; the supervisor looks at the disk
    if pin_cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {pin_cpu})
        for variable in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            os.environ[variable] = "1"
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import optuna
    patience = Patience(storage_url, patience_seconds, say=lambda line: print(line, flush=True))
    try:
        storage = open_storage(storage_url, patience)
        study = patience.call(lambda: load_study(storage, study_name, spec, number))
        objective = Objective(spec, root, number, patience)
        if spec.tensorboard and number == 1:
            write_hparams_config(os.path.join(root, "trials"), spec, objective.definition)
        while patience.call(lambda: waiting(study)):
            try:
                patience.call(lambda: study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=True))
            except optuna.exceptions.UpdateFinishedTrialError:  # taken for dead while the storage was away
                print("this trial was queued again while the storage was away; its result.json answers that one")
            if objective.unqueued:
                break
    except UserError as e:
        print(f"error: {e}", flush=True)
        os._exit(STORAGE_GONE)


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
