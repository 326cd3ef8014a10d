"""classification.py: encoder extraction, the two stages, the report, unattended and scripted runs."""
import csv
import json
import os

import numpy as np
import pytest

from conftest import FIXTURES, TINY_CL, assert_clean_error, classification_args, needs, run


def keras():
    from convae.backend import keras as k
    return k()


def test_own_model_encoder_is_taken_by_the_bottleneck(tiny_autoencoder):
    from convae.encoder import extract_encoder, load_autoencoder
    encoder, note = extract_encoder(load_autoencoder(tiny_autoencoder))
    assert encoder.layers[-1].name == "bottleneck"
    assert encoder.output_shape == (None, 7, 7, 8) and note.endswith("output 7x7x8")


@needs(FIXTURES)
@pytest.mark.parametrize("name, last, shape", [("autoencoder_bn_small.h5", "batch_normalization_39", (7, 7, 4)),
                                               ("autoencoder_dropout.h5", "encoder", (7, 7, 64))])
def test_keras2_fixture_encoders(name, last, shape):
    from convae.encoder import extract_encoder, load_autoencoder
    encoder, _ = extract_encoder(load_autoencoder(os.path.join(FIXTURES, name)))
    assert encoder.layers[-1].name == last and encoder.output_shape[1:] == shape


def test_nested_sequential_encoder_is_found(tmp_path):
    from convae.encoder import extract_encoder
    k = keras()
    encoder = k.Sequential([k.Input((28, 28, 1)), k.layers.Conv2D(4, 3, padding="same"), k.layers.MaxPooling2D(2)],
                           name="my_encoder")
    decoder = k.Sequential([k.Input((14, 14, 4)), k.layers.UpSampling2D(2),
                            k.layers.Conv2D(1, 3, padding="same", activation="sigmoid")], name="my_decoder")
    inputs = k.Input((28, 28, 1))
    model = k.Model(inputs, decoder(encoder(inputs)))
    model.save(tmp_path / "nested.h5")
    from convae.encoder import load_autoencoder
    found, note = extract_encoder(load_autoencoder(str(tmp_path / "nested.h5")))
    assert found.output_shape == (None, 14, 14, 4) and note == "encoder: 2 layers, output 14x14x4"


def test_each_experiment_starts_from_the_autoencoders_weights(tiny_autoencoder):
    from convae.classifier import fresh_encoder
    from convae.encoder import extract_encoder, load_autoencoder
    encoder, _ = extract_encoder(load_autoencoder(tiny_autoencoder))
    copy = fresh_encoder(encoder, 0.1)
    ours = {w.path: w.numpy() for w in copy.weights if w.name != "updates"}
    theirs = {w.path: w.numpy() for w in encoder.weights}
    assert ours.keys() == theirs.keys() and len(ours) == 12  # 2 x (kernel, bias, gamma, beta, mean, variance)
    assert all(np.array_equal(ours[k], theirs[k]) for k in ours)
    assert any(w.numpy().std() > 0 for w in copy.weights if w.name == "moving_variance")


