"""Run many experiments of autoencoder.py or classification.py over hyperparameters x seeds, and compare them.

usage: python sweep.py autoencoder.py -d TRAIN --grid batch-size=32,64,128 --grid dropout=0,0.2 --seeds 1-3 --epochs 5
       python sweep.py classification.py -d ... -dl ... -t ... -tl ... -model AE.h5 --search learning-rate=1e-4:1e-2:log
       python sweep.py --report DIR

The script comes first; every flag that is not the sweep's own is the script's and holds for every
trial. A trial is one experiment of the script with those flags, a value of each dimension,
--no-input and one seed, in its own folder under DIR/trials/. The same command again continues a
sweep that was stopped: finished trials are kept, interrupted ones resume from their checkpoints.
With --storage postgresql://USER@HOST:PORT/DB --study NAME the same command on other machines
joins the sweep. See docs/sweeps.md.
"""
import argparse
import contextlib
import datetime
import importlib.util
import io
import json
import os
import signal
import sys
import time

import convae  # noqa: F401  first: where the requirements are missing, it says so in one line

if any(importlib.util.find_spec(name) is None for name in ("optuna", "scipy", "tqdm")):
    raise SystemExit("error: sweep.py needs optuna, scipy and tqdm; install the requirements with: "
                     "python -m pip install -r requirements.txt")

from convae import cli, sweep
from convae.errors import UserError
from convae.files import write_text_atomic

SCRIPTS = ("autoencoder.py", "classification.py")
OWN = {"seed", "output_dir", "save", "overwrite", "resume", "no_input", "no_show", "tensorboard"}


def make_parser():
    parser = cli.Parser(prog="sweep.py", description=__doc__, allow_abbrev=False,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
        help="a dimension of listed values of the script's flag NAME (flags that take a list, such as --filters: "
             "values separated by ';')")
    add("--search", action="append", default=[], metavar="NAME=LOW:HIGH[:log]",
        help="a dimension drawn by Optuna's TPE sampler from a range (:log for rates)")
    add("--seeds", default="1", metavar="A-B|A,B,...", help="the seeds every configuration runs with (default: 1)")
    add("--trials", type=cli.argparse_type(sweep_trials()), default=None, metavar="N",
        help="configurations a --search draws (default: 20)")
    add("--workers", type=cli.argparse_type(sweep_workers()), default=None, metavar="N",
        help="worker processes on this machine (default: one per GPU, each on its own; on a CPU one per core, "
             "each on its own, up to 4)")
    add("--output-dir", metavar="DIR", help="the sweep's folder (default: runs/sweep-<date-time>)")
    add("--storage", metavar="URL", help="the study's storage (default: a SQLite file in the sweep's folder); "
        "postgresql://USER@HOST:PORT/DB lets workers on many machines share one sweep")
    add("--study", default="sweep", metavar="NAME", help="the study's name in the storage (default: sweep)")
    add("--ensemble", type=cli.argparse_type(sweep_workers()), default=None, metavar="K",
        help="classification: also score the test set with the K best trials' probabilities averaged")
    add("--no-tensorboard", action="store_true", help="no TensorBoard logs (written by default, with HParams)")
    add("--report", metavar="DIR", help="write the table and figures of the sweep in DIR again (with --ensemble K, "
        "score that ensemble), and exit")
    return parser


def sweep_trials():
    from convae.params import Param, integer
    return Param("trials", integer(1, 100000), 20, "")


def sweep_workers():
    from convae.params import Param, integer
    return Param("workers", integer(1, 1024), None, "")


def parse(argv):
    """(the sweep's own flags, the script, the script's flags)."""
    parser = make_parser()
    script = argv[0] if argv and argv[0].endswith(".py") else None
    own, rest = parser.parse_known_args(argv[1:] if script else argv)
    if own.report:
        if script or rest:
            parser.error("--report DIR takes nothing else but --ensemble K")
        return own, None, []
    if script is None:
        parser.error(f"expected the script to sweep first: {' or '.join(SCRIPTS)} (or --report DIR)")
    if os.path.basename(script) not in SCRIPTS:
        parser.error(f"{script}: expected {' or '.join(SCRIPTS)}")
    return own, os.path.basename(script), rest


