"""Nothing lost: a run killed with SIGKILL resumes with --resume exactly where it was, and the
faults around checkpoints and saves leave what was there readable."""
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TRAIN_IMAGES, classification_args, env_with, run, script_env

AE = ["-d", TRAIN_IMAGES, "--no-input", "--limit", "400", "--layers", "2", "--filters", "8,16", "--epochs", "5",
      "--batch-size", "32"]
# --patience 3: early stopping's state (its wait, best loss and best weights) is in the checkpoint too
CL = ["--no-input", "--limit", "400", "--fc-units", "16", "--epochs", "2", "--fine-tune-epochs", "4",
      "--batch-size", "32", "--encoder-dropout", "0.2", "--patience", "3"]


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


def interruptible():
    # Ctrl-C as in a terminal, where the test process may have SIGINT ignored (a pytest-xdist worker,
    # a job started with `&`): a child would inherit that, and Python would leave Ctrl-C ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def history(path):
    return json.loads(path.with_suffix(".json").read_text())["history"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The autoencoder run that every killed one is compared with: 5 epochs, never stopped, saved."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    done = run("autoencoder.py", AE + ["--output-dir", "out", "--save", "full.h5"], cwd=folder)
    assert done.returncode == 0, done.stderr
    assert not (folder / "out" / "checkpoint.npz").exists()  # a finished run leaves none
    return folder / "full.h5"


def same_predictions(a, b):
    from convae.backend import keras
    from convae.idx import read_idx_images
    x = read_idx_images(TRAIN_IMAGES)[:64, :, :, None] / 255.0
    def predict(path):
        return keras().models.load_model(str(path), compile=False).predict(x, verbose=0)
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
    records = [json.loads((tmp_path / name).read_text()) for name in ("full.json", "part.json")]
    assert records[0]["history"] == records[1]["history"] and records[0]["test"] == records[1]["test"]
    assert records[0]["optimizers"] == records[1]["optimizers"]
    same_predictions(tmp_path / "full.h5", tmp_path / "part.h5")


STALL_SECOND_RENAME = """
import os, sys, time
_replace, _count = os.replace, {"n": 0}
def replace(src, dst, *args, **kwargs):
    if str(dst).endswith(%r):
        _count["n"] += 1
        if _count["n"] == 2:  # the second write: the file is complete, the rename about to happen
            print("STALLED before the rename", flush=True)
            time.sleep(120)
    return _replace(src, dst, *args, **kwargs)
os.replace = replace
"""


def test_sigkill_while_a_model_is_saved_leaves_the_earlier_file(tmp_path):
    (tmp_path / "ae.h5").write_bytes(b"the earlier model")
    patch = STALL_SECOND_RENAME.replace('_count["n"] == 2', '_count["n"] == 1') % "ae.h5"
    killed_at("autoencoder.py", AE + ["--epochs", "1", "--output-dir", "out", "--save", "ae.h5", "--overwrite"],
              tmp_path, "STALLED", env=env_with(tmp_path, patch))
    assert (tmp_path / "ae.h5").read_bytes() == b"the earlier model"


def test_a_checkpoint_that_cannot_be_written_is_reported_once_and_training_goes_on(uninterrupted, tmp_path):
    patch = ("import os\n"
             "def fsync(fd):\n"
             "    raise OSError(28, 'No space left on device')\n"
             "os.fsync = fsync\n")
    result = subprocess.run([sys.executable, os.path.join(REPO, "autoencoder.py"), *AE, "--output-dir", "out",
                             "--save", "part.h5"], cwd=tmp_path, capture_output=True, text=True,
                            env=env_with(tmp_path, patch), timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["warning: cannot write the checkpoint out/checkpoint.npz (No space left on "
                                          "device); training goes on without it"]
    assert history(tmp_path / "part.h5") == history(uninterrupted)
    assert sorted(os.listdir(tmp_path / "out")) == ["experiment-1-loss.png", "experiment-1-reconstructions.png",
                                                    "experiments.csv"]


def test_ctrl_c_during_a_save_returns_to_the_menu_with_the_earlier_file_intact(tmp_path):
    (tmp_path / "ae.h5").write_bytes(b"the earlier model")
    patch = ("import os, signal\n"
             "_replace = os.replace\n"
             "def replace(src, dst, *args, **kwargs):\n"
             "    if str(dst).endswith('ae.h5'):\n"
             "        os.kill(os.getpid(), signal.SIGINT)\n"
             "    return _replace(src, dst, *args, **kwargs)\n"
             "os.replace = replace\n")
    answers = "\n".join(["", "", "", "3", "ae.h5", "y", "4", "y"]) + "\n"  # kernel, filters, dropout; save; exit
    result = subprocess.run([sys.executable, os.path.join(REPO, "autoencoder.py"), "-d", TRAIN_IMAGES, "--limit",
                             "300", "--layers", "1", "--epochs", "1", "--batch-size", "32", "--output-dir", "out"],
                            cwd=tmp_path, input=answers, capture_output=True, text=True, timeout=300,
                            env=env_with(tmp_path, patch), preexec_fn=interruptible)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "Save interrupted: ae.h5 was not written." in result.stdout
    assert (tmp_path / "ae.h5").read_bytes() == b"the earlier model"
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]
    assert "complete" in (tmp_path / "out" / "experiments.csv").read_text()


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """The output folder of an autoencoder run killed by SIGKILL while it wrote its second checkpoint
    (the file complete, about to be renamed into place): the first epoch's checkpoint is what is there."""
    folder = tmp_path_factory.mktemp("killed")
    before = killed_at("autoencoder.py", AE + ["--output-dir", "out"], folder, "STALLED",
                       env=env_with(folder, STALL_SECOND_RENAME % "checkpoint.npz"))
    assert "Epoch 2/5" in before
    return folder / "out"


def test_a_killed_autoencoder_resumes_with_the_same_losses_and_model(uninterrupted, killed_run, tmp_path):
    shutil.copytree(killed_run, tmp_path / "out")
    from convae.checkpoint import read
    record, _ = read(str(tmp_path / "out" / "checkpoint.npz"))
    assert record["epoch"] == 1  # the first epoch's checkpoint, whole
    after = run("autoencoder.py", AE + ["--output-dir", "out", "--save", "part.h5", "--resume"], cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert "resumed after epoch 1" in after.stdout and "Epoch 2/5" in after.stdout and "Epoch 1/5" not in after.stdout
    assert history(tmp_path / "part.h5") == history(uninterrupted)
    assert not (tmp_path / "out" / "checkpoint.npz").exists()  # a finished run leaves none
    same_predictions(uninterrupted, tmp_path / "part.h5")


def test_a_run_killed_in_its_second_experiment_resumes_it_and_keeps_the_first(uninterrupted, tmp_path):
    """The folder of a finished run, the same command again into it (its experiment 2), killed in its
    third epoch, then resumed: experiment 2 ends as if never interrupted, experiment 1 untouched."""
    shutil.copytree(uninterrupted.parent / "out", tmp_path / "out")
    first = {name: (tmp_path / "out" / name).read_bytes() for name in os.listdir(tmp_path / "out")}
    before = killed_at("autoencoder.py", AE + ["--output-dir", "out", "--save", "part.h5"], tmp_path, "Epoch 3/5")
    assert "holds experiments 1 to 1 of an earlier run" in before and "Experiment 2:" in before
    after = run("autoencoder.py", AE + ["--output-dir", "out", "--save", "part.h5", "--resume"], cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert "Experiment 2:" in after.stdout and "resumed after epoch" in after.stdout
    assert history(tmp_path / "part.h5") == history(uninterrupted)
    assert json.loads((tmp_path / "part.json").read_text())["experiment"] == 2
    for name, content in first.items():
        if name != "experiments.csv":
            assert (tmp_path / "out" / name).read_bytes() == content, name
    rows = (tmp_path / "out" / "experiments.csv").read_text().splitlines()
    assert rows[:2] == first["experiments.csv"].decode().splitlines() and rows[2].startswith("2,")
    assert (tmp_path / "out" / "experiment-2-loss.png").exists()


@pytest.mark.parametrize("change, words", [
    ([], ["--resume: no checkpoint in out"]),
    (["--epochs", "6"], ["was written by other hyperparameters (epochs: 5 there, 6 here)"]),
    (["--limit", "300"], ["was written by other settings (limit: 400 there, 300 here)"]),
    (["--seed", "2"], ["was written by other settings (seed: 1 there, 2 here)"]),
    ("damaged", ["out/checkpoint.npz: damaged checkpoint"]),
    ("other data", ["was written by other data (train_images:"]),
])
def test_a_wrong_resume_is_one_line_and_changes_nothing(killed_run, tmp_path, change, words):
    from conftest import assert_clean_error
    if change != []:
        shutil.copytree(killed_run, tmp_path / "out")
    checkpoint = tmp_path / "out" / "checkpoint.npz"
    if change == "damaged":
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # cut short, as a kill mid-write would on a bad disk
    before = checkpoint.read_bytes() if checkpoint.exists() else None
    args = AE + ["--output-dir", "out", "--resume"]
    if change == "other data":
        from convae.idx import read_idx_images, write_idx
        write_idx(tmp_path / "other.gz", read_idx_images(TRAIN_IMAGES)[::-1])
        args[1] = str(tmp_path / "other.gz")
    elif isinstance(change, list):
        args += change
    result = run("autoencoder.py", args, cwd=tmp_path)
    assert_clean_error(result, *words)
    assert "Epoch" not in result.stdout
    assert (checkpoint.read_bytes() if checkpoint.exists() else None) == before
