"""The scripts learn, and every setting takes effect where it should: on runs big enough to learn
(1,000 sample images, a few epochs, no augmentation: about 12 s each)."""
import csv
import json
import os

import numpy as np
import pytest

from conftest import (FIXTURES, TEST_IMAGES, TEST_LABELS, TINY_CL, TRAIN_IMAGES, TRAIN_LABELS, classification_args,
                      needs, run, seeded_env)

LEARN_AE = ["--limit", "1000", "--layers", "2", "--filters", "8,16", "--epochs", "3", "--batch-size", "32",
            "--dropout", "0"]
LEARN_CL = ["--limit", "1000", "--epochs", "2", "--fine-tune-epochs", "1", "--batch-size", "32", "--shift", "0",
            "--rotation", "0", "--zoom", "0", "--learning-rate", "2e-3", "--fine-tune-learning-rate", "5e-4"]


@pytest.fixture(scope="module")
def learned_autoencoder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("learned")
    result = run("autoencoder.py", ["-d", TRAIN_IMAGES, "--no-input", *LEARN_AE, "--save", str(folder / "ae.h5"),
                                    "--output-dir", str(folder / "out")], cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "ae.h5"


def test_the_autoencoder_learns(learned_autoencoder):
    description = json.loads(learned_autoencoder.with_suffix(".json").read_text())
    loss = description["history"]["loss"]
    assert loss[-1] < 0.7 * loss[0], loss
    assert description["metrics"]["val_loss"] < 0.75 * description["history"]["val_loss"][0]
    assert description["optimizer"] == {"optimizer": "Adam", "learning_rate": 0.001}


def classify(model, tmp_path, *extra):
    out = tmp_path / "cl"
    result = run("classification.py", classification_args(str(model)) +
                 ["--no-input", *LEARN_CL, *extra, "--output-dir", str(out), "--save", str(tmp_path / "cl.h5")],
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "test-experiment-1" / "test_report.json").read_text())
    return report, json.loads((tmp_path / "cl.json").read_text())


def assert_learnt(report):
    """Far above chance (10%), and not one class for everything."""
    predicted = np.array(report["confusion_matrix"]).sum(axis=0)
    assert report["accuracy"] > 0.5, report["accuracy"]
    assert (predicted > 0).sum() >= 8, predicted


