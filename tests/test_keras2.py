"""Autoencoders saved by Keras 2 programs, in every shape they come in: each yields an encoder and
classifies, or is refused in one line. The fixtures are made by tests/make_keras2_fixtures.py
(with tf_keras) and committed; the real files of other implementations in ../shared are tried too
where that folder is present."""
import json
import os

import numpy as np
import pytest

from conftest import REPO, TINY_CL, assert_clean_error, classification_args, run

OURS = os.path.join(REPO, "tests", "fixtures", "keras2")
ENCODERS = {  # file -> what classification.py says it took
    "sequential_input_layer.h5": "encoder: 5 layers, output 7x7x8",
    "sequential_input_shape.h5": "encoder: 5 layers, output 7x7x8",
    "sequential_built.h5": "encoder: 5 layers, output 7x7x8",
    "sequential_called.h5": "encoder: 5 layers, output 7x7x8",
    "nested_never_called.h5": "encoder: 4 layers, output 7x7x8",
    "nested_sequential.h5": "encoder: 4 layers, output 7x7x8",
    "nested_functional.h5": "encoder: 4 layers, output 7x7x8",
    "conv_transpose.h5": "encoder: 4 layers, output 7x7x8",
    "dense_bottleneck.h5": "encoder: 6 layers, output 16",
}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_keras3_rebuilds_the_keras2_network_and_finds_its_encoder(name):
    from convae.encoder import extract_encoder, load_autoencoder
    from convae.errors import UserError
    try:
        model = load_autoencoder(os.path.join(OURS, name))
    except UserError as refused:  # the promise is that every one of these loads
        raise AssertionError(f"a Keras 2 file refused: {refused}") from None
    with np.load(os.path.join(OURS, "reference.npz")) as reference:
        np.testing.assert_allclose(model.predict(reference["probe"], verbose=0), reference[name[:-3]], atol=1e-5)
    encoder, note = extract_encoder(model, name)
    assert note == ENCODERS[name]
    # the classifier classification.py builds on it: ten probabilities an image
    from convae.classifier import feature_statistics, fresh_encoder
    from convae.networks import build_classifier
    fresh = fresh_encoder(encoder, 0.1)
    probe = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    classifier = build_classifier(fresh, 10, 16, 0.3, augment=(0.1, 10.0, 0.1),
                                  features=feature_statistics(fresh, probe))
    np.testing.assert_allclose(classifier.predict(probe, verbose=0).sum(axis=1), 1.0, rtol=1e-5)


# one shape end to end (a nested model never called on an input: the hardest to rebuild); every
# shape's classifier is built above, and ../shared's Keras 2 files train in test_learning.py
@pytest.mark.parametrize("name", ["nested_never_called.h5"])
def test_a_keras2_shape_classifies(name, tmp_path):
    result = run("classification.py", classification_args(os.path.join(OURS, name)) +
                 ["--no-input", *TINY_CL, "--output-dir", str(tmp_path / "cl")], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ENCODERS[name] in result.stdout
    report = json.loads((tmp_path / "cl" / "test-experiment-1" / "test_report.json").read_text())
    matrix = np.array(report["confusion_matrix"])
    assert 0 < report["correct"] == np.trace(matrix) and report["correct"] + report["errors"] == matrix.sum() == 1000
    assert report["accuracy"] == report["correct"] / 1000


def test_a_subclassed_models_weights_are_refused_in_one_line(tmp_path):
    result = run("classification.py", classification_args(os.path.join(OURS, "subclassed_weights.h5")) +
                 ["--no-input", *TINY_CL], cwd=tmp_path)
    assert_clean_error(result, "subclassed_weights.h5: holds weights only")


def test_a_savedmodel_folder_is_refused_in_one_line(tmp_path):
    folder = tmp_path / "autoencoder_savedmodel"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    result = run("classification.py", classification_args(str(folder)) + ["--no-input", *TINY_CL], cwd=tmp_path)
    assert_clean_error(result, "autoencoder_savedmodel: a TensorFlow SavedModel folder", "save the model with")


def test_a_model_with_a_skip_connection_is_refused_rather_than_cut_wrongly(tmp_path):
    from convae.backend import keras
    k = keras()
    inputs = k.Input((28, 28, 1))
    x = k.layers.Conv2D(4, 3, padding="same")(inputs)
    down = k.layers.MaxPooling2D(2)(x)
    up = k.layers.UpSampling2D(2)(k.layers.Conv2D(4, 3, padding="same")(down))
    outputs = k.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(k.layers.Concatenate()([up, x]))
    k.Model(inputs, outputs).save(tmp_path / "unet.h5")
    result = run("classification.py", classification_args(str(tmp_path / "unet.h5")) + ["--no-input", *TINY_CL],
                 cwd=tmp_path)
    assert_clean_error(result, "unet.h5: its layers do not form a chain (branches or skip connections)")
