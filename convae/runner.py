"""One interactive run of a script: its settings, its folder and its experiments, asked for one by one.

`Run` resolves once what holds for every experiment of a run (the settings, the output folder, the
checkpoint --resume continues) and asks for each experiment's hyperparameters; each experiment is
then experiment.train_and_evaluate, the one call a sweep's trials make too.
"""
from convae import checkpoint, cli, experiment, records
from convae.experiment import Config
from convae.prompts import Prompter
from convae.session import Session


def start(definition, args, runtime):
    """What both scripts do before their first experiment: check --save's path (before the files, the
    backend and hours of training), load the inputs (asked for where missing), then make the Run."""
    cli.check_save_flag(args)
    prompter = Prompter(enabled=not args.no_input)
    run = Run(definition, definition.load(args, prompter, runtime), args, prompter, runtime)
    print(f"Outputs go to {run.session.output_dir}")
    return run


class Run:
    """One run of a script on its loaded inputs, driven by its flags and a Prompter."""

    def __init__(self, definition, inputs, args, prompter, runtime):
        self.definition, self.inputs, self.args = definition, inputs, args
        self.prompter, self.runtime = prompter, runtime
        self.settings = cli.resolve(definition.settings, vars(args), prompter, inputs.context())
        self.context = definition.context(inputs, self.settings)
        self.hyper = self.resumed = None
        if args.resume:  # the checkpoint's hyperparameters (nothing asked); flags given must agree with them
            read = checkpoint.read(checkpoint.path_in(args.output_dir))
            self.hyper = cli.resolve(definition.hyperparameters, vars(args), None, self.context,
                                     previous=read[0].get("hyperparameters"))
            self.resumed = experiment.resume_point(definition, Config(self.settings, self.hyper), inputs,
                                                   args.output_dir, read)
        self.session = Session(records.make_output_dir(args.output_dir, definition.name), definition, prompter,
                               resumed=self.resumed.experiment if self.resumed else None)

    def ask(self):
        """The next experiment's hyperparameters: the checkpoint's when resuming, else the flags, then
        the answers (the previous experiment's offered as defaults)."""
        if not self.resumed:
            self.hyper = cli.resolve(self.definition.hyperparameters, vars(self.args), self.prompter, self.context,
                                     previous=self.hyper)
        return self.hyper

    def experiment(self, hyper):
        """One experiment with `hyper` (validated, as `ask` gives them), kept in the session when done."""
        resume, self.resumed = self.resumed, None
        done = experiment.train_and_evaluate(self.definition, Config(self.settings, hyper), self.inputs, self.runtime,
                                             self.session.output_dir, self.session.next_number(), resume)
        if done is not None:
            self.session.add(done)
        return done

    def summary(self):
        """The table of the experiments so far, and the figures across them."""
        self.session.summary(self.definition.summary_figures(self.session, self.runtime.show))

    def report(self, done):
        """The test-set report of an experiment (scripts that have a test set)."""
        return self.definition.report(self.inputs, done, self.session.output_dir, self.runtime)

    def save(self, done, path, ask=True):
        return self.session.save(done, path, lambda e: self.definition.describe(self.inputs, e), ask)

    def unattended(self, save_path=None):
        """What --no-input does (experiment.unattended): returns the experiment."""
        config = Config(self.settings, self.ask())
        resume, self.resumed = self.resumed, None
        return experiment.unattended(self.definition, config, self.inputs, self.runtime, self.session, save_path,
                                     resume)
