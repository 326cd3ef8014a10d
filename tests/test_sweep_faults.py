"""sweep.py against the faults of real machines, each with the real thing: SIGTERM and SIGHUP, a PostgreSQL
server stopped and started mid-sweep or gone for good, a full filesystem (a small tmpfs), workers
killed again and again. Each time: one line saying what happened, nothing lost, and the same command,
word for word, continues the sweep to the uninterrupted sweep's numbers."""
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import REPO, TRAIN_IMAGES
from test_sweep import _start, _wait_for_checkpoint, _workers, postgres, rows, sweep  # noqa: F401 (a fixture)

FIXED = ["-d", TRAIN_IMAGES, "--layers", "2", "--filters", "4,8", "--epochs", "2", "--batch-size", "32",
         "--limit", "300", "--workers", "2"]
GRID = ["--grid", "dropout=0,0.1,0.2", "--seeds", "1"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    result = sweep(["autoencoder.py", *FIXED, *GRID, "--output-dir", "ref"], cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    return rows(folder / "ref")


def same_numbers(folder, reference):
    ours = rows(folder)
    assert sorted(ours) == sorted(reference)
    for name, row in reference.items():
        assert (ours[name]["status"], ours[name]["loss"], ours[name]["val_loss"]) == \
            (row["status"], row["loss"], row["val_loss"]), name


def ended(child, timeout):
    """The output of a sweep that must end by itself within `timeout` seconds (an AssertionError if not)."""
    try:
        return child.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out = child.communicate()[0]
        raise AssertionError(f"the sweep did not stop within {timeout} s:\n{out[-3000:]}") from None


def last_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def command_line(args):
    """The command as the tests give it (the full path of sweep.py), as the sweep repeats it."""
    import shlex
    return "python " + shlex.join([os.path.join(REPO, "sweep.py"), *args])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_stops_the_sweep_and_the_same_command_continues_it_without_an_output_dir(signum, uninterrupted,
                                                                                           tmp_path):
    args = ["autoencoder.py", *FIXED, *GRID]
    child = _start(args, tmp_path)
    runs = tmp_path / "runs"
    start = time.time()
    while not (runs.exists() and list(runs.glob("*/trials/*/checkpoint.npz"))):
        assert time.time() - start < 300 and child.poll() is None, "no checkpoint appeared"
        time.sleep(0.05)
    os.kill(child.pid, signum)  # the command alone, as `kill` does; a closed terminal sends SIGHUP
    out = ended(child, 120)
    assert child.returncode == 128 + signum, out
    assert "Traceback" not in out
    said = last_line(out)
    assert said == (f"stopped by {signal.Signals(signum).name}: the same command continues the sweep: "
                    f"{command_line(args)} (running trials resume from their checkpoints)"), out
    [folder] = list(runs.iterdir())  # the folder follows from the settings: runs/sweep-autoencoder-<digest>
    assert folder.name.startswith("sweep-autoencoder-")
    if signum != signal.SIGTERM:
        return  # the same way on: SIGTERM's case goes on to continue the sweep
    again = sweep(args, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"in {os.path.join('runs', folder.name)} (continued)" in again.stdout
    assert list(runs.iterdir()) == [folder]
    same_numbers(folder, uninterrupted)
    # one HParams configuration for the sweep, however often it was started
    assert len(list((folder / "trials").glob("events.out.tfevents.*"))) == 1


def test_a_database_away_for_seconds_is_waited_for_and_nothing_runs_twice(postgres, uninterrupted, tmp_path):
    args = ["autoencoder.py", *FIXED, *GRID, "--storage", postgres, "--output-dir", "pg"]
    child = _start(args, tmp_path)
    _wait_for_checkpoint(tmp_path / "pg")
    postgres.stop()  # a restart, with the server away long enough to be noticed
    time.sleep(6)
    postgres.start()
    out = ended(child, 600)
    assert child.returncode == 0, out
    assert "Traceback" not in out
    assert f"the storage {postgres} is not answering" in out and f"the storage {postgres} is back" in out, out
    same_numbers(tmp_path / "pg", uninterrupted)
    for trial in (tmp_path / "pg" / "trials").iterdir():  # every epoch trained once
        if trial.is_dir():
            assert (trial / "log.txt").read_text().count("Epoch 2/2") == 1, trial


def test_a_database_gone_for_good_stops_the_sweep_in_one_line(postgres, tmp_path):
    args = ["autoencoder.py", *FIXED, *GRID, "--storage", postgres, "--output-dir", "pg", "--storage-timeout", "5"]
    child = _start(args, tmp_path)
    _wait_for_checkpoint(tmp_path / "pg")
    postgres.stop()
    out = ended(child, 90)
    assert child.returncode == 1, out
    assert "Traceback" not in out
    said = last_line(out)
    assert said.startswith(f"error: the storage {postgres} has not answered for 5 s ("), out
    assert said.endswith(f"the same command continues the sweep: {command_line(args)}"), said


def _mount_tmpfs(folder, size):
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or mounted.returncode})")


@pytest.mark.parametrize("study", ["on the disk", "elsewhere"])
def test_a_full_disk_stops_the_sweep_in_one_line_and_the_same_command_continues(study, uninterrupted, tmp_path):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "64m")
    try:
        storage = [] if study == "on the disk" else ["--storage", f"sqlite:///{tmp_path / 'study.db'}"]
        args = ["autoencoder.py", *FIXED, *GRID, "--output-dir", str(disk / "sweep"), *storage]
        child = _start(args, tmp_path)
        folder = disk / "sweep"
        start = time.time()
        while not list(folder.glob("trials/*/result.json")):  # one trial done, others under way
            assert time.time() - start < 300 and child.poll() is None, "no trial finished"
            time.sleep(0.05)
        with open(disk / "filler", "wb") as filler:  # the disk fills up, as another program would fill it
            try:
                while True:
                    filler.write(b"\0" * (1 << 20))
                    filler.flush()
            except OSError:
                pass
        out = ended(child, 300)
        assert child.returncode == 1, out
        assert "Traceback" not in out
        said = last_line(out)
        assert said.startswith("error:") and "free some space" in said, out
        assert said.endswith(f"the same command continues the sweep: {command_line(args)}"), said
        (disk / "filler").unlink()
        again = sweep(args, cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        same_numbers(folder, uninterrupted)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_worker_killed_again_and_again_stops_the_sweep_with_how_it_ended(tmp_path):
    args = ["autoencoder.py", *FIXED, *GRID, "--output-dir", "killed"]
    child = _start(args, tmp_path)
    done = threading.Event()

    def killer():  # every worker, as soon as it has started, as a crash in the backend would end it
        while not done.is_set() and child.poll() is None:
            for pid in _workers(child.pid):
                try:
                    if b"spawn_main" in open(f"/proc/{pid}/cmdline", "rb").read():
                        os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.2)
    thread = threading.Thread(target=killer)
    thread.start()
    try:
        out = ended(child, 240)
    finally:
        done.set()
        thread.join()
    assert child.returncode == 1, out
    assert "Traceback" not in out
    said = last_line(out)
    assert " died 3 times in a row without finishing a trial, the last time killed by SIGKILL; the end of " in said
    assert said.endswith(f"the same command continues the sweep: {command_line(args)}"), said
    # what the same command then does (the killed trials resumed) is test_sweep.py's kill test


