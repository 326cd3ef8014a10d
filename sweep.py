"""Run many experiments of autoencoder.py or classification.py over hyperparameters x seeds, and compare them.

usage: python sweep.py autoencoder.py -d TRAIN --grid batch-size=32,64,128 --grid dropout=0,0.2 --seeds 1-3 --epochs 5
       python sweep.py classification.py -d ... -dl ... -t ... -tl ... -model AE.h5 --search learning-rate=1e-4:1e-2:log
       python sweep.py --report DIR

The script comes first; every flag that is not the sweep's own is the script's and holds for every
trial. A trial is one experiment of the script with those flags, a value of each dimension,
--no-input and one seed, in its own folder under DIR/trials/. The same command again continues a
sweep that was stopped: finished trials are kept, interrupted ones resume from their checkpoints.
Without --output-dir the folder follows from the sweep's settings (runs/sweep-<script>-<digest>), so
that the command, repeated word for word, finds it. With --storage postgresql://USER@HOST:PORT/DB
--study NAME the same command on other machines joins the sweep. See docs/sweeps.md.
"""
import argparse
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shlex
import signal
import sys

import convae  # noqa: F401  first: where the requirements are missing, it says so in one line

if any(importlib.util.find_spec(name) is None for name in ("optuna", "scipy", "tqdm")):
    raise SystemExit("error: sweep.py needs optuna, scipy and tqdm; install the requirements with: "
                     "python -m pip install -r requirements.txt")

from convae import cli, definitions
from convae.errors import UserError
from convae.files import write_text_atomic
from convae.sweep import spec as specs
from convae.sweep import study as studies
from convae.sweep.study import Patience
from convae.sweep.workers import layout as worker_layout
from convae.sweep.workers import run_workers

