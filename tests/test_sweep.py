"""sweep.py: a grid over the sample end to end, a failed trial, a kill and a resume, bad input refused,
two machines' workers sharing a PostgreSQL server, an ensemble of classifiers."""
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import (REPO, TRAIN_IMAGES, assert_clean_error, classification_args, script_env)

# 2 x 2 configurations x 2 seeds; --layers 1 does not fit --filters 4,8: those four trials fail
GRID = ["--grid", "dropout=0,0.2", "--grid", "layers=2,1", "--seeds", "1-2"]
FIXED = ["-d", TRAIN_IMAGES, "--filters", "4,8", "--kernel", "3", "--epochs", "2", "--batch-size", "32",
         "--limit", "300"]


def sweep(args, cwd, timeout=600, env=None):
    return subprocess.run([sys.executable, os.path.join(REPO, "sweep.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env or script_env())


def rows(folder):
    with open(folder / "results.csv") as f:
        return {row["trial"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The grid above, run uninterrupted by one worker."""
    folder = tmp_path_factory.mktemp("sweep")
    result = sweep(["autoencoder.py", *FIXED, *GRID, "--output-dir", "grid"], cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / "grid", result


def test_a_grid_runs_every_trial_once_as_the_script_would_and_reports(grid, tmp_path):
    folder, result = grid
    found = rows(folder)
    assert sorted(found) == [f"c00{c}-s{s}" for c in range(4) for s in (1, 2)]
    complete = {k: r for k, r in found.items() if r["status"] == "complete"}
    failed = {k: r for k, r in found.items() if r["status"] == "failed"}
    assert {r["layers"] for r in complete.values()} == {"2"} and {r["layers"] for r in failed.values()} == {"1"}
    assert {(r["dropout"], r["seed"]) for r in complete.values()} == {("0", "1"), ("0", "2"), ("0.2", "1"),
                                                                      ("0.2", "2")}
    # a combination the network refuses is failed with its one-line reason; the others went on
    assert all("--filters: expected one filter count per layer (1 values)" in r["error"] for r in failed.values())
    # in a pipe, one line per finished trial
    assert sum(line.startswith("trial c") for line in result.stdout.splitlines()) == 8, result.stdout
    # each trial's folder holds the script's usual outputs, its saved model and its TensorBoard logs
    for name in complete:
        trial = folder / "trials" / name
        for file in ("experiment-1-loss.png", "experiment-1-reconstructions.png", "experiments.csv", "model.h5",
                     "model.json", "result.json"):
            assert (trial / file).exists(), (name, file)
        assert not (trial / "checkpoint.npz").exists()
        assert list((trial / "tensorboard").rglob("events.out.tfevents.*"))
    # a trial is the script with those flags, --no-input and that seed: the same numbers, though this trial
    # ran in a worker after others. On 2 cores the default is two workers, each on one core (one thread):
    # the script on one core is the run to compare with (on two, TensorFlow sums in another order)
    last = json.loads((folder / "trials" / "c002-s2" / "model.json").read_text())
    assert last["hyperparameters"]["dropout"] == 0.2 and last["seed"] == 2
    assert "2 workers, each on one CPU core" in result.stdout
    alone = subprocess.run([sys.executable, os.path.join(REPO, "autoencoder.py"), *FIXED, "--layers", "2",
                            "--dropout", "0.2", "--seed", "2", "--no-input", "--output-dir", "out", "--save", "ae.h5"],
                           cwd=tmp_path, capture_output=True, text=True, env=script_env(),
                           preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    assert alone.returncode == 0, alone.stderr
    assert json.loads((tmp_path / "ae.json").read_text())["history"] == last["history"]
    assert float(complete["c002-s2"]["val_loss"]) == pytest.approx(last["history"]["val_loss"][-1], abs=1e-4)
    # the summary: one row per configuration that ran, best first, compared with the best paired over seeds
    summary = (folder / "summary.md").read_text()
    table = [line for line in summary.splitlines() if line.startswith("| 0")]
    assert len(table) == 2 and all("| 2 |" in line for line in table), summary
    means = [np.mean([float(r["val_loss"]) for r in complete.values() if r["dropout"] == d]) for d in ("0", "0.2")]
    best = "0" if means[0] <= means[1] else "0.2"
    cells = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert cells[:3] == [best, "2", "2"] and "best" in cells, summary
    assert float(cells[3]) == pytest.approx(min(means), abs=1.5e-4)  # the CSV's values are rounded to 4 places
    assert "paired t-test" in summary and ("within seed noise" in table[1] or "differs" in table[1])
    assert "Failed trials:" in summary and "c001-s1" in summary
    for figure in ("metric-vs-dropout.png", "metric-vs-layers.png", "heatmap.png", "learning-curves.png"):
        assert (folder / figure).stat().st_size > 0, figure


def test_optunas_dashboard_serves_the_sweep_with_named_objectives_numbers_and_no_seed(grid):
    """optuna-dashboard (an optional dependency, docs/sweeps.md) on the grid's study: its HTTP API on a
    loopback port names the objective, stores the grid's numbers as numbers and keeps the seed out of the
    search space (a user attribute), so that its plots and importances read right."""
    pytest.importorskip("optuna_dashboard")
    import urllib.request
    folder, _ = grid
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", "from optuna_dashboard._cli import main; main()",
                               f"sqlite:///{folder / 'study.db'}", "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as answer:
                    studies = json.load(answer)["study_summaries"]
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                time.sleep(0.5)
        else:
            pytest.fail("optuna-dashboard did not answer in 60 s")
        assert [s["study_name"] for s in studies] == ["sweep"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}?after=0",
                                    timeout=30) as answer:
            study = json.load(answer)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert study.get("objective_names") == ["val_loss"]
    space = {p["name"]: p["distribution"] for p in study["union_search_space"]}
    assert sorted(space) == ["dropout", "layers"]  # the seed is no hyperparameter
    assert space["dropout"]["type"] == "FloatDistribution" and space["layers"]["type"] == "IntDistribution"
    complete = [t for t in study["trials"] if t["state"] == "Complete"]
    assert len(complete) == 4
    for trial in complete:
        params = {p["name"]: p["param_internal_value"] for p in trial["params"]}
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert params["layers"] == 2 and params["dropout"] in (0.0, 0.2)
        assert attrs["seed"] in ("1", "2") and attrs["folder"].endswith("-s" + attrs["seed"])


def test_report_redraws_from_the_study(grid, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(grid[0], folder)
    for name in ("summary.md", "results.csv", "heatmap.png"):
        (folder / name).unlink()
    result = sweep(["--report", str(folder)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert rows(folder) == rows(grid[0])
    assert (folder / "summary.md").read_text() == (grid[0] / "summary.md").read_text().replace(
        str(grid[0]), str(folder))
    assert (folder / "heatmap.png").exists()


def _start(args, cwd):
    return subprocess.Popen([sys.executable, os.path.join(REPO, "sweep.py"), *args], cwd=cwd, env=script_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for_checkpoint(folder, skip=(), timeout=300):
    """The trial folder where a checkpoint first appears (a trial between its two epochs)."""
    start = time.time()
    while time.time() - start < timeout:
        for checkpoint in (folder / "trials").glob("*/checkpoint.npz") if (folder / "trials").exists() else []:
            if checkpoint.parent.name not in skip:
                return checkpoint.parent
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


def _running(workers, trial):
    """The worker whose trial is `trial`: the one that holds its log open."""
    for pid in workers:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(trial / "log.txt"):
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker runs {trial}")


def _workers(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_worker_killed_alone_and_then_the_whole_sweep_lose_nothing(grid, tmp_path):
    command = ["autoencoder.py", *FIXED, *GRID, "--output-dir", "killed"]
    folder = tmp_path / "killed"
    child = _start(command, tmp_path)
    first = _wait_for_checkpoint(folder)
    workers = [pid for pid in _workers(child.pid) if b"spawn_main" in open(f"/proc/{pid}/cmdline", "rb").read()]
    assert len(workers) == 2
    os.kill(_running(workers, first), signal.SIGKILL)  # the worker of that trial alone, during it
    # the command queues that trial again and starts a worker that resumes it; then the whole sweep is killed
    second = _wait_for_checkpoint(folder, skip={first.name})
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    done = sweep(command, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    theirs, ours = rows(grid[0]), rows(folder)
    assert sorted(ours) == sorted(theirs)
    for name, row in theirs.items():  # the same numbers as the uninterrupted sweep's
        assert (ours[name]["status"], ours[name]["loss"], ours[name]["val_loss"]) == \
            (row["status"], row["loss"], row["val_loss"]), name
    for trial in (first, second):  # resumed from their checkpoints, each epoch trained once
        log = (trial / "log.txt").read_text()
        assert "--resume" in log and "resumed after epoch 1" in log, log
        assert log.count("Epoch 1/2") == 1, log


BAD = [
    ("an unknown flag name", ["--grid", "nonsense=1,2"], ["--grid nonsense: not a flag the sweep can vary",
                                                         "layers, kernel, filters"]),
    ("a value the script refuses", ["--grid", "dropout=0,1.5"],
     ["--grid dropout: expected a number from 0 to 1 (not 1 itself), got 1.5"]),
    ("too many layers", ["--grid", "layers=2,9"], ["--grid layers: expected an integer from 1 to 6, got 9"]),
    ("an empty grid", ["--grid", "dropout="], ["--grid dropout: no values"]),
    ("seeds upside down", ["--seeds", "3-1"], ["--seeds 3-1: 3-1: the range ends before it begins"]),
    ("seeds that are not numbers", ["--seeds", "a,b"], ["--seeds a,b: expected seeds such as 1-3 or 1,2,5"]),
    ("a search range upside down", ["--search", "dropout=0.5:0.1"], ["the range is upside down"]),
    ("a log range from 0", ["--search", "dropout=0:0.5:log"], ["a log scale needs a range above 0"]),
    ("a dimension also fixed", ["--grid", "dropout=0,0.2", "--dropout", "0.1"],
     ["--dropout is both a dimension and a fixed flag"]),
    ("a flag the sweep sets", ["--seed", "3"], ["--seed is the sweep's to set for each trial"]),
    ("an unreachable storage", ["--storage", "postgresql://me:secret@127.0.0.1:9/db"],
     ["cannot reach the storage postgresql://me:***@127.0.0.1:9/db", "Connection refused"]),
    ("a missing data file", ["-d", "nothing.gz"], ["nothing.gz: no such file"]),
]


@pytest.mark.parametrize("name, extra, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_before_any_trial_with_nothing_written(tmp_path, name, extra, words):
    result = sweep(["autoencoder.py", *FIXED, *extra, "--output-dir", "out"], cwd=tmp_path)
    assert_clean_error(result, *words)
    assert "secret" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_another_grid_or_other_fixed_flags_on_an_existing_sweep_are_refused(grid, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(grid[0], folder)
    before = sorted(p.name for p in folder.rglob("*"))
    other_grid = ["--grid", "dropout=0,0.3", "--grid", "layers=2,1", "--seeds", "1-2"]
    assert_clean_error(sweep(["autoencoder.py", *FIXED, *other_grid, "--output-dir", "copy"], cwd=tmp_path),
                       "holds a sweep of other dimensions", "--dropout in {0; 0.2}")
    assert_clean_error(sweep(["autoencoder.py", *FIXED, "--epochs", "3", *GRID, "--output-dir", "copy"],
                             cwd=tmp_path), "holds a sweep of other fixed")
    assert sorted(p.name for p in folder.rglob("*")) == before


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_bin():
    for version in ("17", "16", "15", "14", "13"):
        folder = f"/usr/lib/postgresql/{version}/bin"
        if os.path.exists(os.path.join(folder, "initdb")):
            return folder
    return "/usr/lib/postgresql/15/bin"  # where .ci/run installs it


@pytest.fixture
def postgres():
    """A real PostgreSQL server on a free loopback port, run by an unprivileged user (initdb refuses root),
    in a folder of its own that the user can reach (pytest's are private to root)."""
    binaries = _postgres_bin()
    if not os.path.exists(binaries):
        pytest.skip(f"{binaries} is absent")
    import tempfile
    home = tempfile.mkdtemp(prefix="sweep-postgres-")
    data = os.path.join(home, "data")
    os.mkdir(data)
    user = "nobody" if os.geteuid() == 0 else None
    as_user = ["runuser", "-u", user, "--"] if user else []
    if user:
        for path in (home, data):
            shutil.chown(path, user)
    port = _free_port()
    quiet = {"check": True, "capture_output": True, "cwd": home}
    subprocess.run([*as_user, f"{binaries}/initdb", "-D", data, "-U", "sweeper", "--auth=trust"], **quiet)

    class Server(str):
        """The server's URL, and its pg_ctl: start() and stop() (fast: what a restart does)."""

        def start(self):
            subprocess.run([*as_user, f"{binaries}/pg_ctl", "-D", data, "-l", os.path.join(home, "log"), "-w", "-o",
                            f"-p {port} -k {home} -c listen_addresses=127.0.0.1", "start"], **quiet)

        def stop(self, mode="fast"):
            subprocess.run([*as_user, f"{binaries}/pg_ctl", "-D", data, "-m", mode, "stop"], capture_output=True,
                           cwd=home)
    server = Server(f"postgresql://sweeper@127.0.0.1:{port}/postgres")
    server.start()
    yield server
    server.stop("immediate")
    shutil.rmtree(home, ignore_errors=True)


def test_two_machines_share_one_sweep_through_postgresql(postgres, tmp_path):
    """Two commands started apart, sharing only the storage URL, each with its own folder (a machine)."""
    command = ["autoencoder.py", *FIXED, "--epochs", "1", "--layers", "2", "--grid", "dropout=0,0.1,0.2",
               "--seeds", "1-2", "--storage", postgres, "--study", "shared", "--workers", "1"]
    machines = [tmp_path / "a", tmp_path / "b"]
    children = [_start(command + ["--output-dir", str(m)], tmp_path) for m in machines]
    for child in children:
        out, _ = child.communicate(timeout=600)
        assert child.returncode == 0, out
    ran = [sorted(p.name for p in (m / "trials").iterdir() if p.is_dir()) if (m / "trials").exists() else []
           for m in machines]
    every = sorted(ran[0] + ran[1])
    assert every == [f"c00{c}-s{s}" for c in range(3) for s in (1, 2)], ran  # each trial once, on one machine
    for machine in machines:  # either machine's results.csv lists the whole study
        found = rows(machine)
        assert sorted(found) == every and all(r["status"] == "complete" for r in found.values())
    hosts = {r["worker"] for r in rows(machines[0]).values()}
    assert hosts == {"1"}


@pytest.fixture(scope="module")
def ensemble(tiny_autoencoder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    result = sweep(["classification.py", *classification_args(tiny_autoencoder), "--limit", "300", "--fc-units", "8",
                    "--epochs", "1", "--fine-tune-epochs", "1", "--batch-size", "32", "--tta", "5", "--seeds", "1-3",
                    "--ensemble", "2", "--output-dir", "ens"], cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / "ens", result


def test_an_ensemble_averages_the_best_classifiers_on_the_test_set(ensemble):
    folder, result = ensemble
    record = json.loads((folder / "ensemble.json").read_text())
    found = rows(folder)
    best = sorted(found.values(), key=lambda r: -float(r["val_accuracy"]))[:2]
    assert [m["trial"] for m in record["members"]] == [r["trial"] for r in best]
    from convae.backend import keras
    from convae.idx import read_idx_images, read_idx_labels
    from conftest import TEST_IMAGES, TEST_LABELS
    x = read_idx_images(TEST_IMAGES).astype(np.float32)[..., None] / 255
    y = read_idx_labels(TEST_LABELS)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    views = [padded[:, 1 - dy:29 - dy, 1 - dx:29 - dx] for dy, dx in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))]
    probabilities = []
    for member in record["members"]:
        model = keras().models.load_model(str(folder / "trials" / member["trial"] / "model.h5"), compile=False)
        p = np.mean([model.predict(v, verbose=0) for v in views], axis=0)
        assert member["test_errors"] == int((p.argmax(axis=1) != y).sum())
        probabilities.append(p)
    assert record["ensemble_test_errors"] == int((np.mean(probabilities, axis=0).argmax(axis=1) != y).sum())
    assert "## Ensemble" in (folder / "summary.md").read_text()


def test_tensorboard_counts_the_epochs_across_both_stages(ensemble):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    logs = ensemble[0] / "trials" / "c000-s1" / "tensorboard" / "experiment-1" / "validation"
    events = EventAccumulator(str(logs))
    events.Reload()
    steps = [e.step for e in events.Tensors("epoch_loss")]
    assert steps == [0, 1]  # stage 1's epoch, then stage 2's: one curve
    history = json.loads((ensemble[0] / "trials" / "c000-s1" / "model.json").read_text())["history"]
    import tensorflow as tf
    values = [float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors("epoch_loss")]
    assert values == pytest.approx(history["val_loss"], rel=1e-5)
    hparams = EventAccumulator(str(ensemble[0] / "trials" / "c000-s1" / "tensorboard"))
    hparams.Reload()
    assert "_hparams_/session_start_info" in hparams.Tags()["tensors"]
