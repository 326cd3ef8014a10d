"""One run of a script, and the one call that runs one experiment in it.

Both scripts and a sweep's trials go through here. A script describes itself in a `Script`: its
parameters, its table, and the functions of its own network (`train`, `figures`, `describe`, and the
test-set `report` where it has one). `Run` resolves once what holds for every experiment of a run
(settings, the training/validation split, the output folder, what identifies its checkpoints);
`Run.experiment(hyper)` runs one experiment from its validated hyperparameters and returns its
record (records.Experiment: metrics, history, figures; None where it stopped before an epoch).
"""
import dataclasses
import os
from typing import Callable, Optional

from convae import checkpoint, cli, records
from convae.backend import keras, seed_everything
from convae.errors import UserError
from convae.networks import count_parameters
from convae.session import Session


@dataclasses.dataclass(frozen=True)
class Script:
    """What a script contributes to a run. Its functions take the Run, which holds the data."""
    file: str                  # "autoencoder.py": what a checkpoint names as its writer
    name: str                  # "autoencoder": the default output folder's prefix
    settings: list             # Params fixed for the whole run
    hyperparameters: list      # Params of each experiment (asked for unless given as flags)
    columns: list              # experiments.csv's (key, heading) pairs
    best_metric: str           # what "the best experiment" means...
    higher_is_better: bool     # ...and which way
    train: Callable            # train(run, number, hyper, progress) -> Trained
    figures: Callable          # figures(run, experiment) -> paths of the experiment's own figures
    summary_figures: Callable  # summary_figures(run) -> paths (None for a figure with nothing to show)
    describe: Callable         # describe(run, experiment) -> the JSON beside a saved model
    report: Optional[Callable] = None  # report(run, experiment): the test set, where the script has one


@dataclasses.dataclass
class Progress:
    """Where a training stands and where it writes: the checkpoint's state and file, the variables to
    resume from (None for a fresh start), the clock of its seconds, and the callbacks every fit of
    the experiment takes besides its own (TensorBoard's)."""
    state: checkpoint.State
    file: checkpoint.File
    arrays: Optional[dict]
    clock: Callable
    callbacks: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Trained:
    """What a script's train() returns."""
    model: object
    status: str             # "complete", or "stopped ..." (Ctrl-C)
    metrics: dict = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)


def start(script, inputs, args, runtime):
    """What both scripts do before their first experiment: check --save's path (before the files, the
    backend and hours of training), load the `inputs` (a class: the files, asked for where missing),
    then make the Run (settings, split, output folder)."""
    from convae.prompts import Prompter
    cli.check_save_flag(args)
    prompter = Prompter(enabled=not args.no_input)
    run = Run(script, inputs(args, prompter, runtime), args, prompter, runtime)
    print(f"Outputs go to {run.session.output_dir}")
    return run


class Run:
    """One run of a script on its inputs (the loaded files: `context()`, `checksums()`, `split(settings)`)."""

    def __init__(self, script, inputs, args, prompter, runtime):
        self.script, self.inputs, self.args, self.prompter, self.runtime = script, inputs, args, prompter, runtime
        context = inputs.context()
        self.settings = cli.resolve(script.settings, vars(args), prompter, context)
        self.data = inputs.split(self.settings)
        self.context = dict(context, n_train=len(self.data.train[0]), **self.settings)
        self.identity = {"script": script.file, "data": inputs.checksums(), "settings": self.settings}
        self.hyper, self.resumed = cli.resume_point(args, script.hyperparameters, self.context, self.identity)
        self.session = Session(prompter, records.make_output_dir(args.output_dir, script.name), script.columns,
                               script.hyperparameters, script.best_metric, script.higher_is_better,
                               resumed=self.resumed.experiment if self.resumed else None)

    def ask(self):
        """The next experiment's hyperparameters: the checkpoint's when resuming, else the flags, then
        the answers (the previous experiment's offered as defaults)."""
        if not self.resumed:
            self.hyper = cli.resolve(self.script.hyperparameters, vars(self.args), self.prompter, self.context,
                                     previous=self.hyper)
        return self.hyper

    def experiment(self, hyper):
        """Build, train and evaluate one experiment with `hyper` (validated, as `ask` gives them):
        its checkpoint written after every epoch, its figures and its row in experiments.csv when done."""
        keras(self.runtime.verbose)
        seed_everything(self.settings["seed"])
        number, resume, self.resumed = self.session.next_number(), self.resumed, None
        file = checkpoint.File(self.session.output_dir, dict(self.identity, hyperparameters=hyper), number)
        state, arrays = (resume.state, resume.arrays) if resume else (checkpoint.State(), None)
        clock = records.timer(state.seconds)
        callbacks = [tensorboard(self.session.path(os.path.join("tensorboard", f"experiment-{number}")), state)] \
            if self.runtime.tensorboard else []
        trained = self.script.train(self, number, hyper, Progress(state, file, arrays, clock, callbacks))
        if not trained.status.startswith("stopped"):
            file.remove()
        if not state.history.get("loss"):
            print(f"Experiment {number} discarded: no epoch finished.")
            return None
        experiment = records.Experiment(number, dict(hyper), trained.model, state.history, clock(),
                                        count_parameters(trained.model), trained.status, trained.metrics,
                                        extra=trained.extra)
        experiment.figures = self.script.figures(self, experiment)
        self.session.add(experiment)
        return experiment

    def summary(self):
        """The table of the experiments so far, and the figures across them."""
        self.session.summary(self.script.summary_figures(self))

    def report(self, experiment):
        """The test-set report of an experiment (scripts that have a test set)."""
        return self.script.report(self, experiment)

    def save(self, experiment, path, ask=True):
        return self.session.save(experiment, path, lambda e: self.script.describe(self, e), ask)

    def unattended(self, save_path=None):
        """What --no-input does: one experiment, the summary, the test report where the script has one,
        and the model saved where `save_path` is given. Returns the experiment."""
        experiment = self.experiment(self.ask())
        if experiment is None:
            raise UserError("training stopped before the first epoch finished; nothing to keep")
        self.summary()
        if self.script.report:
            self.report(experiment)
        if save_path:
            self.save(experiment, save_path, ask=False)
        return experiment


def tensorboard(log_dir, state):
    """Keras's TensorBoard callback, per-epoch figures only, its epochs counted across the stages of an
    experiment (the classifier's stage 2 starts at epoch 0 again) from the checkpoint's `state`."""
    k = keras()
    if k.backend.backend() != "tensorflow":
        raise UserError("--tensorboard needs the TensorFlow backend (Keras writes TensorBoard's files with it)")

    class TensorBoard(k.callbacks.TensorBoard):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(len(state.history.get("loss", [])), logs)  # before the checkpointer adds this one
    return TensorBoard(log_dir, histogram_freq=0, write_graph=False, update_freq="epoch", profile_batch=0)
