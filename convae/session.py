"""The experiment loop's shared parts: the list of experiments, its table, choosing and saving."""
import os

from convae import records
from convae.errors import UserError


class Session:
    """The experiments of one run of a script, kept in memory and in experiments.csv."""

    def __init__(self, prompter, output_dir, columns, best_metric, higher_is_better):
        self.prompter = prompter
        self.output_dir = output_dir
        self.columns = columns
        self.best_metric = best_metric
        self.higher_is_better = higher_is_better
        self.experiments = []

    def run(self, next_hyper, train, figures, actions, unattended=None):
        """Train experiment after experiment, each followed by its figures and the menu.

        `next_hyper(previous)` gives the hyperparameters (previous is None for the first);
        `train(number, hyper)` returns an Experiment or None; with `unattended`, one experiment
        is trained and `unattended()` finishes the run instead of the menu.
        """
        previous = None
        while True:
            previous = next_hyper(previous)
            experiment = train(len(self.experiments) + 1, previous)
            if experiment is not None:
                self.add(experiment)
                wrote(figures(experiment))
            if unattended is not None:
                if not self.experiments:
                    raise UserError("training stopped before the first epoch finished; nothing to keep")
                return unattended()
            if self.menu(actions) == "exit":
                return 0

    def menu(self, actions):
        """Offer `actions` (key -> (description, function)) until one returns "repeat" or "exit".

        The first action is "repeat" and the last "exit"; the others need a finished experiment.
        """
        keys = list(actions)
        while True:
            print()
            key = self.prompter.choose("Choose", {k: description for k, (description, _) in actions.items()})
            if key not in (keys[0], keys[-1]) and not self.experiments:
                print(f"No experiment finished yet: choose {keys[0]} to train one.")
                continue
            try:
                outcome = actions[key][1]()
            except UserError as e:
                print(f"error: {e}")
                continue
            if outcome in ("repeat", "exit"):
                return outcome

    def summary(self, figures):
        """Print the table of experiments; write the summary figures and experiments.csv."""
        print("\n" + self.table())
        written = [path for path in figures() if path]
        if not written:
            print("  nothing to compare yet: " + ("one experiment so far" if len(self.experiments) == 1 else
                                                   "the experiments share all their hyperparameters"))
        wrote(written)
        wrote([self.write_csv()])

    def exit(self):
        return "exit" if self.confirm_exit() else None

    def add(self, experiment):
        self.experiments.append(experiment)
        self.write_csv()

    def rows(self):
        return [dict(experiment=e.number, **e.hyper, parameters=e.parameters, **e.metrics,
                     minutes=e.seconds / 60, status=e.status, saved=e.saved_to) for e in self.experiments]

    def write_csv(self):
        return records.write_csv(self.path("experiments.csv"), self.rows(), self.columns)

    def table(self):
        return records.format_table(self.rows(), self.columns)

    def path(self, name):
        return os.path.join(self.output_dir, name)

    def best(self):
        scored = [e for e in self.experiments if e.metrics.get(self.best_metric) is not None]
        if not scored:
            return None
        key = lambda e: e.metrics[self.best_metric]  # noqa: E731
        return max(scored, key=key) if self.higher_is_better else min(scored, key=key)

    def pick(self, label, default):
        """Ask which experiment (by number) to use; Enter takes `default`."""
        if len(self.experiments) == 1:
            return self.experiments[0]
        numbers = {str(e.number): e for e in self.experiments}

        def parse(text):
            if text not in numbers:
                raise ValueError(f"expected an experiment number ({', '.join(numbers)}), got {text!r}")
            return text
        return numbers[self.prompter.ask(label, parse, str(default.number))]

    def save(self, experiment, path, describe, ask=True):
        """Save an experiment's model at `path` (asking for the path and before overwriting when `ask`)."""
        if path == os.path.join("models", os.path.basename(path)):
            os.makedirs("models", exist_ok=True)  # the default place, made when first needed
        if ask:
            path = self.prompter.ask("Save to", _h5_path, path)
            if os.path.exists(path) and not self.prompter.confirm(f"{path} exists. Overwrite it?"):
                print("Not saved.")
                return None
        records.save_model(experiment.model, path, describe(experiment))
        experiment.saved_to = path
        self.write_csv()
        print(f"Saved experiment {experiment.number} to {path} (description: {records.description_path(path)})")
        return path

    def unsaved(self):
        """Experiments worth warning about at exit: the last and the best, where not saved."""
        last, best = (self.experiments[-1] if self.experiments else None), self.best()
        found = []
        for what, e in (("the last", last), ("the best", best)):
            if e is not None and not e.saved_to and e not in [x for _, x in found]:
                found.append((what, e))
        return found

    def confirm_exit(self):
        unsaved = self.unsaved()
        if not unsaved:
            return True
        names = " and ".join(f"experiment {e.number} ({what})" for what, e in unsaved)
        return self.prompter.confirm(f"{names[0].upper()}{names[1:]} not saved. Exit anyway?")


def wrote(paths):
    for path in paths:
        print(f"  wrote {path}")


def _h5_path(text):
    path = os.path.expanduser(text)
    if not path.endswith(".h5"):
        raise ValueError(f"expected a file name ending in .h5, got {text!r}")
    try:
        records.check_save_path(path)
    except UserError as e:
        raise ValueError(str(e)) from None
    return path
