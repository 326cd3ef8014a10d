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

from convae.sweep.objective import Objective, write_hparams_config
from convae.sweep.study import fail_dead_local_trials, open_storage, status_of, trials_of, waiting


def run_workers(spec, url, name, folder, study, layout):
    """Start the workers, show progress until no trial is queued or running, and restart workers where
    trials come back to the queue (a worker died, here or on another machine)."""
    import multiprocessing
    from optuna.storages import fail_stale_trials
    context = multiprocessing.get_context("spawn")
    logs = os.path.join(folder, "workers")
    os.makedirs(logs, exist_ok=True)
    fail_dead_local_trials(study)
    progress = ProgressLine(spec.total(), sys.stdout.isatty())
    workers = {}
    started = time.time()
    try:
        while True:
            for i in range(layout.workers):
                if (i not in workers or not workers[i].is_alive()) and waiting(study):
                    cpu = layout.cpus[i] if layout.cpus else None
                    gpu = layout.gpus[i] if layout.gpus else None
                    workers[i] = context.Process(target=worker, daemon=True,
                                                 args=(spec, url, name, folder, i + 1, cpu, gpu,
                                                       os.path.join(logs, f"worker-{i + 1}.log")))
                    workers[i].start()
            tally = progress.update(study, started)
            if not any(w.is_alive() for w in workers.values()) and not tally["queued"]:
                if not tally["running"]:
                    break
                fail_stale_trials(study)  # trials of workers elsewhere: wait for them, or for their heartbeat
            fail_dead_local_trials(study)
            time.sleep(1.0)
    except KeyboardInterrupt:
        for process in workers.values():
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
        for process in workers.values():
            process.join()
        fail_dead_local_trials(study)  # queued again, to resume from their checkpoints
        progress.close()
        raise
    progress.update(study, started)
    progress.close()


class ProgressLine:
    """A live line on a terminal (tqdm): done, running, failed, left, elapsed, time left; in a pipe, one
    line per finished trial."""

    def __init__(self, total, live):
        self.total, self.live, self.seen = total, live, set()
        self.bar = None
        if live:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="trial", dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} trials [{elapsed}<{remaining}]{postfix}")

    def update(self, study, started):
        trials = trials_of(study)
        tally = {"complete": 0, "running": 0, "failed": 0, "queued": 0, "interrupted": 0}
        for trial in trials:
            status = status_of(trial)
            tally[status] = tally.get(status, 0) + 1
            if status in ("complete", "failed") and trial.user_attrs["folder"] not in self.seen:
                self.seen.add(trial.user_attrs["folder"])
                self._finished(trial, status, started)
        left = self.total - tally["complete"] - tally["failed"]
        if self.bar is not None:
            self.bar.n = tally["complete"] + tally["failed"]
            self.bar.set_postfix_str(f"done {tally['complete']}, running {tally['running']}, failed {tally['failed']}, "
                                     f"left {left}", refresh=True)
        return tally

    def _finished(self, trial, status, started):
        attrs = trial.user_attrs
        if status == "failed":
            line = f"trial {attrs['folder']} failed: {attrs.get('error', 'no reason recorded')}"
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
    objective = Objective(spec, root, number)
    if spec.tensorboard and number == 1:
        write_hparams_config(os.path.join(root, "trials"), spec, objective.definition)
    while waiting(study):
        study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=True)
        if objective.unqueued:
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