def build_spec(own, script, fixed):
    """The sweep's Spec from its flags, each checked as the script would check it."""
    module = sweep.load_script(script)
    params = module.SETTINGS + module.HYPERPARAMETERS
    dims = [sweep.parse_dimension("grid", g, params) for g in own.grid]
    dims += [sweep.parse_dimension("search", s, params) for s in own.search]
    names = [d.name for d in dims]
    for name in names:
        if names.count(name) > 1:
            raise UserError(f"--{name.replace('_', '-')} is given as a dimension twice")
    flags = module.parse_args(fixed)  # an unknown flag or a bad value: the script's own error
    for name in names:
        if getattr(flags, name) is not None and ("--" + name.replace("_", "-")) in fixed:
            raise UserError(f"--{name.replace('_', '-')} is both a dimension and a fixed flag")
    for name in sorted(OWN):
        if getattr(flags, name, None) not in (None, False):
            raise UserError(f"--{name.replace('_', '-')} is the sweep's to set for each trial; leave it out")
    if own.trials is not None and not own.search:
        raise UserError("--trials counts the configurations a --search draws; there is no --search")
    if own.ensemble and script != "classification.py":
        raise UserError("--ensemble averages classifiers: it needs classification.py")
    flags.no_input = True
    return sweep.Spec(script, tuple(fixed), tuple(dims), sweep.parse_seeds(own.seeds),
                      own.trials or (20 if own.search else 1), not own.no_tensorboard), module, flags


def check_inputs(module, flags):
    """Read the data files (and the autoencoder) once here, so that a bad one is refused before any trial."""
    from convae.prompts import Prompter
    from convae.runtime import Runtime
    module.Inputs(flags, Prompter(enabled=False), Runtime())


def main(argv=None):
    own, script, fixed = parse(sys.argv[1:] if argv is None else argv)
    if own.report:
        return report_only(own.report, own.ensemble)
    spec, module, flags = build_spec(own, script, fixed)
    folder = own.output_dir or os.path.join("runs", f"sweep-{datetime.datetime.now():%Y%m%d-%H%M%S}")
    recorded = os.path.join(folder, sweep.SPEC_FILE)
    if os.path.exists(recorded):
        with open(recorded) as f:
            theirs = json.load(f)
        if sweep.Spec.from_json(theirs["spec"]) != spec:
            raise UserError(f"{folder} holds a sweep of {sweep._difference(sweep.Spec.from_json(theirs['spec']), spec)}"
                            "; give the same command to continue it, or another --output-dir")
    url = own.storage or sweep.default_storage(folder)
    if own.storage:
        storage = sweep.open_storage(url)  # an unreachable server: refused before anything is written
    with contextlib.redirect_stdout(io.StringIO()):  # what the scripts print about their inputs
        check_inputs(module, flags)
    os.makedirs(folder, exist_ok=True)
    if not own.storage:
        storage = sweep.open_storage(url)
    study = sweep.open_study(storage, own.study, spec, folder)
    write_text_atomic(recorded, json.dumps({"spec": spec.to_json(), "storage": own.storage and sweep.masked(url),
                                            "study": own.study, "ensemble": own.ensemble}, indent=2) + "\n")
    layout = sweep.layout(own.workers)
    dims = "; ".join(d.describe() for d in spec.dimensions) or "seeds only"
    print(f"Sweep of {script}: {spec.total()} trials ({dims}; seeds {','.join(map(str, spec.seeds))}) in {folder}, "
          f"study {own.study!r} in {sweep.masked(url)}; {layout.describe()}", flush=True)
    interrupted = False
    try:
        run_workers(spec, url, own.study, folder, study, layout)
    except KeyboardInterrupt:
        interrupted = True
    report(folder, spec, study, own.study, sweep.masked(url), own.ensemble, module)
    if interrupted:
        print("interrupted: the same command continues the sweep (running trials resume from their checkpoints)",
              file=sys.stderr)
        return 130
    return 0