SCRIPTS = definitions.SCRIPTS


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
    add("--output-dir", metavar="DIR", help="the sweep's folder (default: runs/sweep-<script>-<digest of the "
        "sweep's settings>, the same for the same command)")
    add("--storage", metavar="URL", help="the study's storage (default: a SQLite file in the sweep's folder); "
        "postgresql://USER@HOST:PORT/DB lets workers on many machines share one sweep")
    add("--study", default="sweep", metavar="NAME", help="the study's name in the storage (default: sweep)")
    add("--storage-timeout", type=cli.argparse_type(storage_timeout()), default=300, metavar="SECONDS",
        help="how long the sweep waits for a storage that stops answering (a server restarting, a network blip) "
             "before it stops; the same command continues it (default: 300)")
    add("--prune", action="store_true",
        help="stop a --search's hopeless trials early: each reports its validation figure after every epoch, "
             "and Optuna's successive halving stops those behind at epochs 1, 3, 9...; only a configuration's "
             "first seed is pruned, its other seeds run once it completes (docs/sweeps.md)")
    add("--against", choices=specs.AGAINST, metavar="FIGURE",
        help="a second objective: the validation figure against the trial's minutes (or its parameters), in "
             "a multi-objective study; the report lists the Pareto front (pareto.png)")
    add("--autoencoder", metavar="FLAGS",
        help="classification: every trial trains its own autoencoder first (autoencoder.py with these flags, "
             "the classifier's -d and the trial's seed) instead of reusing -model, so that an --ensemble's "
             "members differ from the start; quote them: --autoencoder \"--epochs 5 --layers 3\"")
    add("--ensemble", type=cli.argparse_type(ensemble_size()), default=None, metavar="K",
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


def storage_timeout():
    from convae.params import Param, integer
    return Param("storage_timeout", integer(0, 86400), 300, "")


def ensemble_size():
    from convae.params import Param, integer
    return Param("ensemble", integer(1, 1024), None, "")


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


def check_inputs(definition, flags, spec):
    """Read the data files (and the autoencoder, unless each trial trains its own) once here, so that a bad one
    is refused before any trial."""
    from convae.prompts import Prompter
    from convae.runtime import Runtime
    if spec.autoencoder:
        definition.inputs(definition.given_paths(flags), Prompter(enabled=False), Runtime(), autoencoder=False)
    else:
        definition.load(flags, Prompter(enabled=False), Runtime())


class Stopped(KeyboardInterrupt):
    """SIGTERM (a scheduler, `kill`) or SIGHUP (a closed terminal): the sweep stops as at Ctrl-C."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum, frame):
    raise Stopped(signum)


def default_folder(spec, study):
    """runs/sweep-<script>-<digest>: the same folder for the same sweep, so that the same command finds it."""
    digest = hashlib.sha1(json.dumps([spec.to_json(), study], sort_keys=True).encode("utf-8")).hexdigest()[:8]
    return os.path.join("runs", f"sweep-{os.path.splitext(spec.script)[0]}-{digest}")


def main(argv=None):
    program = sys.argv[0] if argv is None else "sweep.py"
    argv = sys.argv[1:] if argv is None else argv
    own, script, fixed = parse(argv)
    if own.report:
        return report_only(own.report, own.ensemble)
    again = "the same command continues the sweep: python " + shlex.join([program, *argv])
    definition = definitions.of(script)
    spec, flags = specs.build(definition, fixed, own.grid, own.search, own.seeds, own.trials, not own.no_tensorboard,
                              own.ensemble, own.autoencoder, own.prune, own.against)
    folder = own.output_dir or default_folder(spec, own.study)
    recorded = os.path.join(folder, specs.FILE)
    continued = os.path.exists(recorded)
    if continued:
        with open(recorded) as f:
            theirs = specs.Spec.from_json(json.load(f)["spec"])
        if theirs != spec:
            raise UserError(f"{folder} holds a sweep of {specs.difference(theirs, spec)}"
                            "; give the same command to continue it, or another --output-dir")
    url = own.storage or studies.default_storage(folder)
    if own.storage:
        storage = studies.open_storage(url)  # an unreachable server: refused before anything is written
    with contextlib.redirect_stdout(io.StringIO()):  # what the scripts print about their inputs
        check_inputs(definition, flags, spec)
    os.makedirs(folder, exist_ok=True)
    if not own.storage:
        storage = studies.open_storage(url)
    study = studies.open_study(storage, own.study, spec, folder, definition)
    write_text_atomic(recorded, json.dumps({"spec": spec.to_json(), "storage": own.storage and studies.masked(url),
                                            "study": own.study, "ensemble": own.ensemble}, indent=2) + "\n")
    layout = worker_layout(own.workers)
    dims = "; ".join(d.describe() for d in spec.dimensions) or "seeds only"
    print(f"Sweep of {script}: {spec.total()} trials ({dims}; seeds {','.join(map(str, spec.seeds))}) in {folder}"
          f"{' (continued)' if continued else ''}, study {own.study!r} in {studies.masked(url)}; "
          f"{layout.describe()}", flush=True)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    stopped = None
    try:
        run_workers(spec, url, own.study, folder, study, layout, Patience(url, own.storage_timeout, again))
    except KeyboardInterrupt as e:
        stopped = e
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
    Patience(url, own.storage_timeout, again).call(
        lambda: report(folder, spec, study, own.study, studies.masked(url), own.ensemble, definition))
    if isinstance(stopped, Stopped):
        print(f"stopped by {signal.Signals(stopped.signum).name}: {again} (running trials resume from their "
              "checkpoints)", file=sys.stderr)
        return 128 + stopped.signum
    if stopped is not None:
        print(f"interrupted: {again} (running trials resume from their checkpoints)", file=sys.stderr)
        return 130
    return 0


def report(folder, spec, study, name, storage, ensemble_k, definition):
    from convae.sweep import report as reports
    specs.check_ensemble(definition, ensemble_k)
    ensemble = None
    if ensemble_k:
        from convae.sweep.ensemble import score as score_ensemble
        ensemble = score_ensemble(folder, spec, study, ensemble_k, definition)
    written, table = reports.write(folder, spec, study, name, storage, definition, ensemble)
    if table:
        best = table[0]
        values = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in best["key"]) or "the fixed flags"
        print(f"Best configuration: {values}: {definition.best_metric} {best['mean']:.4f} over {best['n']} seed"
              f"{'s' if best['n'] > 1 else ''}")
    for path in written:
        print(f"  wrote {path}")


def report_only(folder, ensemble=None):
    recorded = os.path.join(folder, specs.FILE)
    if not os.path.exists(recorded):
        raise UserError(f"{folder}: no {specs.FILE} (not a sweep's folder)")
    with open(recorded) as f:
        record = json.load(f)
    spec = specs.Spec.from_json(record["spec"])
    url = record["storage"] or studies.default_storage(folder)  # none recorded: the file in the folder
    if "***" in url:
        raise UserError(f"{folder}: its storage has a password, which is not recorded; set it in PGPASSWORD")
    study = studies.load(studies.open_storage(url), record["study"], spec)
    report(folder, spec, study, record["study"], studies.masked(url), ensemble or record.get("ensemble"),
           definitions.of(spec.script))
    return 0


if __name__ == "__main__":
    cli.run(main)
