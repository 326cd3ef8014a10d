"""The same scripts under PyTorch (Keras 3's third backend), and models that cross backends.

Each backend runs in its own process (KERAS_BACKEND is read once, when Keras is imported). PyTorch is
optional: skipped where it is not installed. JAX, in requirements-dev.txt, gets the same checks in
tests/test_jax_training.py, from the runs that its other tests share (a JAX process costs most of
its time in starting and compiling).
"""
import importlib.util
import json
import os

import numpy as np
import pytest

from conftest import TRAIN_IMAGES, classification_args, script_env

LEARN_AE = ["--limit", "1000", "--layers", "2", "--filters", "8,16", "--epochs", "2", "--batch-size", "32"]
LEARN_CL = ["--limit", "1000", "--fc-units", "32", "--epochs", "2", "--fine-tune-epochs", "1", "--batch-size", "32",
            "--shift", "0.05", "--rotation", "5", "--zoom", "0.05"]
BACKENDS = [pytest.param("torch", marks=pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                                           reason="torch is not installed"))]


def run_on(backend, script, args, cwd, stdin=""):
    env = dict(script_env(), KERAS_BACKEND=backend)
    import subprocess
    import sys
    from conftest import REPO
    return subprocess.run([sys.executable, os.path.join(REPO, script), *args], input=stdin, cwd=cwd,
                          capture_output=True, text=True, timeout=600, env=env)


def learnt(report):
    predicted = np.array(report["confusion_matrix"]).sum(axis=0)
    return report["accuracy"] > 0.5 and (predicted > 0).sum() >= 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_both_scripts_run_on_the_backend_and_their_models_predict_the_same_under_tensorflow(backend, tmp_path):
    ae = tmp_path / "ae.keras"
    result = run_on(backend, "autoencoder.py", ["-d", TRAIN_IMAGES, "--no-input", *LEARN_AE, "--save", str(ae),
                                                "--output-dir", str(tmp_path / "ae")], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no backend noise
    description = json.loads((tmp_path / "ae.json").read_text())
    assert description["versions"]["backend"] == backend
    assert description["history"]["loss"][-1] < 0.8 * description["history"]["loss"][0]
    for name in ("experiment-1-loss.png", "experiment-1-reconstructions.png", "experiments.csv"):
        assert (tmp_path / "ae" / name).exists(), name

    # the classifier on that encoder under the backend, saved as .h5 ...
    result = run_on(backend, "classification.py", classification_args(str(ae)) +
                    ["--no-input", *LEARN_CL, "--output-dir", str(tmp_path / "cl"), "--save", str(tmp_path / "cl.h5")],
                    tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "cl" / "test-experiment-1" / "test_report.json").read_text())
    assert learnt(report), report["accuracy"]
    assert (tmp_path / "cl" / "test-experiment-1" / "confusion_matrix.png").exists()

    # the classifier saved under the backend predicts the same under TensorFlow (the default)
    check = ("import keras, numpy as np, sys; sys.path.insert(0, %r); from convae.idx import read_idx_images; "
             "x = read_idx_images(%r)[:64, :, :, None] / 255.0; "
             "np.save(%r, keras.models.load_model(%r, compile=False).predict(x, verbose=0))")
    import subprocess
    import sys
    from conftest import REPO
    for name, env in (("here", dict(script_env(), KERAS_BACKEND=backend)), ("tf", script_env())):
        out = tmp_path / f"p-{name}.npy"
        done = subprocess.run([sys.executable, "-c", check % (REPO, TRAIN_IMAGES, str(out), str(tmp_path / "cl.h5"))],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(tmp_path / "p-here.npy"), np.load(tmp_path / "p-tf.npy"), atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tensorflow_autoencoder_classifies_on_the_backend_in_a_scripted_session(backend, tiny_autoencoder,
                                                                                     tmp_path):
    answers = "\n".join(["16", "", "3", "4", str(tmp_path / "clf.keras"), "5"]) + "\n"  # units, dropout; classify,
    flags = ["--limit", "300", "--epochs", "1", "--fine-tune-epochs", "1", "--batch-size", "32"]  # save, exit
    result = run_on(backend, "classification.py", classification_args(tiny_autoencoder) +
                    [*flags, "--output-dir", str(tmp_path / "cl")], tmp_path, stdin=answers)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "Test set, experiment 1 (1000 images)" in result.stdout
    assert f"Saved experiment 1 to {tmp_path / 'clf.keras'}" in result.stdout
    assert json.loads((tmp_path / "clf.json").read_text())["versions"]["backend"] == backend
