"""benchmarks/validation.py: scoring saved classifiers on the validation images they all held out."""
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, TINY_CL, TRAIN_IMAGES, TRAIN_LABELS, classification_args, run, script_env
from convae.records import description_path

SCRIPT = os.path.join(REPO, "benchmarks", "validation.py")


def load_validation():
    spec = importlib.util.spec_from_file_location("validation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("only_first, only_second, expected", [
    (0, 6, 2 / 64), (6, 0, 2 / 64), (1, 9, 2 * (1 + 10) / 1024), (9, 10, 1.0), (0, 0, 1.0), (2, 3, 1.0)])
def test_mcnemar_p_is_the_two_sided_binomial_tail(only_first, only_second, expected):
    assert load_validation().mcnemar_p(only_first, only_second) == pytest.approx(expected)


def test_two_classifiers_are_compared_image_by_image(seeded_classifier, tiny_autoencoder, tmp_path):
    # the seeded classifier (16 units) and one with 8 units, the same seed: the same images held out
    models = [str(seeded_classifier / "cl.h5"), str(tmp_path / "classifier-8.h5")]
    result = run("classification.py", classification_args(tiny_autoencoder) +
                 ["--no-input", "--seed", "5", *TINY_CL, "--fc-units", "8", "--save", models[1],
                  "--output-dir", str(tmp_path / "8")], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = subprocess.run([sys.executable, SCRIPT, "-d", TRAIN_IMAGES, "-dl", TRAIN_LABELS, *models],
                            capture_output=True, text=True, timeout=300, env=script_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    held_out = int(re.fullmatch(r"(\d+) validation images held out by every model", lines[0]).group(1))
    assert 0 < held_out < 300
    scores = [re.fullmatch(re.escape(path) + r" \((\d+) views?\): (\d+) wrong, accuracy [\d.]+%", line)
              for path, line in zip(models, (lines[1], lines[2]))]
    assert all(scores), lines
    # each model predicts as classification.py did: over the 9 views its JSON records (the default --tta)
    assert [int(score.group(1)) for score in scores] == [9, 9], lines
    wrong = [int(score.group(2)) for score in scores]
    for path, count in zip(models, wrong):
        recorded = json.loads(open(description_path(path)).read())["validation"]["val_accuracy_tta"]
        assert count == round((1 - recorded) * held_out), (path, count, recorded)
    match = re.fullmatch(r"  against " + re.escape(models[0]) + r": (\d+) wrong only here, (\d+) only there; "
                         r"McNemar p = ([\d.]+)", lines[3])
    only_second, only_first, p = int(match.group(1)), int(match.group(2)), float(match.group(3))
    assert wrong[0] - wrong[1] == only_first - only_second
    assert only_first <= wrong[0] and only_second <= wrong[1]
    assert p == pytest.approx(load_validation().mcnemar_p(only_first, only_second), abs=0.005)


def test_the_recipe_script_runs_both_scripts_with_its_settings(tmp_path):
    # benchmarks/accuracy.sh on the first 1,000 images of the bundled sample instead of the full MNIST:
    # the recipe's flags must be accepted by both scripts, reach the saved models and print the result line
    out = tmp_path / "recipe"
    env = dict(script_env(), MNIST_DIR=os.path.join(REPO, "datasets", "sample"), PYTHON=sys.executable, LIMIT="1000")
    result = subprocess.run(["bash", os.path.join(REPO, "benchmarks", "accuracy.sh"), str(out)], capture_output=True,
                            text=True, timeout=600, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"result \(recipe, seed 1\): (\d+) test errors of 1000 \(over 9 views\), test accuracy "
                         r"[\d.]+%, training accuracy [\d.]+% vs validation [\d.]+% \(gap -?[\d.]+ points, "
                         r"[\d.]+% over 9 views\), [\d.]+ minutes", last)
    assert match, last
    assert int(match.group(1)) < 100  # it learns: over 90% of the sample's test images (96% when written)
    autoencoder = json.loads((out / "autoencoder.json").read_text())
    assert autoencoder["settings"]["limit"] == 1000 and autoencoder["hyperparameters"]["epochs"] == 1
    classifier = json.loads((out / "classifier.json").read_text())
    hyper = classifier["hyperparameters"]
    assert (hyper["dropout"], hyper["encoder_dropout"], hyper["fine_tune_epochs"], hyper["batch_size"]) == \
        (0.2, 0.0, 9, 64)
    assert (classifier["settings"]["tta"], classifier["settings"]["limit"]) == (9, 1000)


def test_epoch_time_counts_from_one_epoch_line_to_the_next_per_worker():
    """benchmarks/epoch_time.py: an epoch's seconds run from the closing line of one epoch to the next
    (Keras 3's and Keras 2's lines), per worker log, after a marker where given; the first epoch
    is never counted."""
    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    spec = importlib.util.spec_from_file_location("epoch_time", os.path.join(REPO, "benchmarks", "epoch_time.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    keras3 = [(1.0, "Epoch 1/3"), (9.0, "51/51 - 8s - 150ms/step - loss: 0.4 - val_loss: 0.2"), (9.1, "Epoch 2/3"),
              (14.0, "51/51 - 5s - 96ms/step - loss: 0.2 - val_loss: 0.1"), (14.5, "Epoch 3/3"),
              (20.0, "51/51 - 6s - 110ms/step - loss: 0.1 - val_loss: 0.1"), (21.0, "Experiment 1: loss 0.1")]
    assert module.epoch_seconds(keras3) == pytest.approx([5.0, 6.0])
    keras2 = [(2.0, "52/52 - 7s - loss: 0.4 - val_loss: 0.2 - 7s/epoch - 130ms/step"), (3.0, "Stage 2"),
              (6.0, "52/52 - 3s - loss: 0.3 - 3s/epoch - 60ms/step"), (8.5, "52/52 - 2s - loss: 0.2 - 2s/epoch")]
    assert module.epoch_seconds(keras2) == pytest.approx([4.0, 2.5])
    assert module.epoch_seconds(keras2, after="Stage 2") == pytest.approx([2.5])
    workers = [(1.0, "a/log.txt\t51/51 - 9s - 1s/step - loss: 0.2"), (2.0, "b/log.txt\t51/51 - 9s - 1s/step"),
               (5.0, "a/log.txt\t51/51 - 4s - 1s/step - loss: 0.1"), (7.0, "b/log.txt\t51/51 - 5s - 1s/step")]
    assert module.epoch_seconds(workers) == pytest.approx([4.0, 5.0])


def test_claims_table_pairs_variants_by_seed_and_finds_where_a_curve_flattens():
    """benchmarks/claims.py: a variant against the reference is the mean difference over the seeds both
    ran, with scipy's paired t-test; a learning curve flattens where no later epoch gains 1%."""
    from scipy import stats
    spec = importlib.util.spec_from_file_location("claims", os.path.join(REPO, "benchmarks", "claims.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ref = {1: {"val_loss": "0.10"}, 2: {"val_loss": "0.12"}, 3: {"val_loss": "0.11"}}
    variant = {1: {"val_loss": "0.09"}, 2: {"val_loss": "0.115"}, 3: {"val_loss": "0.108"}, 4: {"val_loss": "0.5"}}
    variants = {"ref": ref, "variant": variant, "none": {}}
    p = stats.ttest_rel([0.09, 0.115, 0.108], [0.10, 0.12, 0.11]).pvalue
    sd = stats.tstd([0.09, 0.115, 0.108, 0.5])  # the mean and SD over all its seeds, the difference over 1-3
    assert module.cell(variants, "variant", "ref", module.val_loss, 3) == f"0.203 ({sd:.3f}); -0.006, p {p:.3f}"
    assert module.cell(variants, "ref", "ref", module.val_loss, 3) == "0.110 (0.010)"
    assert module.cell(variants, "none", "ref", module.val_loss, 3) == "not run"
    assert module.flattens([1.0, 0.5, 0.30, 0.299, 0.298, 0.2975]) == 3
    assert module.flattens([1.0, 0.5, 0.30, 0.298, 0.297, 0.2969]) == 4  # 0.2969 is 1.03% below 0.30
    assert module.flattens([1.0, 0.5, 0.30, 0.298, 0.297, 0.2969], within=0.001) == 5
    assert module.flattens([0.3, 0.2, 0.1]) == 3
