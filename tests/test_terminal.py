"""Whole interactive sessions in a real pseudo-terminal, typed as a new user would type them."""
import os
import re
import signal
import sys

import pexpect

from conftest import REPO, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, asked, script_env

NOISE = re.compile(r"I0000|W0000|E0000|absl|oneDNN|cuda|Warning|WARNING|Traceback")


def _interruptible():
    # A job started with `&` by a non-interactive shell (a CI runner, `nohup ... &`) inherits SIGINT
    # ignored, and Python then leaves Ctrl-C ignored; a user's terminal never does that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(script, args, cwd):
    child = pexpect.spawn(sys.executable, [os.path.join(REPO, script), *args], cwd=str(cwd), env=script_env(),
                          encoding="utf-8", timeout=120, dimensions=(50, 200), preexec_fn=_interruptible)
    child.logfile_read = open(os.path.join(cwd, "screen.txt"), "w", buffering=1)  # screen() sees every line
    return child


def stopped_by_ctrl_c(child):
    try:
        child.expect_exact("Training stopped by Ctrl-C after", timeout=60)
    except (pexpect.TIMEOUT, pexpect.EOF):
        raise AssertionError(f"Ctrl-C did not stop the training within 60 s: {str(child.before)[-500:]}") from None


def answer(child, prompt, text):
    child.expect_exact(prompt)
    child.sendline(text)


def screen(cwd):
    with open(os.path.join(cwd, "screen.txt")) as f:
        return f.read()


def test_autoencoder_session_with_ctrl_c_in_training_and_ctrl_d_at_the_menu(tmp_path):
    child = spawn("autoencoder.py", ["--limit", "600", "--dropout", "0", "--output-dir", "out"], tmp_path)
    answer(child, "Training images (idx file): ", str(tmp_path / "typo.gz"))
    child.expect_exact("typo.gz: no such file")
    answer(child, "Training images (idx file): ", TRAIN_IMAGES)
    answer(child, "Convolutional layers in the encoder [3]: ", "2")
    answer(child, "Kernel size (one, or one per layer) [3]: ", "")
    answer(child, "Filters per layer [32,64]: ", "4,8,16")
    child.expect_exact("expected one filter count per layer (2 values) or a single value, got 3")
    answer(child, "Filters per layer [32,64]: ", "4,8")
    answer(child, "Epochs [2]: ", "1")
    answer(child, "Batch size [64]: ", "10000")
    child.expect_exact("expected at most 480, the number of training images after the validation split")
    answer(child, "Batch size [64]: ", "32")
    child.expect_exact("Experiment 1: loss")
    # the assignment's questions, less --dropout's (test_autoencoder's scripted session asks it)
    assert asked(screen(tmp_path)) == [
        "Convolutional layers in the encoder", "Kernel size (one, or one per layer)", "Filters per layer", "Epochs",
        "Batch size"]
    answer(child, "Choose: ", "1")
    for prompt, text in (("layers in the encoder [2]: ", ""), ("one per layer) [3]: ", ""), ("[4,8]: ", ""),
                         ("Epochs [1]: ", "200"), ("Batch size [32]: ", "")):  # --dropout 0: not asked again
        answer(child, prompt, text)
    child.expect_exact("Epoch 2/200")
    child.sendintr()
    stopped_by_ctrl_c(child)
    child.expect_exact("Choose: ")
    child.sendline("2")
    child.expect_exact("experiments.csv")
    child.expect_exact("Choose: ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    shown = screen(tmp_path)
    assert child.exitstatus == 1
    assert "error: end of input while waiting for an answer" in shown
    assert "Dropout rate" not in shown and "Pool after" not in shown
    assert not NOISE.search(shown), NOISE.search(shown)
    rows = (tmp_path / "out" / "experiments.csv").read_text().splitlines()
    assert len(rows) == 3 and "stopped at epoch" in rows[2]


def test_ctrl_c_at_a_prompt_exits_130(tmp_path):
    child = spawn("autoencoder.py", ["-d", TRAIN_IMAGES], tmp_path)
    child.expect_exact("Convolutional layers in the encoder [3]: ")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130 or child.signalstatus is None and child.exitstatus == 130
    assert "interrupted" in screen(tmp_path) and "Traceback" not in screen(tmp_path)


def test_classification_session_with_ctrl_c_in_each_stage(tmp_path, tiny_autoencoder):
    child = spawn("classification.py", ["--limit", "600", "--output-dir", "out"], tmp_path)
    answer(child, "Training images (idx file): ", TRAIN_IMAGES)
    answer(child, "Training labels (idx file): ", TEST_LABELS)
    child.expect_exact("1000 labels for the 4000 images")
    answer(child, "Training labels (idx file): ", TRAIN_LABELS)
    answer(child, "Test images (idx file): ", TEST_IMAGES)
    answer(child, "Test labels (idx file): ", TEST_LABELS)
    answer(child, "Autoencoder (.h5 or .keras file): ", tiny_autoencoder)
    child.expect_exact("encoder: 9 layers, output 7x7x8")
    for prompt, text in (("fully connected layer [128]: ", "16"), ("(head only) [2]: ", "1"),
                         ("(whole network) [10]: ", "x"), ("(whole network) [10]: ", "1"),
                         ("Batch size [128]: ", "32"), ("Dropout rate [0.3]: ", "")):
        answer(child, prompt, text)
    child.expect_exact("Stage 2: the whole network, 1 epoch")
    # the assignment's questions, and no other
    assert asked(screen(tmp_path)) == ["Units in the fully connected layer", "Epochs of stage 1 (head only)",
                                       "Epochs of stage 2 (whole network)", "Batch size", "Dropout rate"]
    answer(child, "Choose: ", "3")
    child.expect_exact("Test set, experiment 1 (1000 images): accuracy")
    # repeat twice, with 200 epochs in the stage to interrupt: stage 1, then stage 2
    for stage, before, head, whole in ((1, "1", "200", "1"), (2, "200", "1", "200")):
        answer(child, "Choose: ", "1")
        for prompt, text in (("fully connected layer [16]: ", ""), (f"(head only) [{before}]: ", head),
                             ("(whole network) [1]: ", whole), ("Batch size [32]: ", ""),
                             ("Dropout rate [0.3]: ", "")):
            answer(child, prompt, text)
        if stage == 2:
            child.expect_exact("Stage 2: the whole network, 200 epochs")
        child.expect_exact("Epoch 2/200")
        child.sendintr()
        stopped_by_ctrl_c(child)
        child.expect_exact(f"(stopped in stage {stage} at epoch")
    answer(child, "Choose: ", "5")
    answer(child, "not saved. Exit anyway? (y/n) [n]: ", "y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    shown = screen(tmp_path)
    assert not NOISE.search(shown), NOISE.search(shown)
    assert (tmp_path / "out" / "test-experiment-1" / "test_report.json").exists()
    rows = (tmp_path / "out" / "experiments.csv").read_text().splitlines()
    assert len(rows) == 4 and "stopped in stage 1 at epoch" in rows[2] and "stopped in stage 2 at epoch" in rows[3]
