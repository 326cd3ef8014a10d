"""Under JAX, on the CPU: both scripts on Keras 3's JAX backend, models that cross to TensorFlow and
back, several training steps per compiled call (--steps-per-dispatch, the GPU's default) and
training on several devices (--distribute, two host devices forced with XLA_FLAGS).

Each run is a process of its own (KERAS_BACKEND and XLA_FLAGS are read once, at start-up), and a
JAX process spends most of its time starting and compiling: so each run below is made once, in a
module fixture, and every test compares the runs it needs; and the runs share JAX's persistent
compilation cache, in a folder of this module's own, so that a network compiled by one run is
read back by the next (the same program, the same executable: on this CPU an autoencoder run took
11 s instead of 23). (PyTorch: tests/test_backends.py.)
"""
import csv
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TEST_IMAGES, TRAIN_IMAGES, classification_args, script_env
from test_backends import learnt

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")

# 400 images: 320 to train on, 5 full batches of 63 an epoch, so blocks of 4 steps run 4 and 1, and
# two devices split a batch of 63 (its odd image dropped in training, padded in prediction)
AE = ["-d", TRAIN_IMAGES, "--no-input", "--limit", "400", "--layers", "2", "--filters", "4,8", "--epochs", "5",
      "--batch-size", "63", "--dropout", "0.1"]
# 1,000 images: 900 to train on, 14 batches an epoch, blocks of 3 run 3, 3, 3, 3 and 2. Augmentation, a
# cosine schedule and encoder dropout (stage 2) on; learning rates high enough to learn in 42 steps
# from the one-epoch autoencoder (74% of the test images on this CPU; 33% at the default rates).
CL = ["--limit", "1000", "--epochs", "1", "--fine-tune-epochs", "2", "--batch-size", "63", "--encoder-dropout", "0.1",
      "--shift", "0.05", "--rotation", "5", "--zoom", "0.05", "--learning-rate", "1e-2",
      "--fine-tune-learning-rate", "5e-3"]


CACHE = None  # set by the module fixture below


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
    global CACHE
    CACHE = str(tmp_path_factory.mktemp("jax-compilation-cache"))
    yield
    CACHE = None