def test_a_classifier_is_not_an_autoencoder(tmp_path):
    from convae.encoder import extract_encoder
    from convae.errors import UserError
    k = keras()
    model = k.Sequential([k.Input((28, 28, 1)), k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    with pytest.raises(UserError, match="not an autoencoder: it maps 28x28x1 inputs to 10 outputs"):
        extract_encoder(model, "clf.h5")


def classifier_defaults(**changes):
    """classification.py's hyperparameters at their defaults, with `changes`."""
    from convae.definitions import of
    return dict({p.name: p.default for p in of("classification.py").hyperparameters}, **changes)


LEARNING = {"learning_rate": 1e-2, "fine_tune_learning_rate": 1e-2, "schedule": "constant"}


def tiny_classifier(dropout=0.0, encoder_dropout=0.0):
    from convae.networks import build_autoencoder, build_classifier
    from convae.encoder import extract_encoder
    from convae.classifier import fresh_encoder
    auto = build_autoencoder((28, 28), 2, [3, 3], [4, 4], dropout)
    encoder, _ = extract_encoder(auto)
    encoder = fresh_encoder(encoder, encoder_dropout)
    return encoder, build_classifier(encoder, 10, 8, 0.2)


def weights_by_kind(encoder):
    conv = [w.numpy().copy() for l in encoder.layers if "Conv" in type(l).__name__ for w in l.weights]
    bn = [w.numpy().copy() for l in encoder.layers if "BatchNorm" in type(l).__name__ for w in l.weights]
    return conv, bn


def test_stage_1_trains_only_the_head_and_stage_2_keeps_batch_statistics():
    from convae.classifier import train_two_stages
    from convae.data import Split
    encoder, model = tiny_classifier(dropout=0.3)
    assert not any("Dropout" in type(l).__name__ for l in encoder.layers)  # left out of the copy
    rng = np.random.default_rng(0)
    x, y = rng.random((96, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 96)
    conv0, bn0 = weights_by_kind(encoder)
    head0 = model.get_layer("fc").get_weights()[0].copy()
    hyper = classifier_defaults(**LEARNING, epochs=2, fine_tune_epochs=0, batch_size=32)
    train_two_stages(model, encoder, Split((x, y), (x[:32], y[:32])), hyper)
    conv1, bn1 = weights_by_kind(encoder)
    assert all(np.array_equal(a, b) for a, b in zip(conv0 + bn0, conv1 + bn1)), "stage 1 changed the encoder"
    assert not np.array_equal(head0, model.get_layer("fc").get_weights()[0]), "stage 1 did not train the head"
    hyper = classifier_defaults(**LEARNING, epochs=1, fine_tune_epochs=2, batch_size=32)
    state, status = train_two_stages(model, encoder, Split((x, y), (x[:32], y[:32])), hyper)
    conv2, bn2 = weights_by_kind(encoder)
    assert state.stage2_start == 2 and status == "complete"
    assert all(not np.array_equal(a, b) for a, b in zip(conv1, conv2)), "stage 2 left a convolution unchanged"
    assert all(np.array_equal(a, b) for a, b in zip(bn1, bn2)), "stage 2 changed BatchNormalization"


def test_stage_2_can_train_batch_statistics():
    from convae.classifier import train_two_stages
    from convae.data import Split
    encoder, model = tiny_classifier()
    rng = np.random.default_rng(0)
    x, y = rng.random((96, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 96)
    _, bn0 = weights_by_kind(encoder)
    hyper = classifier_defaults(**LEARNING, epochs=1, fine_tune_epochs=1, batch_size=32, batch_norm="trained")
    train_two_stages(model, encoder, Split((x, y), (x[:32], y[:32])), hyper)
    _, bn1 = weights_by_kind(encoder)
    assert all(not np.array_equal(a, b) for a, b in zip(bn0, bn1)), "a BatchNormalization variable did not change"


def test_encoder_dropout_acts_in_stage_2_only():
    from convae.classifier import freeze_encoder, unfreeze_encoder
    encoder, _ = tiny_classifier(dropout=0.3, encoder_dropout=0.5)
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    def same():
        return np.array_equal(encoder(x, training=True).numpy(), encoder(x, training=False).numpy())
    freeze_encoder(encoder)
    assert same(), "dropout acted in stage 1"
    unfreeze_encoder(encoder, dropout=0.5)
    assert not same(), "no dropout in stage 2"
    assert [layer.rate for layer in encoder.layers if "Dropout" in type(layer).__name__] == [0.5, 0.5]
    encoder, _ = tiny_classifier(dropout=0.0, encoder_dropout=0.5)  # an autoencoder without Dropout layers
    unfreeze_encoder(encoder, dropout=0.5)
    assert same()


def test_report_agrees_with_scikit_learn():
    from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support
    from convae.metrics import evaluate
    y = np.array([0, 0, 1, 1, 2, 2, 2, 1])
    probabilities = np.eye(3)[[0, 1, 1, 1, 2, 0, 2, 2]] * 0.8 + 0.2 / 3
    report = evaluate(y, probabilities)
    predicted = probabilities.argmax(1)
    assert report["accuracy"] == accuracy_score(y, predicted) == 0.625 and report["errors"] == 3
    assert report["loss"] == pytest.approx(log_loss(y, probabilities))
    p, r, f, _ = precision_recall_fscore_support(y, predicted, average="macro")
    assert (report["precision"], report["recall"], report["f1"]) == pytest.approx((p, r, f))
    assert report["confusion_matrix"] == confusion_matrix(y, predicted).tolist()
    assert report["per_class"]["2"]["support"] == 3 and report["correct"] == 5
    # a fourth class that no image has and none is predicted as; a true class given probability 0
    y = np.array([0, 1, 2, 2])
    probabilities = np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0], [0, 0, 1.0, 0], [0.1, 0, 0.9, 0]])
    report = evaluate(y, probabilities)
    assert (report["correct"], report["errors"]) == (3, 1)
    assert report["loss"] == pytest.approx(-np.log(1e-7) / 4 + -np.log(0.9) / 4)  # 0 counts as 1e-7
    p, r, f, s = precision_recall_fscore_support(y, probabilities.argmax(1), labels=[0, 1, 2, 3], zero_division=0)
    assert list(report["per_class"]) == ["0", "1", "2", "3"]
    for c, figures in report["per_class"].items():
        assert tuple(figures.values()) == pytest.approx((p[int(c)], r[int(c)], f[int(c)], s[int(c)])), c
    assert list(report["per_class"]["0"]) == ["precision", "recall", "f1", "support"]
    assert (report["precision"], report["recall"], report["f1"]) == pytest.approx((p.mean(), r.mean(), f.mean()))
    assert report["confusion_matrix"] == confusion_matrix(y, probabilities.argmax(1), labels=[0, 1, 2, 3]).tolist()


def test_unattended_run(tiny_autoencoder, tmp_path):
    out = tmp_path / "cl"
    result = run("classification.py", classification_args(tiny_autoencoder) +
                 ["--no-input", *TINY_CL, "--output-dir", str(out), "--save", str(tmp_path / "clf.h5")], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "encoder: 9 layers, output 7x7x8" in result.stdout
    report = json.loads((out / "test-experiment-1" / "test_report.json").read_text())
    rows = list(csv.DictReader(open(out / "test-experiment-1" / "predictions.csv")))
    assert len(rows) == 1000
    assert report["accuracy"] == np.mean([r["true"] == r["predicted"] for r in rows])
    assert report["errors"] == sum(r["true"] != r["predicted"] for r in rows)
    assert f"accuracy {report['accuracy']:.4f}" in result.stdout
    for name in ("correct.png", "misclassified.png", "confusion_matrix.png", "encoder_features_pca.png"):
        assert (out / "test-experiment-1" / name).exists()
    assert (out / "experiment-1-curves.png").exists() and (out / "experiments.csv").exists()
    description = json.loads((tmp_path / "clf.json").read_text())
    assert description["test"]["accuracy"] == report["accuracy"] and description["classes"] == 10
    assert description["hyperparameters"]["encoder_dropout"] == 0.1


@needs(FIXTURES)
def test_weights_only_file_is_a_clean_error(tmp_path):
    result = run("classification.py", classification_args(os.path.join(FIXTURES, "weights_only.h5")) +
                 ["--no-input", *TINY_CL], cwd=tmp_path)
    assert_clean_error(result, "weights_only.h5: holds weights only")


def test_scripted_session_repeat_plots_classify_save_exit(tiny_autoencoder, tmp_path):
    out, saved = tmp_path / "cl", tmp_path / "clf.h5"
    answers = "\n".join([
        "16", "",                     # 16 units, dropout as offered (the other values are flags)
        "1",                          # repeat
        "24", "0.5",                  # 24 units, dropout 0.5
        "2",                          # plots and tables
        "3", "",                      # classify the test set with the experiment offered: the best
        "4", "2", str(saved),         # save experiment 2
        "5", "y",                     # exit (experiment 1 may be the best and is not saved)
    ]) + "\n"
    flags = [flag for flag in TINY_CL]
    for name in ("--fc-units", "--dropout"):
        i = flags.index(name)
        del flags[i:i + 2]
    result = run("classification.py", classification_args(tiny_autoencoder) + [*flags, "--output-dir", str(out)],
                 cwd=tmp_path, stdin=answers)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "Units in the fully connected layer [16]: 24" in result.stdout
    assert "Dropout rate [0.3]: 0.5" in result.stdout
    assert "Epochs" not in result.stdout and "Batch size" not in result.stdout
    assert "macro avg" in result.stdout and "Confusion matrix" in result.stdout
    rows = list(csv.DictReader(open(out / "experiments.csv")))
    best = max(rows, key=lambda r: float(r["val_accuracy"]))["experiment"]  # the first of equals, as max gives
    assert f"(default: best validation accuracy) [{best}]:" in result.stdout
    assert f"Test set, experiment {best} (1000 images)" in result.stdout
    if best == "1":  # the exit names the unsaved best experiment (2 was saved)
        assert "Experiment 1 (the best) not saved. Exit anyway?" in result.stdout
    else:
        assert "not saved. Exit anyway?" not in result.stdout
    assert [r["fc_units"] for r in rows] == ["16", "24"] and rows[1]["saved"] == str(saved)
    assert [float(r["dropout"]) for r in rows] == [0.3, 0.5]
    assert [float(r["fine_tune_learning_rate"]) for r in rows] == [5e-4, 5e-4]  # a flag holds for both
    assert all(0 < float(r["val_f1"]) <= 1 for r in rows)
    saved = json.loads((tmp_path / "clf.json").read_text())["validation"]
    assert (f"{saved['val_f1']:.4f}", f"{saved['val_accuracy']:.4f}") == (rows[1]["val_f1"], rows[1]["val_accuracy"])
    assert (out / "after-experiment-2-vs-hyperparameters.png").exists()
    assert (out / f"test-experiment-{best}" / "test_report.json").exists()
    assert json.loads((tmp_path / "clf.json").read_text())["hyperparameters"]["fc_units"] == 24