def run_workers(spec, url, name, folder, study, layout):
    """Start the workers, show progress until no trial is queued or running, and restart workers where
    trials come back to the queue (a worker died, here or on another machine)."""
    import multiprocessing
    from optuna.storages import fail_stale_trials
    context = multiprocessing.get_context("spawn")
    logs = os.path.join(folder, "workers")
    os.makedirs(logs, exist_ok=True)
    sweep.fail_dead_local_trials(study)
    progress = Progress(spec.total(), sys.stdout.isatty())
    workers = {}
    started = time.time()
    try:
        while True:
            for i in range(layout.workers):
                if (i not in workers or not workers[i].is_alive()) and sweep.waiting(study):
                    cpu = layout.cpus[i] if layout.cpus else None
                    gpu = layout.gpus[i] if layout.gpus else None
                    workers[i] = context.Process(target=sweep.worker, daemon=True,
                                                 args=(spec, url, name, folder, i + 1, cpu, gpu,
                                                       os.path.join(logs, f"worker-{i + 1}.log")))
                    workers[i].start()
            tally = progress.update(study, started)
            if not any(w.is_alive() for w in workers.values()) and not tally["queued"]:
                if not tally["running"]:
                    break
                fail_stale_trials(study)  # trials of workers elsewhere: wait for them, or for their heartbeat
            sweep.fail_dead_local_trials(study)
            time.sleep(1.0)
    except KeyboardInterrupt:
        for process in workers.values():
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
        for process in workers.values():
            process.join()
        sweep.fail_dead_local_trials(study)  # queued again, to resume from their checkpoints
        progress.close()
        raise
    progress.update(study, started)
    progress.close()


class Progress:
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
        trials = sweep.trials_of(study)
        tally = {"complete": 0, "running": 0, "failed": 0, "queued": 0, "interrupted": 0}
        for trial in trials:
            status = sweep.status_of(trial)
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


def report(folder, spec, study, name, storage, ensemble_k, module):
    from convae import sweep_report
    script = module.SCRIPT
    ensemble = None
    if ensemble_k and spec.script != "classification.py":
        raise UserError("--ensemble averages classifiers: this is a sweep of " + spec.script)
    if ensemble_k:
        from convae.ensemble import score as score_ensemble
        ensemble = score_ensemble(folder, spec, study, ensemble_k, module)
    written, table = sweep_report.write(folder, spec, study, name, storage, script.higher_is_better,
                                        script.best_metric, ensemble)
    if table:
        best = table[0]
        values = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in best["key"]) or "the fixed flags"
        print(f"Best configuration: {values}: {script.best_metric} {best['mean']:.4f} over {best['n']} seed"
              f"{'s' if best['n'] > 1 else ''}")
    for path in written:
        print(f"  wrote {path}")


def report_only(folder, ensemble=None):
    recorded = os.path.join(folder, sweep.SPEC_FILE)
    if not os.path.exists(recorded):
        raise UserError(f"{folder}: no {sweep.SPEC_FILE} (not a sweep's folder)")
    with open(recorded) as f:
        record = json.load(f)
    spec = sweep.Spec.from_json(record["spec"])
    url = record["storage"] or sweep.default_storage(folder)  # none recorded: the file in the folder
    if "***" in url:
        raise UserError(f"{folder}: its storage has a password, which is not recorded; set it in PGPASSWORD")
    import optuna
    study = optuna.load_study(storage=sweep.open_storage(url), study_name=record["study"])
    report(folder, spec, study, record["study"], sweep.masked(url), ensemble or record.get("ensemble"),
           sweep.load_script(spec.script))
    return 0


if __name__ == "__main__":
    cli.run(main)
