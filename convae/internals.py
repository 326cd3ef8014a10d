"""The one place where the project reaches into Keras's and TensorFlow's internals.

Each function here stands in for something the public APIs do not offer. When an upgrade moves
one of them, it fails here, with a message naming the internal and the versions it was written
for, rather than somewhere deep in training (tests/test_internals.py checks every one).
"""
import importlib

TESTED_WITH = "Keras 3.15 and TensorFlow 2.21"


class InternalMoved(RuntimeError):
    """A Keras or TensorFlow internal that this module relies on is no longer where it was."""


def _gone(what):
    return InternalMoved(f"{what} is gone; convae/internals.py was written for {TESTED_WITH}")


def _module(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        raise _gone(name) from None


def _attribute(owner, name, where):
    try:
        return getattr(owner, name)
    except AttributeError:
        raise _gone(f"{where}.{name}") from None


def onednn_enabled():
    """Whether TensorFlow runs its oneDNN kernels in this process (TF_ENABLE_ONEDNN_OPTS, or its
    default for this CPU); TensorFlow says so only in a start-up log line otherwise."""
    name = "tensorflow.python.util._pywrap_util_port"
    return bool(_attribute(_module(name), "IsMklEnabled", name)())


def hide_tensorflow_from_keras():
    """Under JAX or PyTorch, make Keras take TensorFlow for not installed, as on a machine without it.

    Where TensorFlow is installed, Keras imports it under the other backends too, only to seed it
    (keras.utils.set_random_seed) and to ask whether objects are TensorFlow's when it saves a model:
    seconds of every run's start, for nothing, since the project hands Keras no TensorFlow object
    there (its input pipeline is NumPy's). Keras asks through one lazy module.
    """
    name = "keras.src.utils.module_utils"
    lazy = _attribute(_module(name), "tensorflow", name)
    if not hasattr(lazy, "_available"):
        raise _gone(f"{name}.tensorflow._available")
    lazy._available = False


def load_keras2_model(config, weights_group, custom_objects):
    """What keras.models.load_model does with a Keras 2 .h5 file (keras/src/legacy/saving), from a
    configuration mended first: Keras's public functions take no configuration in this format.

    `config` is the file's model_config (parsed JSON), `weights_group` its h5py "model_weights" group.
    """
    package = "keras.src.legacy.saving"
    utils, legacy = _module(f"{package}.saving_utils"), _module(f"{package}.legacy_h5_format")
    model = _attribute(utils, "model_from_config", f"{package}.saving_utils")(config, custom_objects=custom_objects)
    _attribute(legacy, "load_weights_from_hdf5_group", f"{package}.legacy_h5_format")(weights_group, model)
    return model


def recorded_input_shape(model):
    """The input shape that a model never called on an input recorded when it was built (a Keras 2
    Sequential given build(input_shape)), or None: Keras keeps it only in _build_shapes_dict."""
    shapes = getattr(model, "_build_shapes_dict", None)
    return (shapes or {}).get("input_shape")


def set_normalization_statistics(layer, mean, variance):
    """Give a built keras.layers.Normalization the statistics that adapt() would have computed,
    computed elsewhere (a chunk of the data at a time, variances floored): adapt() leaves them in
    its weights and copies them into the arrays it uses with finalize_state()."""
    layer.set_weights([mean, variance, layer.get_weights()[2]])
    _attribute(layer, "finalize_state", "keras.layers.Normalization")()


def set_steps_per_execution(model, steps):
    """What compile(steps_per_execution=steps) sets, on a model compiled already: Keras's fit then
    hands its train function `steps` steps' worth of data at a time and counts them as steps."""
    if not hasattr(model, "steps_per_execution"):
        raise _gone("keras.Model.steps_per_execution")
    model.steps_per_execution = steps


def set_jax_train_function(model, function):
    """Make the next model.fit under JAX call `function(state, iterator) -> (logs, state)` once per
    execution, as Keras 3.15's JAXTrainer.fit calls the `train_function` it makes itself;
    make_train_function keeps one already set, and compile() resets it to None."""
    if not hasattr(model, "train_function") or not hasattr(model, "make_train_function"):
        raise _gone("keras.Model.train_function")
    model.train_function = function


def jax_train_function(model):
    """The train function model.fit will call (None after a compile)."""
    return getattr(model, "train_function", None)


def fail_trial(study, trial):
    """Mark `trial` (running) failed now, as Optuna's heartbeat does once its grace period is over
    (the storage's set_trial_state_values: Optuna has no public call for another process's trial).
    Returns the trial as stored after, or None where another process changed its state first."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState
    storage = _attribute(study, "_storage", "optuna.study.Study")
    trial_id = _attribute(trial, "_trial_id", "optuna.trial.FrozenTrial")
    try:
        if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
            return None
    except UpdateFinishedTrialError:  # it finished, or another process failed it first
        return None
    return storage.get_trial(trial_id)
