"""Nothing lost: a run killed with SIGKILL resumes with --resume exactly where it was, and the
faults around checkpoints and saves leave what was there readable."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TRAIN_IMAGES, classification_args, run, script_env

AE = ["-d", TRAIN_IMAGES, "--no-input", "--limit", "1000", "--layers", "2", "--filters", "8,16", "--epochs", "5",
      "--batch-size", "32"]
CL = ["--no-input", "--limit", "1000", "--fc-units", "16", "--epochs", "2", "--fine-tune-epochs", "4",
      "--batch-size", "32", "--encoder-dropout", "0.2"]


def killed_at(script, args, cwd, line, env=None):
    """Start the script and SIGKILL it as soon as it prints `line`; return what it printed."""
    child = subprocess.Popen([sys.executable, os.path.join(REPO, script), *args], cwd=cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env or script_env())
    shown = []
    for text in child.stdout:
        shown.append(text)
        if line in text:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, "".join(shown)
    return "".join(shown)


def epoch_lines(output):
    """The per-epoch lines (losses, without the timings)."""
    return [text.split(" - ", 3)[-1] for text in output.splitlines() if "/step - " in text]


def test_a_killed_autoencoder_resumes_with_the_same_losses_and_model(tmp_path):
    full = run("autoencoder.py", AE + ["--output-dir", "full", "--save", "full.h5"], cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    assert not (tmp_path / "full" / "checkpoint.npz").exists()  # a finished run leaves none
    before = killed_at("autoencoder.py", AE + ["--output-dir", "out", "--save", "part.h5"], tmp_path, "Epoch 3/5")
    assert (tmp_path / "out" / "checkpoint.npz").exists() and not (tmp_path / "part.h5").exists()
    after = run("autoencoder.py", AE + ["--output-dir", "out", "--save", "part.h5", "--resume"], cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert "resumed after epoch 2" in after.stdout
    assert epoch_lines(before) + epoch_lines(after.stdout) == epoch_lines(full.stdout)
    assert json.loads((tmp_path / "part.json").read_text())["history"] == \
        json.loads((tmp_path / "full.json").read_text())["history"]
    assert not (tmp_path / "out" / "checkpoint.npz").exists()
    same_predictions(tmp_path / "full.h5", tmp_path / "part.h5")


def same_predictions(a, b):
    from convae.backend import keras
    from convae.idx import read_idx_images
    x = read_idx_images(TRAIN_IMAGES)[:64, :, :, None] / 255.0
    predict = lambda path: keras().models.load_model(str(path), compile=False).predict(x, verbose=0)  # noqa: E731
    np.testing.assert_array_equal(predict(a), predict(b))


def test_a_classifier_killed_in_stage_2_resumes_with_the_same_losses(tiny_autoencoder, tmp_path):
    args = classification_args(tiny_autoencoder) + CL
    full = run("classification.py", args + ["--output-dir", "full", "--save", "full.h5"], cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    before = killed_at("classification.py", args + ["--output-dir", "out", "--save", "part.h5"], tmp_path,
                       "Epoch 3/4")  # stage 2's third epoch
    assert "Stage 2" in before
    after = run("classification.py", args + ["--output-dir", "out", "--save", "part.h5", "--resume"], cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert "Stage 2: the whole network, 4 epochs, from epoch 3" in after.stdout
    assert epoch_lines(before) + epoch_lines(after.stdout) == epoch_lines(full.stdout)
    records = [json.loads((tmp_path / name).read_text()) for name in ("full.json", "part.json")]
    assert records[0]["history"] == records[1]["history"] and records[0]["test"] == records[1]["test"]
    assert records[0]["optimizers"] == records[1]["optimizers"]
    same_predictions(tmp_path / "full.h5", tmp_path / "part.h5")
