"""A catalogue of bad inputs and faults, each given to the real scripts.

Every case must end in one line that says what is wrong (and what would be accepted), the
right exit status, no traceback, and nothing lost.
"""
import gzip
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import (REPO, TEST_LABELS, TINY_AE, TINY_CL, TRAIN_IMAGES, TRAIN_LABELS, assert_clean_error,
                      classification_args, env_with, run, script_env)
from convae.idx import write_idx


@pytest.fixture(scope="module")
def bad(tmp_path_factory, tiny_autoencoder):
    """A folder of bad files, one per kind."""
    d = tmp_path_factory.mktemp("bad")
    good = gzip.decompress(open(TRAIN_IMAGES, "rb").read())[:16 + 5 * 784]
    good = good[:4] + (5).to_bytes(4, "big") + good[8:]
    files = {
        "empty.gz": b"", "header.idx": good[:10], "payload.idx": good[:-100], "trailing.idx": good + b"\0" * 7,
        "corrupt.gz": gzip.compress(good)[:-30] + b"x" * 30, "picture.png": b"\x89PNG\r\n\x1a\n" + bytes(100),
        "notes.txt": b"these are not the images you are looking for\n", "model.h5": b"not hdf5 at all\n",
    }
    for name, content in files.items():
        (d / name).write_bytes(content)
    os.mkdir(d / "folder")
    os.mkdir(d / "killed")
    (d / "killed" / "checkpoint.npz").write_bytes(b"what a killed run left")
    os.mkdir(d / "other")
    (d / "other" / "experiments.csv").write_text("experiment,fc_units,epochs\n1,16,1\n")
    write_idx(d / "labels-300.gz", np.zeros(300, np.uint8))
    write_idx(d / "labels-11.gz", np.r_[np.zeros(999, np.uint8), [11]].astype(np.uint8))
    write_idx(d / "small-images.gz", np.zeros((1000, 20, 20), np.uint8))
    write_idx(d / "tiny-images.gz", np.zeros((400, 3, 3), np.uint8))
    blob = open(tiny_autoencoder, "rb").read()
    (d / "truncated.h5").write_bytes(blob[:len(blob) // 2])
    from convae.encoder import load_autoencoder
    load_autoencoder(tiny_autoencoder).save(d / "whole.keras")
    blob = (d / "whole.keras").read_bytes()
    (d / "truncated.keras").write_bytes(blob[:len(blob) // 2])
    import zipfile
    with zipfile.ZipFile(d / "other.keras", "w") as archive:
        archive.writestr("notes.txt", "not a model")
    from convae.backend import keras
    from convae.networks import build_autoencoder
    from convae.records import save_model
    k = keras()
    clf = k.Sequential([k.Input((28, 28, 1)), k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    clf.save(d / "classifier.h5")
    save_model(build_autoencoder((32, 32), 2, [3, 3], [2, 2], 0.0), str(d / "ae32.h5"), {})
    return d


# (name, extra args: list or function of the bad folder, words the error line must hold)
AUTOENCODER_CASES = [
    ("missing file", lambda d: ["-d", str(d / "nothing.gz")], ["nothing.gz: no such file"]),
    ("directory", lambda d: ["-d", str(d / "folder")], ["folder: is a directory"]),
    ("empty file", lambda d: ["-d", str(d / "empty.gz")], ["empty.gz: empty file, expected an idx images file"]),
    ("truncated header", lambda d: ["-d", str(d / "header.idx")], ["header.idx: truncated header"]),
    ("truncated payload", lambda d: ["-d", str(d / "payload.idx")], ["payload.idx: truncated data", "found 3820"]),
    ("trailing bytes", lambda d: ["-d", str(d / "trailing.idx")], ["trailing.idx: 7 trailing bytes"]),
    ("corrupt gzip", lambda d: ["-d", str(d / "corrupt.gz")], ["corrupt.gz: corrupt gzip stream"]),
    ("a PNG", lambda d: ["-d", str(d / "picture.png")], ["picture.png: is a PNG image"]),
    ("a text file", lambda d: ["-d", str(d / "notes.txt")], ["notes.txt: is a text file"]),
    ("labels as images", lambda d: ["-d", TRAIN_LABELS], ["holds labels (magic 2049), expected an idx images"]),
    ("images too small to pool", lambda d: ["-d", str(d / "tiny-images.gz"), "--layers", "2"],
     ["--pooling:", "pooling after layers 1,2 halves the image 2 times", "at least 4x4; these are 3x3"]),
    ("kernel larger than the images", lambda d: ["-d", str(d / "tiny-images.gz"), "--layers", "1", "--kernel", "5"],
     ["--kernel: kernel size 5 is larger than the 3x3 images"]),
    ("filters of the wrong length", ["--layers", "3", "--filters", "8,16"],
     ["--filters: expected one filter count per layer (3 values) or a single value, got 2"]),
    ("pooling after a layer that does not exist", ["--layers", "2", "--pooling", "1,3"],
     ["--pooling: expected layer numbers from 1 to 2 (the encoder has 2 layers), got 3"]),
    ("pooling layers out of order", ["--layers", "3", "--filters", "4", "--pooling", "2,1"],
     ["--pooling: expected distinct layer numbers in increasing order, got 2,1"]),
    ("too much pooling for the images",
     lambda d: ["-d", str(d / "tiny-images.gz"), "--layers", "3", "--filters", "4", "--pooling", "1,3"],
     ["--pooling: pooling after layers 1,3 halves the image 2 times", "at least 4x4; these are 3x3"]),
    ("batch larger than the data", ["--limit", "100", "--batch-size", "500"],
     ["--batch-size: expected at most 80, the number of training images after the validation split"]),
    ("limit larger than the data", ["--limit", "9000"], ["--limit: expected at most 4000 (the images in the file)"]),
    ("save into a missing folder", lambda d: ["--save", str(d / "no" / "ae.h5")], ["does not exist"]),
    ("save under a file", lambda d: ["--save", str(d / "notes.txt" / "ae.h5")], ["does not exist"]),
    ("save to a name without .h5 or .keras", lambda d: ["--save", str(d / "ae.hdf")],
     ["expected a file name ending in .h5 (Keras HDF5) or .keras"]),
    ("output folder that cannot be made", lambda d: ["--output-dir", str(d / "notes.txt" / "out")],
     ["cannot create the output directory"]),
    ("output folder of a killed run, without --resume", lambda d: ["--output-dir", str(d / "killed")],
     ["holds the checkpoint of an experiment that a killed run left: continue it with --resume"]),
    ("output folder of the other script", lambda d: ["--output-dir", str(d / "other")],
     ["experiments.csv: the experiments of another program", "choose another --output-dir"]),
]
USAGE_CASES = [  # rejected by the flag parser: status 2
    ("a word for a number", ["--epochs", "ten"],
     ["argument --epochs: expected an integer from 1 to 10000, got 'ten'"]),
    ("zero epochs", ["--epochs", "0"], ["argument --epochs: expected an integer from 1 to 10000, got 0"]),
    ("a negative batch", ["--batch-size", "-5"],
     ["argument --batch-size: expected an integer from 1 to 65536, got -5"]),
    ("a float for layers", ["--layers", "2.5"], ["argument --layers: expected an integer from 1 to 6, got '2.5'"]),
    ("too many layers", ["--layers", "9"], ["expected an integer from 1 to 6, got 9"]),
    ("dropout of 1", ["--dropout", "1"], ["argument --dropout: expected a number from 0 to 1 (not 1 itself), got 1"]),
    ("validation share too large", ["--val-split", "0.95"],
     ["argument --val-split: expected a number from 0.01 to 0.9"]),
    ("an unknown flag", ["--epoch", "3"], ["unrecognized arguments: --epoch 3"]),
]


@pytest.mark.parametrize("name, extra, words", AUTOENCODER_CASES, ids=[c[0] for c in AUTOENCODER_CASES])
def test_autoencoder_refuses(bad, tmp_path, name, extra, words):
    extra = extra(bad) if callable(extra) else extra
    args = (["-d", TRAIN_IMAGES] if "-d" not in extra else []) + ["--no-input", *TINY_AE, *extra]
    result = run("autoencoder.py", args, cwd=tmp_path)
    assert_clean_error(result, *words)
    assert_refused_before_training(result, tmp_path)
    assert not os.path.exists(tmp_path / "models")


def assert_refused_before_training(result, folder):
    """No epoch began and no experiment was recorded: the check came before any training."""
    assert "Epoch" not in result.stdout and "Experiment 1" not in result.stdout, result.stdout
    assert not list(folder.rglob("experiments.csv"))


@pytest.mark.parametrize("name, extra, words", USAGE_CASES, ids=[c[0] for c in USAGE_CASES])
def test_flag_values_are_usage_errors(tmp_path, name, extra, words):
    result = run("autoencoder.py", ["-d", TRAIN_IMAGES, "--no-input", *extra], cwd=tmp_path)
    assert_clean_error(result, *words, status=2)


CLASSIFICATION_CASES = [
    ("labels of another count", {"dl": "labels-300.gz"}, ["labels-300.gz: 300 labels for the 4000 images"]),
    ("images given as labels", {"dl": TRAIN_IMAGES}, ["holds images (magic 2051), expected an idx labels file"]),
    ("labels given as images", {"t": TEST_LABELS}, ["holds labels (magic 2049), expected an idx images file"]),
    ("a label outside the classes", {"tl": "labels-11.gz"},
     ["label 11 at index 999 is outside the 10 classes of the training labels (0 to 9)"]),
    ("test images of another size", {"t": "small-images.gz"},
     ["small-images.gz: images of 20x20, but the training images are 28x28"]),
    ("weights-only model", {"model": "@weights_only"}, ["holds weights only"]),
    ("a classifier as model", {"model": "classifier.h5"}, ["not an autoencoder: it maps 28x28x1 inputs to 10 outputs"]),
    ("a text file named .h5", {"model": "model.h5"}, ["model.h5: neither an HDF5 (.h5) nor a Keras (.keras) file"]),
    ("a truncated .keras", {"model": "truncated.keras"}, ["truncated.keras: damaged or truncated .keras file"]),
    ("a zip that is not a model", {"model": "other.keras"}, ["other.keras: a zip archive without config.json"]),
    ("a truncated .h5", {"model": "truncated.h5"}, ["truncated.h5: damaged or truncated HDF5 file"]),
    ("an autoencoder for 32x32 images", {"model": "ae32.h5"},
     ["ae32.h5: the encoder takes 32x32x1 images, but the data holds 28x28x1 images"]),
    ("a folder as model", {"model": "folder"}, ["folder: is a directory, expected a model file (.h5 or .keras)"]),
    ("a missing model", {"model": "nothing.h5"}, ["nothing.h5: no such file"]),
]


@pytest.mark.parametrize("name, paths, words", CLASSIFICATION_CASES, ids=[c[0] for c in CLASSIFICATION_CASES])
def test_classification_refuses(bad, tiny_autoencoder, tmp_path, name, paths, words):
    from conftest import FIXTURES
    resolved = {}
    for key, value in paths.items():
        if value == "@weights_only":
            value = os.path.join(FIXTURES, "weights_only.h5")
            if not os.path.exists(value):  # without the fixtures, make a weights-only file here
                from convae.networks import build_autoencoder
                value = str(tmp_path / "weights.weights.h5")
                build_autoencoder((28, 28), 1, [3], [2], 0.0).save_weights(value)
                shutil.move(value, tmp_path / "weights_only.h5")
                value = str(tmp_path / "weights_only.h5")
        resolved[key] = value if os.path.isabs(value) else str(bad / value)
    result = run("classification.py", classification_args(tiny_autoencoder, **resolved) + ["--no-input", *TINY_CL],
                 cwd=tmp_path)
    assert_clean_error(result, *words)
    assert_refused_before_training(result, tmp_path)


@pytest.mark.parametrize("extra, words", [
    (["--save", "no/such/folder/clf.h5"], ["does not exist"]),
    (["--save", "clf.json"], ["expected a file name ending in .h5"]),
])  # (--batch-size: test_the_batch_size_is_checked_against_the_split_that_training_uses)
def test_classification_refuses_settings_before_training(tiny_autoencoder, tmp_path, extra, words):
    result = run("classification.py", classification_args(tiny_autoencoder) + ["--no-input", *TINY_CL, *extra],
                 cwd=tmp_path)
    assert_clean_error(result, *words)
    assert_refused_before_training(result, tmp_path)


def test_the_batch_size_is_checked_against_the_split_that_training_uses(tiny_autoencoder, tmp_path):
    """The classifier's split is stratified, so --limit 1000 leaves fewer than the 900 training images
    that an unstratified 10% would: a batch larger than those that are left is refused before training."""
    from convae.data import split_indices
    from convae.idx import read_idx_labels
    train, _ = split_indices(1000, 0.1, 1, read_idx_labels(TRAIN_LABELS)[:1000])
    assert len(train) < 900  # else this test would not tell the two counts apart
    result = run("classification.py", classification_args(tiny_autoencoder) +
                 ["--no-input", *TINY_CL, "--limit", "1000", "--batch-size", str(len(train) + 1)], cwd=tmp_path)
    assert_clean_error(result, f"--batch-size: expected at most {len(train)}, the number of training images")
    assert_refused_before_training(result, tmp_path)


DISK_FULL_FOR_MODELS = """
import h5py
_File = h5py.File
class File(_File):
    def __init__(self, name, mode="r", *args, **kwargs):
        if mode in ("w", "w-", "x") and str(name).endswith(".h5"):
            raise OSError(28, "No space left on device")
        super().__init__(name, mode, *args, **kwargs)
h5py.File = File
"""


def test_a_failed_interactive_save_keeps_the_experiments_and_the_earlier_file(bad, tmp_path):
    earlier = tmp_path / "ae.h5"
    earlier.write_bytes(b"an earlier model")
    out = tmp_path / "out"
    answers = "\n".join(["3", str(bad / "no" / "ae.h5"), str(earlier), "y",  # a missing folder, then overwrite
                         "2", "4", "y"]) + "\n"  # the save fails on a full disk: plots, then exit anyway
    result = subprocess.run([sys.executable, os.path.join(REPO, "autoencoder.py"), "-d", TRAIN_IMAGES, *TINY_AE,
                             "--output-dir", str(out)], cwd=tmp_path, input=answers, capture_output=True, text=True,
                            timeout=300, env=env_with(tmp_path, DISK_FULL_FOR_MODELS))
    assert result.returncode == 0, result.stderr
    assert "does not exist" in result.stdout
    assert f"error: cannot save {earlier}: No space left on device" in result.stdout
    assert "Saved experiment" not in result.stdout and "Experiment 1 (the last) not saved" in result.stdout
    assert earlier.read_bytes() == b"an earlier model"
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]
    assert "complete" in (out / "experiments.csv").read_text()
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("script", ["autoencoder.py", "classification.py", "utilities.py"])
def test_a_python_without_the_requirements_is_told_what_to_install(script, tmp_path):
    # -S leaves out site-packages: the interpreter a user gets before `pip install -r requirements.txt`
    result = subprocess.run([sys.executable, "-S", os.path.join(REPO, script), "-d", TRAIN_IMAGES], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, env=script_env())
    assert_clean_error(result, "numpy", "tensorflow", "keras", "pip install -r requirements.txt")