def test_the_classifier_learns_on_a_stratified_split_with_each_stage_compiled_as_asked(learned_autoencoder,
                                                                                       tmp_path):
    report, description = classify(learned_autoencoder, tmp_path)
    assert_learnt(report)
    # the first 1,000 training images, 10% of each class held out for validation (none of the test images)
    from convae.idx import read_idx_labels
    per_class = np.bincount(read_idx_labels(TRAIN_LABELS)[:1000], minlength=10)
    assert description["split"]["validation"] == [int(round(n * 0.1)) for n in per_class]
    assert np.array_equal(np.add(description["split"]["train"], description["split"]["validation"]), per_class)
    steps = sum(description["split"]["train"]) // 32  # full batches of the images left after the split
    assert description["optimizers"] == {
        "stage 1": {"optimizer": "Adam", "learning_rate": {"schedule": "CosineDecay", "initial_learning_rate": 2e-3,
                                                           "decay_steps": 2 * steps}},
        "stage 2": {"optimizer": "Adam", "learning_rate": {"schedule": "CosineDecay", "initial_learning_rate": 5e-4,
                                                           "decay_steps": steps}}}
    # the test set classified with the network's probabilities averaged over nine copies of each image (--tta 9,
    # the default), here shifted by NumPy; the saved model is the network itself
    from convae.backend import keras
    from convae.idx import read_idx_images, read_idx_labels
    assert description["settings"]["tta"] == 9
    images = read_idx_images(TEST_IMAGES).astype(np.float32)[..., None] / 255
    network = keras().models.load_model(str(tmp_path / "cl.h5"), compile=False)
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)))
    views = [padded[:, 1 - dy:29 - dy, 1 - dx:29 - dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert np.array_equal(views[4], images) and views[5][0, 0, 1, 0] == images[0, 0, 0, 0]  # (0, 1): one pixel right
    probabilities = np.mean([network.predict(v, verbose=0) for v in views], axis=0)
    with open(tmp_path / "cl" / "test-experiment-1" / "predictions.csv") as rows:
        rows = list(csv.DictReader(rows))
    assert [int(r["predicted"]) for r in rows] == list(probabilities.argmax(axis=1))
    assert [float(r["confidence"]) for r in rows] == pytest.approx(probabilities.max(axis=1), abs=1e-5)
    assert report["errors"] == int((probabilities.argmax(axis=1) != read_idx_labels(TEST_LABELS)).sum())
    plain = network.predict(images, verbose=0).argmax(axis=1)
    assert (plain != probabilities.argmax(axis=1)).sum() > 0  # the averaging changed some predictions


@needs(FIXTURES)
@pytest.mark.parametrize("name", ["autoencoder_bn_small.h5", "autoencoder_dropout.h5"])
def test_keras2_encoders_learn(name, tmp_path):
    report, _ = classify(os.path.join(FIXTURES, name), tmp_path)
    assert_learnt(report)


def test_the_same_seed_repeats_an_experiment_exactly(seeded_classifier, tiny_autoencoder, tmp_path):
    """A second classifier run with seed 5, with TensorFlow's oneDNN kernels on as the project sets them
    (the resume tests compare two autoencoder runs likewise)."""
    result = run("classification.py", classification_args(tiny_autoencoder) +
                 ["--no-input", *TINY_CL, "--seed", "5", "--save", str(tmp_path / "cl.h5"),
                  "--output-dir", str(tmp_path / "cl")], cwd=tmp_path, env=seeded_env())
    assert result.returncode == 0, result.stderr
    descriptions = [json.loads((folder / "cl.json").read_text()) for folder in (seeded_classifier, tmp_path)]
    assert [d["versions"]["onednn"] for d in descriptions] == [True, True]
    assert descriptions[0]["history"] == descriptions[1]["history"]
    assert len(descriptions[0]["history"]["val_loss"]) == 2  # stage 1 and stage 2, each one epoch


def test_early_stopping_restores_the_best_weights():
    from convae.backend import keras
    from convae.classifier import train_two_stages
    from convae.checkpoint import Bookkeeping
    from convae.data import Split
    from test_classification import classifier_defaults, tiny_classifier
    k = keras()
    k.utils.set_random_seed(0)  # the same weights and batches on every run: the verdict cannot change by chance
    encoder, model = tiny_classifier()
    rng = np.random.default_rng(0)
    x, y = rng.random((128, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 128)
    kept = []

    class Keep(k.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            kept.append((logs["val_loss"], [w.copy() for w in self.model.get_weights()]))
    hyper = classifier_defaults(epochs=12, fine_tune_epochs=0, batch_size=32, learning_rate=3e-2, schedule="constant",
                                fine_tune_learning_rate=1e-3, patience=2)
    # random labels, and other random labels to validate on: the validation loss soon gets worse
    state, _ = train_two_stages(model, encoder, Split((x, y), (x[:64], rng.integers(0, 10, 64))), hyper,
                                Bookkeeping(callbacks=[Keep()]))
    # a constant learning rate where --schedule constant asks for it; no stage 2 where it has 0 epochs
    assert state.optimizers == {"stage 1": {"optimizer": "Adam", "learning_rate": 3e-2}}
    losses = [loss for loss, _ in kept]
    best = int(np.argmin(losses))
    assert len(kept) < 12 and best == len(kept) - 3, losses  # stopped two epochs after the best
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), kept[best][1]))
    assert not all(np.array_equal(a, b) for a, b in zip(kept[best][1], kept[-1][1]))


def test_the_records_hold_the_values_used_and_measured(seeded_classifier, tiny_autoencoder):
    """The saved JSON and experiments.csv by value: the hyperparameters given, the data's checksums (of
    the content: a .gz file and its unzipped copy alike), the parameters of the saved network, and the
    validation and training figures as the saved network gives them on the images the split held out."""
    import gzip
    import hashlib
    from convae.backend import keras
    from convae.data import split_indices, to_float
    from convae.idx import read_idx_images, read_idx_labels
    description = json.loads((seeded_classifier / "cl.json").read_text())
    flags = dict(zip(TINY_CL[::2], TINY_CL[1::2]))
    numbers = {"fc_units": int, "epochs": int, "fine_tune_epochs": int, "batch_size": int, "patience": int}
    for flag, text in flags.items():
        name = flag[2:].replace("-", "_")
        if name != "limit":
            assert description["hyperparameters"][name] == numbers.get(name, float if text[0].isdigit() else str)(
                text), name
    assert description["settings"] == {"limit": 300, "val_split": 0.1, "seed": 5, "tta": 9}
    for name, path in (("train_images", TRAIN_IMAGES), ("train_labels", TRAIN_LABELS),
                       ("test_images", TEST_IMAGES), ("test_labels", TEST_LABELS)):
        content = gzip.decompress(open(path, "rb").read())
        assert description["data"][name]["md5"] == hashlib.md5(content).hexdigest(), name
    from convae.data import load_images
    unzipped = seeded_classifier / "train-images-idx3-ubyte"
    unzipped.write_bytes(gzip.decompress(open(TRAIN_IMAGES, "rb").read()))
    assert load_images(str(unzipped)).md5 == description["data"]["train_images"]["md5"]
    model = keras().models.load_model(str(seeded_classifier / "cl.h5"), compile=False)
    assert description["parameters"] == model.count_params()
    labels = read_idx_labels(TRAIN_LABELS)[:300]
    x = to_float(read_idx_images(TRAIN_IMAGES)[:300])
    train, val = split_indices(300, 0.1, 5, labels)

    def figures(idx, views=1):
        padded = np.pad(x[idx], ((0, 0), (1, 1), (1, 1), (0, 0)))
        shifts = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)][:views]
        p = np.mean([model.predict(padded[:, 1 + dy:29 + dy, 1 + dx:29 + dx], verbose=0) for dy, dx in shifts], axis=0)
        loss = float(-np.mean(np.log(np.clip(p[np.arange(len(idx)), labels[idx]], 1e-7, 1.0))))
        return loss, float(np.mean(p.argmax(axis=1) == labels[idx]))
    validation = description["validation"]
    assert (validation["val_loss"], validation["val_accuracy"]) == pytest.approx(figures(val), abs=1e-5)
    assert (validation["loss"], validation["accuracy"]) == pytest.approx(figures(train), abs=1e-5)
    assert (validation["val_loss_tta"], validation["val_accuracy_tta"]) == pytest.approx(figures(val, 9), abs=1e-5)
    row = list(csv.DictReader(open(seeded_classifier / "cl" / "experiments.csv")))[-1]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "val_f1"):
        assert float(row[key]) == pytest.approx(validation[key], abs=5e-5), key
    assert int(row["parameters"]) == model.count_params() and row["saved"] == str(seeded_classifier / "cl.h5")
