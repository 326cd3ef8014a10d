"""What both scripts do between experiments: the list of experiments, its table, the menu, saving."""
import os

from convae import records
from convae.errors import UserError


class Session:
    """The experiments of one run of a script, kept in memory and in experiments.csv.

    A folder that already holds experiments (an earlier run's, or those before the one a --resume
    continues) keeps them: their rows stay in experiments.csv and the new experiments are numbered
    after them, so no file of theirs is written again.
    """

    def __init__(self, output_dir, definition, prompter=None, resumed=None):
        """The experiments of `definition` (experiment.Definition) in `output_dir`; a `prompter` for the
        menu, where there is one; `resumed`: the number of the experiment a checkpoint continues."""
        self.prompter = prompter
        self.output_dir = output_dir
        self.columns = definition.columns
        self.params = definition.hyperparameters
        self.best_metric = definition.best_metric
        self.higher_is_better = definition.higher_is_better
        self.experiments = []
        columns, params = self.columns, self.params
        csv_path = self.path("experiments.csv")
        records.check_columns(csv_path, columns)
        if resumed:  # the experiment a checkpoint continues, after those that finished before the kill
            self.first_number = resumed
            self.earlier = records.read_rows(csv_path, params, below=resumed)
        else:
            self.earlier = records.read_rows(csv_path, params)
            self.first_number = records.last_experiment(output_dir) + 1
            if self.first_number > 1:
                print(f"{output_dir} holds experiments 1 to {self.first_number - 1} of an earlier run: they are kept, "
                      f"and this run's are numbered from {self.first_number}.")

    def next_number(self):
        return self.first_number + len(self.experiments)

    def add(self, experiment):
        """Keep a finished experiment: a row in experiments.csv, and its figures (already written)."""
        self.experiments.append(experiment)
        self.write_csv()
        wrote(experiment.figures)

    def choose(self, menu):
        """Offer `menu` (a list of (name, description), "repeat" first) and return the chosen name.

        Everything but "repeat" and "exit" needs a finished experiment.
        """
        options = {str(i): description for i, (_, description) in enumerate(menu, 1)}
        names = {str(i): name for i, (name, _) in enumerate(menu, 1)}
        while True:
            print()
            name = names[self.prompter.choose("Choose", options)]
            if name in ("repeat", "exit") or self.experiments:
                return name
            print("No experiment finished yet: choose 1 to train one.")

    def summary(self, figures):
        """Print the table of experiments; name the figures across them (`figures`: their paths, None
        for one with nothing to show) and write experiments.csv."""
        print("\n" + self.table())
        written = [path for path in figures if path]
        if not written:
            print("  nothing to compare yet: " + ("one experiment so far" if len(self.experiments) == 1 else
                                                   "the experiments share all their hyperparameters"))
        wrote(written + [self.write_csv()])

    def save(self, experiment, path, describe, ask=True):
        """Save an experiment's model at `path` (asking for the path and before overwriting when `ask`).

        Returns the path, or None when nothing was saved (the reason is printed).
        """
        if path == os.path.join("models", os.path.basename(path)):
            os.makedirs("models", exist_ok=True)  # the default place, made when first needed
        if ask:
            path = self.prompter.ask("Save to", _model_path, path)
            if os.path.exists(path) and not self.prompter.confirm(f"{path} exists. Overwrite it?"):
                print("Not saved.")
                return None
        try:
            records.save_model(experiment.model, path, describe(experiment))
        except (UserError, KeyboardInterrupt) as e:
            if not ask:
                raise  # unattended: the run ends with the error
            # back to the menu, with every experiment kept and any earlier file at `path` untouched
            print(f"error: {e}" if isinstance(e, UserError) else f"\nSave interrupted: {path} was not written.")
            return None
        experiment.saved_to = path
        self.write_csv()
        print(f"Saved experiment {experiment.number} to {path} (description: {records.description_path(path)})")
        return path

    def rows(self):
        return self.earlier + [dict(experiment=e.number, **e.hyper, parameters=e.parameters, **e.metrics,
                                    minutes=e.seconds / 60, status=e.status, saved=e.saved_to)
                               for e in self.experiments]

    def write_csv(self):
        return records.write_csv(self.path("experiments.csv"), self.rows(), self.columns)

    def table(self):
        """The experiments as a text table that fits a terminal: the flag-only hyperparameters appear
        where they differ between experiments (experiments.csv holds every column)."""
        rows = self.rows()
        constant = {p.name for p in self.params if not p.prompt and len({str(row.get(p.name)) for row in rows}) == 1}
        return records.format_table(rows, [c for c in self.columns if c[0] not in constant | _DETAIL])

    def path(self, name):
        return os.path.join(self.output_dir, name)

    def best(self):
        scored = [e for e in self.experiments if e.metrics.get(self.best_metric) is not None]
        if not scored:
            return None
        pick = max if self.higher_is_better else min
        return pick(scored, key=lambda e: e.metrics[self.best_metric])

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


_DETAIL = {"val_precision", "val_recall"}  # in experiments.csv; the table keeps the F1 that sums them up


def wrote(paths):
    for path in paths:
        print(f"  wrote {path}")


def _model_path(text):
    path = os.path.expanduser(text)
    try:
        records.check_save_path(path)
    except UserError as e:
        raise ValueError(str(e)) from None
    return path
