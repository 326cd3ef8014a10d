"""Under JAX, on the CPU: several training steps per compiled call (--steps-per-dispatch, the GPU's
default) and training on several devices (--distribute, two host devices forced with XLA_FLAGS).

Each run is a process of its own (KERAS_BACKEND and XLA_FLAGS are read once, at start-up).
"""
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TRAIN_IMAGES, classification_args, script_env

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")

# 400 images: 320 to train on, 10 full batches of 32 an epoch, so blocks of 4 steps run 4, 4 and 2
AE = ["-d", TRAIN_IMAGES, "--no-input", "--limit", "400", "--layers", "2", "--filters", "4,8", "--epochs", "5",
      "--batch-size", "32", "--dropout", "0.1"]
CL = ["--no-input", "--limit", "400", "--fc-units", "16", "--epochs", "1", "--fine-tune-epochs", "2",
      "--batch-size", "32", "--encoder-dropout", "0.1"]


def jax_env(devices=1):
    env = dict(script_env(), KERAS_BACKEND="jax")
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def run_jax(script, args, cwd, devices=1):
    done = subprocess.run([sys.executable, os.path.join(REPO, script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=jax_env(devices))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def history(path):
    return json.loads(path.with_suffix(".json").read_text())["history"]


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    """An autoencoder trained in blocks of 4 steps, 5 epochs, saved."""
    folder = tmp_path_factory.mktemp("blocks")
    run_jax("autoencoder.py", AE + ["--steps-per-dispatch", "4", "--output-dir", "out", "--save", "ae.h5"], folder)
    return folder / "ae.h5"


def test_a_block_of_steps_trains_as_the_steps_one_at_a_time(blocks, tmp_path):
    run_jax("autoencoder.py", AE + ["--steps-per-dispatch", "1", "--output-dir", "out", "--save", "ae.h5"], tmp_path)
    one, four = history(tmp_path / "ae.h5"), history(blocks)
    # the same batches, dropout masks and updates in the same order: equal to float tolerance
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(four[key], one[key], rtol=1e-4, err_msg=key)
    for steps in ("1", "3"):  # the classifier's two stages, with augmentation, encoder dropout and a cosine
        run_jax("classification.py", classification_args(str(blocks)) + CL + [
            "--steps-per-dispatch", steps, "--output-dir", f"cl{steps}", "--save", f"cl{steps}.h5"], tmp_path)
    one, three = history(tmp_path / "cl1.h5"), history(tmp_path / "cl3.h5")
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(three[key], one[key], rtol=1e-4, err_msg=key)


def test_blocks_resume_after_a_kill_and_stop_on_ctrl_c(blocks, tmp_path):
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
    assert history(tmp_path / "ae.h5") == history(blocks)

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
print("devices", devices.distribute())
model = k.Sequential([k.Input((3,)), k.layers.Dense(2)])
x = np.arange(15, dtype="float32").reshape(5, 3)
got = devices.predict(model, x, batch_size=4)
print("shape", got.shape, "same", got.shape == (5, 2) and np.allclose(got, k.ops.convert_to_numpy(model(x)), atol=1e-6))
"""


def test_distribute_splits_odd_batches_between_two_devices(tmp_path):
    # five images on two devices: padded to six for the devices, five predictions back, as on one
    done = subprocess.run([sys.executable, "-c", PREDICT_FIVE], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=jax_env(devices=2))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[-2:] == ["shape (5, 2) same True", ""], done.stdout
    ae_args = AE + ["--epochs", "2", "--batch-size", "63", "--steps-per-dispatch", "1"]
    shown = run_jax("autoencoder.py", ae_args + ["--distribute", "--output-dir", "ae2", "--save", "ae2.h5"], tmp_path,
                    devices=2).stdout
    assert "--distribute: training on 2 devices" in shown
    run_jax("autoencoder.py", ae_args + ["--output-dir", "ae1", "--save", "ae1.h5"], tmp_path, devices=2)
    two, one = history(tmp_path / "ae2.h5"), history(tmp_path / "ae1.h5")
    np.testing.assert_allclose(two["val_loss"], one["val_loss"], rtol=0.1)

    cl_args = classification_args(str(tmp_path / "ae1.h5")) + CL + ["--batch-size", "63"]
    run_jax("classification.py", cl_args + ["--distribute", "--output-dir", "cl2", "--save", "cl2.h5"], tmp_path,
            devices=2)
    run_jax("classification.py", cl_args + ["--output-dir", "cl1", "--save", "cl1.h5"], tmp_path, devices=2)
    two, one = history(tmp_path / "cl2.h5"), history(tmp_path / "cl1.h5")
    np.testing.assert_allclose(two["val_loss"], one["val_loss"], rtol=0.1)
    reports = [json.loads((tmp_path / f"cl{n}" / "test-experiment-1" / "test_report.json").read_text())
               for n in (1, 2)]
    assert abs(reports[0]["accuracy"] - reports[1]["accuracy"]) < 0.05
