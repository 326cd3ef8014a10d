"""Classify MNIST-format digits with the encoder of a saved autoencoder (part B).

usage: python classification.py -d TRAIN_IMAGES -dl TRAIN_LABELS -t TEST_IMAGES -tl TEST_LABELS -model AUTOENCODER.h5
"""
import os
import sys

import convae  # noqa: F401  first: where the requirements are missing, it says so in one line

from convae import cli, runner
from convae.definitions.classification import DEFINITION
from convae.runtime import Runtime

MENU = [("repeat", "repeat with other hyperparameters"), ("plots", "plots and tables of the experiments so far"),
        ("classify", "classify the test set"), ("save", "save a classifier"), ("exit", "exit")]


def main(argv=None):
    args = DEFINITION.parse_args(sys.argv[1:] if argv is None else argv, __doc__)
    save_path = args.save or os.path.join("models", "classifier.h5")
    runtime = Runtime.from_flags(args)
    run = runner.start(DEFINITION, args, runtime)
    if args.no_input:
        run.unattended(args.save)
        return 0
    while True:
        run.experiment(run.ask())
        while (choice := run.session.choose(MENU)) != "repeat":
            best = run.session.best() or run.session.experiments[-1]  # the default: best validation accuracy
            if choice == "classify":
                print("\n" + run.session.table())
                run.report(run.session.pick("Experiment whose model classifies the test set (default: best "
                                            "validation accuracy)", best))
            elif choice == "plots":
                run.summary()
            elif choice == "save":
                run.save(run.session.pick("Experiment to save", best), save_path)
            elif choice == "exit" and run.session.confirm_exit():
                return 0


if __name__ == "__main__":
    cli.run(main)
