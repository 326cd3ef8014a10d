"""Train convolutional autoencoders on MNIST-format images and save the one you like (part A).

usage: python autoencoder.py -d datasets/sample/train-images-idx3-ubyte.gz
       python autoencoder.py -d IMAGES --no-input --epochs 5 --save models/autoencoder.h5
"""
import os
import sys

from convae import cli, runner
from convae.definitions.autoencoder import DEFINITION
from convae.runtime import Runtime

MENU = [("repeat", "repeat with other hyperparameters"), ("plots", "plots and table of the experiments so far"),
        ("save", "save a model"), ("exit", "exit")]


def main(argv=None):
    args = DEFINITION.parse_args(sys.argv[1:] if argv is None else argv, __doc__)
    runtime = Runtime.from_flags(args)
    run = runner.start(DEFINITION, args, runtime)
    if args.no_input:
        run.unattended(args.save)
        return 0
    save_path = args.save or os.path.join("models", "autoencoder.h5")
    while True:
        run.experiment(run.ask())
        while (choice := run.session.choose(MENU)) != "repeat":
            if choice == "plots":
                run.summary()
            elif choice == "save":
                run.save(run.session.pick("Experiment to save", run.session.experiments[-1]), save_path)
            elif choice == "exit" and run.session.confirm_exit():
                return 0


if __name__ == "__main__":
    cli.run(main)
