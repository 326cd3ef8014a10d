"""sweep.py's search that spends where it pays, end to end on the sample: --prune, a second objective
(--against), and trials that each train their own autoencoder (--autoencoder) for an ensemble."""
import csv
import hashlib
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, script_env
from test_sweep import rows, sweep

TINY = ["-d", TRAIN_IMAGES, "--layers", "2", "--filters", "4,8", "--kernel", "3", "--limit", "300"]


def study_of(folder):
    import optuna
    return optuna.load_study(storage=f"sqlite:///{folder / 'study.db'}", study_name="sweep")


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    """A search of 6 batch sizes x 2 seeds, 3 epochs each, pruned; one worker, so that its draws repeat."""
    folder = tmp_path_factory.mktemp("prune")
    command = ["autoencoder.py", *TINY, "--epochs", "3", "--search", "batch-size=8:300:log", "--trials", "6",
               "--seeds", "1-2", "--prune", "--workers", "1", "--output-dir", "p"]
    result = sweep(command, cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder, command, result


def test_pruned_trials_stop_early_are_recorded_as_pruned_and_their_other_seeds_never_run(pruned):
    folder, _, result = pruned
    found = rows(folder / "p")
    firsts = {name: row for name, row in found.items() if name.endswith("-s1")}
    assert len(firsts) == 6
    stopped = {name: row for name, row in firsts.items() if row["status"] == "pruned"}
    finished = {name: row for name, row in firsts.items() if row["status"] == "complete"}
    assert stopped and finished and len(stopped) + len(finished) == 6, found
    for name, row in stopped.items():  # stopped at a rung (epoch 1 or 3: successive halving's); seed 2 never queued
        assert row["pruned_at"] in ("1", "3") and row["epochs_run"] == row["pruned_at"] and row["val_loss"]
        assert name.replace("-s1", "-s2") not in found
        assert not (folder / "p" / "trials" / name / "model.h5").exists()
        assert f"trial {name} pruned after epoch {row['pruned_at']}" in result.stdout
    assert any(row["pruned_at"] == "1" for row in stopped.values())  # some stopped before they had run their course
    for name in finished:  # a configuration that survived its first seed runs its other seeds, unpruned
        assert found[name.replace("-s1", "-s2")]["status"] == "complete"
        assert found[name]["epochs_run"] == "3" and found[name.replace("-s1", "-s2")]["epochs_run"] == "3"
    # Optuna's own record: every first seed reported its validation loss after each epoch it ran
    import optuna
    study = study_of(folder / "p")
    for trial in study.get_trials():
        attrs = trial.user_attrs
        if attrs.get("seed") == 1:
            epochs = int(found[attrs["folder"]]["epochs_run"])
            assert sorted(trial.intermediate_values) == list(range(1, epochs + 1))
            assert trial.intermediate_values[epochs] == pytest.approx(float(found[attrs["folder"]]["val_loss"]),
                                                                       abs=1e-4)
            assert (trial.state == optuna.trial.TrialState.PRUNED) == (attrs["folder"] in stopped)
        else:
            assert not trial.intermediate_values
    # the statistics count the complete configurations only; the summary says how many were pruned
    summary = (folder / "p" / "summary.md").read_text()
    assert f"{2 * len(finished)} of 12 trials complete, {len(stopped)} pruned" in summary
    table = [line for line in summary.splitlines() if line.startswith("| ") and "| 2 |" in line]
    assert len(table) == len(finished), summary
    # TensorBoard's HParams tab holds the epoch a pruned trial stopped at
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(folder / "p" / "trials" / next(iter(stopped)) / "tensorboard"))
    events.Reload()
    assert "pruned_at" in events.Tags()["tensors"]


