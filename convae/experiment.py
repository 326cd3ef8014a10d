"""One experiment, one call: `train_and_evaluate(definition, config, inputs, runtime, folder)`.

A `Definition` (convae.definitions) says what a script's experiments are: their settings and
hyperparameters, the inputs they load, how one trains, and what it writes and describes. A `Config`
holds one experiment's values (the settings, the seed among them, and the hyperparameters), checked
as the flags are. The call builds, trains and evaluates one experiment from them into `folder` (its
checkpoint after every epoch, its own figures) and returns its record. The scripts' interactive
loops (runner.Run) and a sweep's trials (convae.sweep.objective) both call it; nothing in it asks
or parses.
"""
import dataclasses
import os
from typing import Callable, Optional

from convae import checkpoint, cli, records
from convae.backend import keras, seed_everything
from convae.errors import UserError
from convae.networks import count_parameters


@dataclasses.dataclass(frozen=True)
class Definition:
    """What a script's experiments are. Its functions take a `Setup` (or the inputs) and the record."""
    file: str                  # "autoencoder.py": the script, as a checkpoint and a sweep name it
    name: str                  # "autoencoder": the default output folder's prefix
    paths: list                # (flag, dest, help) of the data files, asked for where missing
    settings: list             # Params fixed for the whole run
    hyperparameters: list      # Params of each experiment (asked for unless given as flags)
    columns: list              # experiments.csv's (key, heading) pairs
    best_metric: str           # what "the best experiment" means...
    higher_is_better: bool     # ...and which way: the one place that says
    inputs: Callable           # inputs(paths, prompter, runtime) -> the loaded files (see Inputs below)
    train: Callable            # train(setup, number, hyper, bookkeeping) -> Trained
    figures: Callable          # figures(setup, experiment) -> paths of the experiment's own figures
    summary_figures: Callable  # summary_figures(session, show) -> paths (None for a figure with nothing to show)
    describe: Callable         # describe(inputs, experiment) -> the JSON beside a saved model
    report: Optional[Callable] = None  # report(inputs, experiment, folder, runtime): the test set, where there is one
    options: tuple = ()        # the script's own run options: (flag, metavar, help)

    @property
    def params(self):
        return self.settings + self.hyperparameters

    @property
    def direction(self):
        """Optuna's word for which way `best_metric` is better."""
        return "maximize" if self.higher_is_better else "minimize"

    def parse_args(self, argv, description=None):
        """The script's flags: its data paths, a flag per Param, and the run options."""
        parser = cli.make_parser(self.file, description, self.paths, self.params, self.options)
        return cli.parse_args(parser, argv)

    def given_paths(self, args):
        """The data paths among parsed flags, by their names (train_images, ...)."""
        return {dest: getattr(args, dest) for _, dest, _ in self.paths}

    def load(self, args, prompter, runtime):
        """The inputs the flags name, asked for where missing or unreadable."""
        return self.inputs(self.given_paths(args), prompter, runtime)

    def context(self, inputs, settings):
        """What the hyperparameters are checked against: the images' shape and count, the training images
        the split leaves (`n_train`), and the settings."""
        return dict(inputs.context(), n_train=len(inputs.indices(settings)[0]), **settings)


@dataclasses.dataclass(frozen=True)
class Config:
    """One experiment's values: the settings (the seed among them) and the hyperparameters, checked."""
    settings: dict
    hyperparameters: dict

    @property
    def seed(self):
        return self.settings["seed"]

    @classmethod
    def from_values(cls, definition, values, inputs):
        """Check `values` (name -> value, as the flags give them; missing ones take their defaults) as the
        flags are checked; a bad one is a UserError naming its flag."""
        settings = cli.resolve(definition.settings, values, None, inputs.context())
        hyper = cli.resolve(definition.hyperparameters, values, None, definition.context(inputs, settings))
        return cls(settings, hyper)


@dataclasses.dataclass(frozen=True)
class Setup:
    """What a definition's functions see of one experiment: the inputs, the settings, their split of the
    data (data.Split), how the run executes, and the folder it writes into."""
    inputs: object
    settings: dict
    data: object
    runtime: object
    folder: str

    def path(self, name):
        return os.path.join(self.folder, name)


@dataclasses.dataclass
class Trained:
    """What a definition's train() returns."""
    model: object
    status: str             # "complete", or "stopped ..." (Ctrl-C)
    metrics: dict = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)


def identity(definition, inputs, settings):
    """What a checkpoint must match to be resumed: the script, the data and the settings."""
    return {"script": definition.file, "data": inputs.checksums(), "settings": settings}


def resume_point(definition, config, inputs, folder, read=None):
    """The checkpoint in `folder` (checkpoint.Resumed), which must be this experiment's; `read`: the
    checkpoint's (record, arrays) where the caller has read it already."""
    path = checkpoint.path_in(folder)
    record, arrays = read or checkpoint.read(path)
    checkpoint.check_same_run(path, record, dict(identity(definition, inputs, config.settings),
                                                 hyperparameters=records.as_json(config.hyperparameters)))
    return checkpoint.Resumed(record["experiment"], checkpoint.State.from_record(record), arrays)


def train_and_evaluate(definition, config, inputs, runtime, folder, number=1, resume=None, callbacks=(), title=None):
    """Build, train and evaluate one experiment into `folder`: its checkpoint after every epoch (from
    `resume`, checkpoint.Resumed, where given), its figures when done (titled `title`, else "Experiment
    N"). `callbacks`: Keras callbacks of the caller's, at the end of every epoch of every stage (a sweep's
    pruner). Returns its record (records.Experiment), or None where it stopped before its first epoch
    ended."""
    keras(runtime.verbose)
    seed_everything(config.seed)
    os.makedirs(folder, exist_ok=True)
    setup = Setup(inputs, config.settings, inputs.split(config.settings), runtime, folder)
    hyper = config.hyperparameters
    file = checkpoint.File(folder, dict(identity(definition, inputs, config.settings), hyperparameters=hyper), number)
    state, arrays = (resume.state, resume.arrays) if resume else (checkpoint.State(), None)
    clock = records.timer(state.seconds)
    callbacks = ([tensorboard(os.path.join(folder, "tensorboard", f"experiment-{number}"), state)]
                 if runtime.tensorboard else []) + list(callbacks)
    trained = definition.train(setup, number, hyper, checkpoint.Bookkeeping(state, file, arrays, clock, callbacks))
    if not trained.status.startswith("stopped"):
        file.remove()
    if not state.history.get("loss"):
        print(f"Experiment {number} discarded: no epoch finished.")
        return None
    experiment = records.Experiment(number, dict(hyper), trained.model, state.history, clock(),
                                    count_parameters(trained.model), trained.status, trained.metrics,
                                    extra=trained.extra, settings=dict(config.settings))
    experiment.title = title or f"Experiment {number}"
    experiment.figures = definition.figures(setup, experiment)
    return experiment


def unattended(definition, config, inputs, runtime, session, save=None, resume=None, callbacks=(), title=None):
    """What --no-input does, and a sweep's trial: one experiment in the session's folder, the summary, the
    test report where the definition has one, and the model saved where `save` is given."""
    experiment = train_and_evaluate(definition, config, inputs, runtime, session.output_dir, session.next_number(),
                                    resume, callbacks, title)
    if experiment is None:
        raise UserError("training stopped before the first epoch finished; nothing to keep")
    session.add(experiment)
    session.summary(definition.summary_figures(session, runtime.show))
    if definition.report:
        definition.report(inputs, experiment, session.output_dir, runtime)
    if save:
        session.save(experiment, save, lambda e: definition.describe(inputs, e), ask=False)
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