def jax_env(devices=1):
    env = dict(script_env(), KERAS_BACKEND="jax", JAX_COMPILATION_CACHE_DIR=CACHE,
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def run_jax(script, args, cwd, devices=1, stdin=""):
    done = subprocess.run([sys.executable, os.path.join(REPO, script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=jax_env(devices), input=stdin)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def history(path):
    return json.loads(path.with_suffix(".json").read_text())["history"]


def report_of(folder):
    return json.loads((folder / "test-experiment-1" / "test_report.json").read_text())


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("jax")


@pytest.fixture(scope="module")
def ae_steps(folder):
    """The autoencoder one step per call (the CPU's default), saved as .keras; what it printed."""
    return run_jax("autoencoder.py", AE + ["--output-dir", "ae1", "--save", "ae1.keras"], folder)


@pytest.fixture(scope="module")
def ae_blocks(folder):
    """The same autoencoder trained in blocks of 4 steps, saved as .h5."""
    run_jax("autoencoder.py", AE + ["--steps-per-dispatch", "4", "--output-dir", "ae4", "--save", "ae4.h5"], folder)
    return folder / "ae4.h5"


@pytest.fixture(scope="module")
def cl_steps(folder, tiny_autoencoder):
    """classification.py on a TensorFlow autoencoder, in a scripted session: units 16 and the default
    dropout answered; classify, save as .h5, exit. What it printed."""
    answers = "\n".join(["16", "", "3", "4", "cl1.h5", "5"]) + "\n"
    return run_jax("classification.py", classification_args(tiny_autoencoder) + CL + ["--output-dir", "cl1"],
                   folder, stdin=answers)


def test_both_scripts_run_under_jax_and_their_models_predict_the_same_under_tensorflow(ae_steps, cl_steps, folder):
    assert ae_steps.stderr == ""  # no backend noise
    description = json.loads((folder / "ae1.json").read_text())
    assert description["versions"]["backend"] == "jax"
    assert description["history"]["loss"][-1] < 0.8 * description["history"]["loss"][0]
    for name in ("experiment-1-loss.png", "experiment-1-reconstructions.png", "experiments.csv"):
        assert (folder / "ae1" / name).exists(), name

    assert "Test set, experiment 1 (1000 images)" in cl_steps.stdout
    assert "Saved experiment 1 to cl1.h5" in cl_steps.stdout
    assert json.loads((folder / "cl1.json").read_text())["versions"]["backend"] == "jax"
    report = report_of(folder / "cl1")
    assert learnt(report), report["accuracy"]
    assert (folder / "cl1" / "test-experiment-1" / "confusion_matrix.png").exists()

    # the classifier saved under JAX predicts the test images under TensorFlow as it did under JAX (over the 9
    # shifted views its JSON records)
    assert json.loads((folder / "cl1.json").read_text())["settings"]["tta"] == 9
    check = ("import keras, numpy as np, sys; sys.path.insert(0, %r); from convae.idx import read_idx_images; "
             "from convae.networks import averaged_over_shifts; x = read_idx_images(%r)[:, :, :, None] / 255.0; "
             "model = averaged_over_shifts(keras.models.load_model('cl1.h5', compile=False), 9); "
             "np.save('p-tf.npy', model.predict(x, verbose=0))")
    done = subprocess.run([sys.executable, "-c", check % (REPO, TEST_IMAGES)], capture_output=True, text=True,
                          env=script_env(), cwd=folder, timeout=300)
    assert done.returncode == 0, done.stderr
    probabilities = np.load(folder / "p-tf.npy")
    with open(folder / "cl1" / "test-experiment-1" / "predictions.csv") as rows:
        under_jax = list(csv.DictReader(rows))
    np.testing.assert_array_equal(probabilities.argmax(axis=1), [int(row["predicted"]) for row in under_jax])
    np.testing.assert_allclose(probabilities.max(axis=1), [float(row["confidence"]) for row in under_jax],
                               atol=1e-4)
    true = [int(row["true"]) for row in under_jax]
    loss = -np.mean(np.log(probabilities[np.arange(len(true)), true]))
    assert loss == pytest.approx(report["loss"], abs=1e-4)


def test_a_block_of_steps_trains_as_the_steps_one_at_a_time(ae_steps, ae_blocks, cl_steps, folder, tiny_autoencoder):
    one, four = history(folder / "ae1.keras"), history(ae_blocks)
    # the same batches, dropout masks and updates in the same order: equal to float tolerance
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(four[key], one[key], rtol=1e-4, err_msg=key)
    # the classifier's two stages, with augmentation, encoder dropout and a cosine
    run_jax("classification.py", classification_args(tiny_autoencoder) + CL + [
        "--no-input", "--fc-units", "16", "--steps-per-dispatch", "3", "--output-dir", "cl3", "--save", "cl3.h5"],
        folder)
    one, three = history(folder / "cl1.h5"), history(folder / "cl3.h5")
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(three[key], one[key], rtol=1e-4, err_msg=key)


def test_blocks_resume_after_a_kill_and_stop_on_ctrl_c(ae_blocks, tmp_path):
    args = AE + ["--steps-per-dispatch", "4", "--save", "ae.h5"]
    child = subprocess.Popen([sys.executable, os.path.join(REPO, "autoencoder.py"), *args, "--output-dir", "out"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=jax_env())
    for line in child.stdout:
        if "Epoch 3/5" in line:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    run_jax("autoencoder.py", args + ["--output-dir", "out", "--resume"], tmp_path)
    # epochs 1 and 2 run again in the killed process, 3 to 5 after the resume: the same seed, the same numbers
    assert history(tmp_path / "ae.h5") == history(ae_blocks)

    child = subprocess.Popen([sys.executable, os.path.join(REPO, "autoencoder.py"), *AE, "--epochs", "200",
                              "--steps-per-dispatch", "4", "--output-dir", "stopped", "--save", "stopped.h5"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=jax_env())
    shown = []
    for line in child.stdout:
        shown.append(line)
        if "Epoch 3/200" in line:
            child.send_signal(signal.SIGINT)
    assert child.wait(timeout=120) == 0, "".join(shown)
    stopped = re.search(r"Training stopped by Ctrl-C after (\d+) of 200 epochs\.", "".join(shown))
    assert stopped and 2 <= int(stopped.group(1)) < 200, "".join(shown)
    assert len(history(tmp_path / "stopped.h5")["loss"]) == int(stopped.group(1))


PREDICT_FIVE = """
import numpy as np
from convae import devices
from convae.backend import keras
k = keras()
count = devices.distribute()
print("devices", count)
model = k.Sequential([k.Input((3,)), k.layers.Dense(2)])
x = np.arange(15, dtype="float32").reshape(5, 3)
got = devices.predict(model, x, count, batch_size=4)
print("shape", got.shape, "same", got.shape == (5, 2) and np.allclose(got, k.ops.convert_to_numpy(model(x)), atol=1e-6))
"""


def test_distribute_splits_odd_batches_between_two_devices(ae_steps, cl_steps, folder, tiny_autoencoder):
    # five images on two devices: padded to six for the devices, five predictions back, as on one
    done = subprocess.run([sys.executable, "-c", PREDICT_FIVE], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=jax_env(devices=2))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[-2:] == ["shape (5, 2) same True", ""], done.stdout
    # batches of 63 on two devices against the runs on one above
    shown = run_jax("autoencoder.py", AE + ["--distribute", "--output-dir", "ae2", "--save", "ae2.h5"], folder,
                    devices=2).stdout
    assert "--distribute: training on 2 devices" in shown
    np.testing.assert_allclose(history(folder / "ae2.h5")["val_loss"], history(folder / "ae1.keras")["val_loss"],
                               rtol=0.1)
    run_jax("classification.py", classification_args(tiny_autoencoder) + CL + [
        "--no-input", "--fc-units", "16", "--distribute", "--output-dir", "cl2", "--save", "cl2.h5"], folder,
        devices=2)
    np.testing.assert_allclose(history(folder / "cl2.h5")["val_loss"], history(folder / "cl1.h5")["val_loss"],
                               rtol=0.1)
    assert learnt(report_of(folder / "cl2"))  # (its accuracy moves by several points from one device's)