def test_a_pruned_sweep_continued_runs_nothing_again(pruned):
    folder, command, _ = pruned
    before = {p: os.path.getmtime(p) for p in (folder / "p" / "trials").glob("*/result.json")}
    tried = len(study_of(folder / "p").get_trials())
    again = sweep(command, cwd=folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "(continued)" in again.stdout
    assert len(study_of(folder / "p").get_trials()) == tried  # nothing queued or run again
    assert {p: os.path.getmtime(p) for p in (folder / "p" / "trials").glob("*/result.json")} == before


def test_a_second_objective_makes_a_multi_objective_study_and_a_pareto_front(tmp_path):
    result = sweep(["autoencoder.py", *TINY, "--grid", "epochs=1,2", "--seeds", "1-2", "--against", "minutes",
                    "--output-dir", "m", "--no-tensorboard"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    study = study_of(tmp_path / "m")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val_loss", "minutes"]
    found = rows(tmp_path / "m")
    for trial in study.get_trials():
        row = found[trial.user_attrs["folder"]]
        assert trial.values == [pytest.approx(float(row["val_loss"]), abs=1e-4),
                                pytest.approx(float(row["minutes"]), abs=1e-4)]
    summary = (tmp_path / "m" / "summary.md").read_text()
    assert "## Pareto front: val_loss against minutes" in summary
    front = summary.split("## Pareto front")[1].split("\n\n")[2].splitlines()[2:]
    assert 1 <= len(front) <= 2 and (tmp_path / "m" / "pareto.png").stat().st_size > 0


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    ae_flags = "--layers 2 --filters 4,8 --epochs 1 --batch-size 32 --limit 300"
    result = sweep(["classification.py", "-d", TRAIN_IMAGES, "-dl", TRAIN_LABELS, "-t", TEST_IMAGES, "-tl",
                    TEST_LABELS, "--limit", "300", "--fc-units", "8", "--epochs", "1", "--fine-tune-epochs", "1",
                    "--batch-size", "32", "--tta", "1", "--seeds", "1-2", "--ensemble", "2", "--autoencoder",
                    ae_flags, "--output-dir", "own", "--no-tensorboard"], cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder, ae_flags.split()


def test_each_trial_trains_its_own_autoencoder_with_its_seed_as_autoencoder_py_would(own, tmp_path):
    folder, ae_flags = own
    trials = folder / "own" / "trials"
    digests = []
    for seed in (1, 2):
        own_ae = trials / f"c000-s{seed}" / "autoencoder"
        described = json.loads((own_ae / "model.json").read_text())
        assert described["seed"] == seed and described["hyperparameters"]["filters"] == [4, 8]
        classifier = json.loads((trials / f"c000-s{seed}" / "model.json").read_text())
        assert classifier["autoencoder"].endswith(f"c000-s{seed}/autoencoder/model.h5")
        digests.append(hashlib.md5((own_ae / "model.h5").read_bytes()).hexdigest())
    assert digests[0] != digests[1]
    # the trial's autoencoder is autoencoder.py's with those flags and that seed (on one core, as the worker)
    alone = subprocess.run([sys.executable, os.path.join(REPO, "autoencoder.py"), "-d", TRAIN_IMAGES, *ae_flags,
                            "--seed", "2", "--no-input", "--output-dir", "out", "--save", "ae.h5"], cwd=tmp_path,
                           capture_output=True, text=True, env=script_env(),
                           preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    assert alone.returncode == 0, alone.stderr
    assert json.loads((tmp_path / "ae.json").read_text())["history"] == \
        json.loads((trials / "c000-s2" / "autoencoder" / "model.json").read_text())["history"]
    # the trial's minutes are the whole pipeline's: its classifier's (experiments.csv) and its autoencoder's
    result = json.loads((trials / "c000-s1" / "result.json").read_text())
    with open(trials / "c000-s1" / "experiments.csv") as f:
        classifier_minutes = float(next(csv.DictReader(f))["minutes"])
    assert result["autoencoder"]["minutes"] > 0
    assert result["minutes"] == pytest.approx(classifier_minutes + result["autoencoder"]["minutes"], abs=1e-3)


def test_an_ensemble_of_independent_pipelines_says_what_it_gains_and_what_its_members_share(own):
    folder, _ = own
    record = json.loads((folder / "own" / "ensemble.json").read_text())
    assert record["autoencoders"] == "one per member (--autoencoder)"
    best, ensemble = record["single_best_by_validation"]["test_errors"], record["ensemble_test_errors"]
    versus = record["against_the_best"]
    # paired image by image: the difference in errors is what only one of the two got wrong
    assert versus["only_the_best_wrong"] - versus["only_the_ensemble_wrong"] == best - ensemble
    from scipy.stats import binomtest
    n = versus["only_the_best_wrong"] + versus["only_the_ensemble_wrong"]
    assert versus["mcnemar_p"] == pytest.approx(binomtest(versus["only_the_best_wrong"], n, 0.5).pvalue if n else 1)
    shared = record["members_errors_shared"]
    errors = [m["test_errors"] for m in record["members"]]
    assert shared["all"] <= min(errors) <= max(errors) <= shared["any"] <= sum(errors)
    summary = (folder / "own" / "summary.md").read_text()
    assert "Each member trained its own autoencoder (--autoencoder)" in summary and "McNemar" in summary
    with open(folder / "own" / "results.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["complete", "complete"]
