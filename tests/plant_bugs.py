"""Plant realistic bugs, one at a time, in a copy of the project, and check that the tests catch each.

usage: python tests/plant_bugs.py [--only NAME ...] [--full]     (by hand, not in CI: 20-40 minutes)

For every bug below: copy the tracked files into a temporary folder, make one edit (the text it
replaces must occur exactly once), run the tests that should catch it (with --full: the whole
suite), and report "caught" when pytest fails and "SURVIVED" when it passes. A survivor means a
test is missing: strengthen the tests, not this list. Exit status 1 when any bug survived.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (file, text, replacement, the test files that should catch it)
BUGS = {
    "labels shifted by one image": (
        "classification.py", "(pixels[train_idx], labels[train_idx])", "(pixels[train_idx], np.roll(labels, 1)[train_idx])",
        ["tests/test_learning.py"]),
    "stage 2 compiled with stage 1's learning rate": (
        "convae/classifier.py", 'run_stage(2, hyper["fine_tune_epochs"], hyper["fine_tune_learning_rate"])',
        'run_stage(2, hyper["fine_tune_epochs"], hyper["learning_rate"])', ["tests/test_learning.py"]),
    "BatchNormalization momentum ignored (a fixed factor of 0.1)": (
        "convae/layers.py", "share = (1.0 - self.momentum) / (1.0 - ops.power(self.momentum, updates))", "share = 0.1",
        ["tests/test_layers.py"]),
    "BatchNormalization without the bias correction (Keras's own lag)": (
        "convae/layers.py", "share = (1.0 - self.momentum) / (1.0 - ops.power(self.momentum, updates))",
        "share = 1.0 - self.momentum", ["tests/test_layers.py", "tests/test_autoencoder.py"]),
    "--save checked only after training": (
        "autoencoder.py", "        check_save_path(args.save)  # before hours of training, not after", "        pass",
        ["tests/test_bad_input.py"]),
    "the script's split not stratified": (
        "classification.py", 'settings["seed"], labels)', 'settings["seed"])', ["tests/test_learning.py"]),
    "BatchNormalization trainable in stage 2": (
        "convae/classifier.py", 'layer.trainable = batch_norm == "trained"', "layer.trainable = True",
        ["tests/test_classification.py"]),
    "the magic number not checked": (
        "convae/idx.py", "    if found != magic:", "    if found not in (IMAGES_MAGIC, LABELS_MAGIC):",
        ["tests/test_idx.py", "tests/test_bad_input.py"]),
    "validation images also trained on": (
        "convae/data.py", "return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))",
        "return np.arange(len(labels)), np.sort(np.concatenate(val))", ["tests/test_data.py"]),
    "the encoder's features not standardised": (
        "classification.py", "features=classifier.feature_statistics(encoder, train[0]))", "features=None)",
        ["tests/test_learning.py"]),
    "Ctrl-C ignored during training": (
        "convae/training.py", "            if self.requested:\n                raise KeyboardInterrupt",
        "            if self.requested:\n                pass", ["tests/test_terminal.py"]),
    "a checkpoint restored without the optimizer's state": (
        "convae/checkpoint.py", "    variables = list(model.variables) + list(optimizer.variables)\n",
        "    variables = list(model.variables) + list(optimizer.variables)\n"
        "    arrays = arrays[:len(model.variables)] + [v.numpy() for v in optimizer.variables]\n",
        ["tests/test_resume.py"]),
    "every epoch in the same order": (
        "convae/training.py", "return np.random.default_rng([seed, epoch]).permutation(count)",
        "return np.random.default_rng(seed).permutation(count)", ["tests/test_data.py"]),
    "early stopping on by default": (
        "classification.py", 'Param("patience", integer(0, 10000), 0,', 'Param("patience", integer(0, 10000), 5,',
        ["tests/test_learning.py", "tests/test_prompts.py"]),
    "augmentation in inference too": (
        "convae/layers.py", "        if not training:\n            return inputs",
        "        if False:\n            return inputs", ["tests/test_layers.py"]),
    "the classifier's encoder not given the autoencoder's weights": (
        "convae/classifier.py", "    copy_weights(encoder, copy)\n", "",
        ["tests/test_classification.py", "tests/test_learning.py"]),
    "saved files hold the project's own layers": (
        "convae/records.py", "standard_layers(model).save(tmp)", "model.save(tmp)", ["tests/test_layers.py"]),
}


def copy_project(target):
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        os.makedirs(os.path.join(target, os.path.dirname(name)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, name), os.path.join(target, name))


def plant(target, file, text, replacement):
    path = os.path.join(target, file)
    with open(path) as f:
        source = f.read()
    if source.count(text) != 1:
        raise SystemExit(f"error: {file}: the text to replace occurs {source.count(text)} times, expected once: {text!r}")
    with open(path, "w") as f:
        f.write(source.replace(text, replacement))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only the bugs whose names contain these words")
    parser.add_argument("--full", action="store_true", help="run the whole suite for each bug")
    args = parser.parse_args()
    bugs = {name: bug for name, bug in BUGS.items() if not args.only or any(w in name for w in args.only)}
    survived = []
    for name, (file, text, replacement, tests) in bugs.items():
        with tempfile.TemporaryDirectory() as folder:
            target = os.path.join(folder, "project")
            copy_project(target)
            plant(target, file, text, replacement)
            # the copy sits beside no ../shared: give it the same neighbour the project has
            if os.path.isdir(os.path.join(REPO, "..", "shared")):
                os.symlink(os.path.abspath(os.path.join(REPO, "..", "shared")), os.path.join(folder, "shared"))
            start = time.perf_counter()
            command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"] + ([] if args.full else tests)
            result = subprocess.run(command, cwd=target, capture_output=True, text=True)
            verdict = "caught" if result.returncode != 0 else "SURVIVED"
            failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
            print(f"{verdict:8s} {name} ({time.perf_counter() - start:.0f} s)"
                  + (f": {failed[0][7:][:110]}" if failed else ""), flush=True)
            if result.returncode == 0:
                survived.append(name)
    print(f"\n{len(bugs) - len(survived)} of {len(bugs)} planted bugs caught" +
          (f"; survived: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