def test_a_worker_ended_by_the_out_of_memory_killer_is_named_as_such():
    from convae.sweep.workers import ending
    assert ending(-signal.SIGKILL, oom=True).startswith("killed by the kernel's out-of-memory killer")
    assert ending(-signal.SIGKILL, oom=False) == "killed by SIGKILL"
    assert ending(-signal.SIGSEGV, oom=True) == "killed by SIGSEGV"
    assert ending(3, oom=False) == "with exit status 3"


def test_a_result_edited_by_hand_runs_its_trial_again(uninterrupted, tmp_path):
    folder = tmp_path / "edited"
    args = ["autoencoder.py", *FIXED, *GRID, "--output-dir", str(folder)]
    first = sweep(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (folder / "study.db").unlink()  # the study lost (a copy of the folder without it), and a result cut short
    (folder / "trials" / "c001-s1" / "result.json").write_text("{ cut short")
    again = sweep(args, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Traceback" not in again.stdout + again.stderr
    same_numbers(folder, uninterrupted)


def test_a_study_deleted_under_a_running_sweep_stops_it_in_one_line(tmp_path):
    import optuna
    args = ["autoencoder.py", *FIXED, *GRID, "--output-dir", "deleted"]
    child = _start(args, tmp_path)
    _wait_for_checkpoint(tmp_path / "deleted")
    optuna.delete_study(study_name="sweep", storage=f"sqlite:///{tmp_path / 'deleted' / 'study.db'}")
    out = ended(child, 120)
    assert child.returncode == 1, out
    assert "Traceback" not in out
    assert last_line(out).startswith("error: the study 'sweep' is gone from the storage sqlite:///"), out
