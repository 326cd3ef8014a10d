"""convae/internals.py: every Keras, TensorFlow and Optuna internal the project relies on is still where it was.

When one of these fails after an upgrade, the message names the internal and the versions the
project was written for; the fix belongs in convae/internals.py alone.
"""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, script_env

FIXTURES = os.path.join(REPO, "tests", "fixtures", "keras2")


def versions():
    import keras
    import tensorflow
    from convae.internals import TESTED_WITH
    return f"installed: Keras {keras.__version__}, TensorFlow {tensorflow.__version__}; written for {TESTED_WITH}"


@pytest.fixture
def internals():
    from convae import internals
    from convae.backend import keras
    keras()
    return internals


def test_onednn_follows_the_project_default_and_the_users_setting(internals):
    check = ("import os, convae.backend as b, convae.internals as i; b.keras(); "
             "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), i.onednn_enabled())")
    seen = {}
    for setting in (None, "0"):  # the project's default (1), and a user's own setting winning over it
        env = {k: v for k, v in script_env().items() if k != "TF_ENABLE_ONEDNN_OPTS"}
        if setting is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = setting
        done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, f"{done.stderr[-1000:]}\n{versions()}"
        seen[setting] = " ".join(done.stdout.split()[-2:])
    assert seen == {None: "1 True", "0": "0 False"}, (seen, versions())


def test_a_keras2_file_loads_through_the_legacy_loader(internals):
    import h5py
    import json
    with h5py.File(os.path.join(FIXTURES, "sequential_input_shape.h5"), "r") as f:
        config = json.loads(f.attrs["model_config"])
        model = internals.load_keras2_model(config, f["model_weights"], {})
    assert model.count_params() > 0 and any(w.numpy().std() > 0 for w in model.weights), versions()


def test_a_keras2_sequential_built_but_never_called_records_its_input_shape(internals):
    from convae.encoder import _load_keras2
    model = _load_keras2(os.path.join(FIXTURES, "sequential_built.h5"))
    assert tuple(internals.recorded_input_shape(model)) == (None, 28, 28, 1), versions()


def test_normalization_takes_statistics_computed_elsewhere(internals):
    from convae.backend import keras
    layer = keras().layers.Normalization()
    layer.build((None, 3))
    internals.set_normalization_statistics(layer, np.array([1.0, 2.0, 3.0], "float32"),
                                           np.array([4.0, 1.0, 0.25], "float32"))
    out = keras().ops.convert_to_numpy(layer(np.array([[3.0, 3.0, 3.0]], "float32")))
    np.testing.assert_allclose(out, [[1.0, 1.0, 0.0]], atol=1e-5, err_msg=versions())


def test_another_process_trial_is_failed_once_and_given_back_as_stored(internals, tmp_path):
    import optuna
    from optuna.trial import TrialState
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}")
    running = study.ask()
    trial = study.get_trials(deepcopy=False)[0]
    failed = internals.fail_trial(study, trial)
    assert failed.number == running.number and failed.state == TrialState.FAIL
    assert study.get_trials()[0].state == TrialState.FAIL
    assert internals.fail_trial(study, trial) is None  # another process got there first: left as it is


def test_a_moved_internal_is_named_with_the_versions(internals, monkeypatch):
    import keras.src.legacy.saving.saving_utils as utils
    monkeypatch.delattr(utils, "model_from_config")
    with pytest.raises(internals.InternalMoved, match=r"saving_utils\.model_from_config is gone; .* written for "
                                                      r"Keras 3\.15 and TensorFlow 2\.21"):
        internals.load_keras2_model({}, None, {})


def test_a_compiled_model_takes_steps_per_execution_and_a_train_function(internals):
    from convae.backend import keras
    k = keras()
    model = k.Sequential([k.Input((3,)), k.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    assert internals.jax_train_function(model) is None, versions()  # compile() leaves none made
    internals.set_steps_per_execution(model, 3)
    x = np.zeros((12, 3), "float32")
    history = model.fit(x, x[:, :1], batch_size=2, epochs=1, verbose=0)  # 6 steps in 2 executions of 3
    assert model.steps_per_execution == 3 and len(history.history["loss"]) == 1, versions()
    done = []
    internals.set_jax_train_function(model, done.append)
    assert internals.jax_train_function(model) == done.append, versions()


HIDDEN = """
import sys, numpy as np
from convae.backend import keras, seed_everything
k = keras()
seed_everything(1)
model = k.Sequential([k.Input((3,)), k.layers.Dense(2)])
x = np.ones((2, 3), "float32")
for path in ("m.h5", "m.keras"):
    model.save(path)
    loaded = k.models.load_model(path, compile=False)
    print(path, np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0)))
print("tensorflow imported:", "tensorflow" in sys.modules)
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_under_jax_keras_seeds_saves_and_loads_without_importing_tensorflow(tmp_path):
    done = subprocess.run([sys.executable, "-c", HIDDEN], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(script_env(), KERAS_BACKEND="jax"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["m.h5 True", "m.keras True", "tensorflow imported: False"], versions()
