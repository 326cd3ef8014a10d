"""Every flag followed from the command line to where it takes effect, in process, through the one call
that runs an experiment (experiment.train_and_evaluate): the layer's own configuration, the compiled
optimizer, the images the split keeps, what a sweep hands the call and asks of Optuna. A slip on the
way (a unit, a factor, a direction, a dropped argument) fails here."""
import os

import numpy as np
import pytest

from conftest import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS


def definition_of(script):
    from convae.definitions import of
    return of(script)


def one_experiment(script, argv, folder, paths=None, runtime=None):
    """What a script does with `argv`: the flags parsed, the inputs loaded, the Config checked, one call
    (with `runtime`, else float32 convolutions on any CPU)."""
    from convae import experiment
    from convae.prompts import Prompter
    from convae.runtime import Runtime
    definition = definition_of(script)
    args = definition.parse_args([*argv, "--no-input"])
    runtime = runtime or Runtime()
    inputs = definition.load(args, Prompter(enabled=False), runtime)
    config = experiment.Config.from_values(definition, vars(args), inputs)
    return experiment.train_and_evaluate(definition, config, inputs, runtime, str(folder)), config


def seeds_of_the_batches(run):
    """run() with convae.batching.training_batches recording the seed each fit's batches are drawn from."""
    from convae import batching
    seeds, chosen = [], batching.training_batches

    def recorded(x, y, batch_size, seed, first_epoch, epochs):
        seeds.append(seed)
        return chosen(x, y, batch_size, seed, first_epoch, epochs)
    batching.training_batches = recorded
    try:
        return run(), seeds
    finally:
        batching.training_batches = chosen


def layers_of(model, kind):
    from convae.networks import all_layers
    return [layer for layer in all_layers(model) if type(layer).__name__ == kind]


AE_FLAGS = ["-d", TRAIN_IMAGES, "--layers", "2", "--kernel", "5,3", "--filters", "6,10", "--pooling", "2",
            "--epochs", "2", "--batch-size", "40", "--dropout", "0.25", "--limit", "250", "--val-split", "0.3",
            "--seed", "7"]


@pytest.fixture(scope="module")
def autoencoder_run(tmp_path_factory):
    from convae import records
    folder = tmp_path_factory.mktemp("flags-ae")
    (done, config), seeds = seeds_of_the_batches(lambda: one_experiment("autoencoder.py", AE_FLAGS, folder))
    path = str(folder / "ae.h5")
    records.save_model(done.model, path, {})  # as the script saves it: stock layers, loadable anywhere
    return done, config, path, seeds, folder


def test_every_autoencoder_flag_reaches_its_layer_the_split_and_the_epochs(autoencoder_run, capsys):
    done, config, _, seeds, folder = autoencoder_run
    model = done.model
    encoder_convs = [layer for layer in layers_of(model, "Conv2D") if layer.name.startswith("encoder_")]
    assert [layer.kernel_size for layer in encoder_convs] == [(5, 5), (3, 3)]          # --layers, --kernel
    assert [layer.filters for layer in encoder_convs] == [6, 10]                      # --filters
    assert [layer.name for layer in layers_of(model, "MaxPooling2D")] == ["encoder_2_pool"]  # --pooling
    assert tuple(model.get_layer("bottleneck").output.shape[1:]) == (14, 14, 10)
    rates = {layer.rate for layer in layers_of(model, "Dropout")}
    assert rates == {0.25}                                                            # --dropout
    assert len(done.history["loss"]) == len(done.history["val_loss"]) == 2            # --epochs
    # --limit 250, --val-split 0.3: 75 held out, 175 to train on; --batch-size 40: 4 full batches an epoch
    assert int(model.optimizer.iterations.numpy()) == 2 * (175 // 40)
    assert config.settings == {"limit": 250, "val_split": 0.3, "seed": 7} and done.settings["seed"] == 7
    assert seeds == [7]                                                               # --seed: the batches' order
    # the record: its number, its figures, its parameters (Keras's count less BatchNormalization's step counters)
    assert done.number == 1 and done.status == "complete"
    assert done.metrics == {"loss": done.history["loss"][-1], "val_loss": done.history["val_loss"][-1]}
    counters = sum(1 for w in model.weights if w.name == "updates" and len(w.shape) == 0)
    assert done.parameters == model.count_params() - counters > 0
    assert not (folder / "tensorboard").exists()                                      # no --tensorboard: none


def test_the_autoencoder_split_keeps_the_limit_and_holds_out_the_share_asked(tmp_path, capsys):
    one_experiment("autoencoder.py", ["-d", TRAIN_IMAGES, "--layers", "1", "--filters", "2", "--epochs", "1",
                                      "--limit", "120", "--val-split", "0.25", "--batch-size", "30"], tmp_path)
    assert "90 training and 30 validation images" in capsys.readouterr().out


def test_the_seed_reaches_the_weights_and_the_split(tmp_path):
    flags = ["-d", TRAIN_IMAGES, "--layers", "1", "--filters", "2", "--epochs", "1", "--limit", "120",
             "--batch-size", "30"]
    runs = [one_experiment("autoencoder.py", flags + ["--seed", seed], tmp_path / f"run-{i}")[0]
            for i, seed in enumerate(["3", "3", "4"])]
    weights = [run.model.get_layer("encoder_1").get_weights()[0] for run in runs]
    assert np.array_equal(weights[0], weights[1]) and runs[0].history == runs[1].history
    assert not np.array_equal(weights[0], weights[2]) and runs[0].history != runs[2].history


CL_FLAGS = ["-dl", TRAIN_LABELS, "-t", TEST_IMAGES, "-tl", TEST_LABELS, "--fc-units", "12", "--epochs", "2",
            "--fine-tune-epochs", "1", "--batch-size", "32", "--dropout", "0.35", "--encoder-dropout", "0.15",
            "--patience", "3", "--learning-rate", "3e-3", "--fine-tune-learning-rate", "7e-4", "--schedule", "cosine",
            "--batch-norm", "trained", "--shift", "0.05", "--rotation", "12", "--zoom", "0.08", "--limit", "300",
            "--val-split", "0.2", "--tta", "5", "--seed", "2"]


@pytest.fixture(scope="module")
def classifier_run(autoencoder_run, tmp_path_factory):
    from convae import training
    patience = []
    chosen = training.early_stopping

    def recorded(value):
        patience.append(value)
        return chosen(value)
    training.early_stopping = recorded  # what each stage's early stopping is given
    try:
        (done, config), seeds = seeds_of_the_batches(lambda: one_experiment(
            "classification.py", ["-d", TRAIN_IMAGES, "-model", autoencoder_run[2], *CL_FLAGS],
            tmp_path_factory.mktemp("flags-cl")))
    finally:
        training.early_stopping = chosen
    return done, config, patience, seeds


def test_every_classifier_flag_reaches_its_layer(classifier_run):
    done, _, patience, seeds = classifier_run
    model = done.model
    assert model.get_layer("fc").units == 12                                          # --fc-units
    assert model.get_layer("fc_dropout").rate == 0.35                                 # --dropout
    inner = [layer for layer in layers_of(model, "Dropout") if layer.name != "fc_dropout"]
    assert inner and {layer.rate for layer in inner} == {0.15}                        # --encoder-dropout
    norms = layers_of(model, "BatchNormalization")
    assert norms and all(layer.trainable for layer in norms)                          # --batch-norm trained
    augment = [layer for layer in model.layers if hasattr(layer, "rotation")]
    assert [(a.shift, a.rotation, a.zoom) for a in augment] == [(0.05, 12.0, 0.08)]   # --shift, --rotation, --zoom
    assert patience == [3, 3]                                                         # --patience, both stages
    assert seeds == [2, 3]                                                            # --seed: each stage's batches
    standardize = model.get_layer("standardize")  # the encoder's features over the training images
    assert np.any(np.asarray(standardize.mean) != 0) and np.any(np.asarray(standardize.variance) != 1)


def test_each_stage_compiles_its_rate_over_its_own_steps(classifier_run):
    done, _, _, _ = classifier_run
    steps = 240 // 32  # --limit 300, --val-split 0.2: 240 to train on in full batches of --batch-size 32
    stage1, stage2 = done.extra["optimizers"]["stage 1"], done.extra["optimizers"]["stage 2"]
    assert stage1["learning_rate"] == {"schedule": "CosineDecay", "initial_learning_rate": 3e-3,
                                       "decay_steps": 2 * steps}                      # --learning-rate, --epochs
    assert stage2["learning_rate"] == {"schedule": "CosineDecay", "initial_learning_rate": 7e-4,
                                       "decay_steps": 1 * steps}                      # --fine-tune-learning-rate
    rate = done.model.optimizer.get_config()["learning_rate"]                         # the optimizer compiled last
    assert rate["config"]["initial_learning_rate"] == pytest.approx(7e-4)
    assert len(done.history["loss"]) == 3 and done.extra["stage2_start"] == 3         # --epochs, --fine-tune-epochs
    assert int(done.model.optimizer.iterations.numpy()) == steps                      # --batch-size, in stage 2
    assert sum(done.extra["split"]["train"]) == 240 and sum(done.extra["split"]["validation"]) == 60


def test_the_views_averaged_are_those_tta_asks_for(classifier_run, autoencoder_run):
    from convae import data, metrics
    from convae.networks import averaged_over_shifts
    done, config, _, _ = classifier_run
    images = data.load_images(TRAIN_IMAGES).array[:300]
    labels = data.load_labels(TRAIN_LABELS).array[:300]
    _, val = data.split_indices(300, 0.2, 2, labels)
    x, y = data.to_float(images)[val], labels[val]
    losses = {views: metrics.evaluate(y, averaged_over_shifts(done.model, views).predict(x, verbose=0))["loss"]
              for views in (5, 9)}
    assert done.metrics["val_loss_tta"] == pytest.approx(losses[5], abs=1e-5)          # --tta 5
    assert abs(done.metrics["val_loss_tta"] - losses[9]) > 1e-5
    alone = metrics.evaluate(y, done.model.predict(x, verbose=0))  # the validation figures: the network alone
    assert (done.metrics["val_loss"], done.metrics["val_accuracy"]) == pytest.approx((alone["loss"], alone["accuracy"]),
                                                                                      abs=1e-5)
    assert done.metrics["val_f1"] == pytest.approx(alone["f1"], abs=1e-5)
    assert {"loss", "accuracy", "val_precision", "val_recall"} <= set(done.metrics)


def test_a_sweep_hands_the_call_its_values_and_asks_optuna_the_definitions_direction(tmp_path):
    from convae.prompts import Prompter
    from convae.sweep import spec, study
    from convae.sweep.objective import Objective
    from convae.sweep.study import default_storage, open_storage
    from convae.sweep.workers import layout  # noqa: F401  the module a worker starts from imports
    definition = definition_of("autoencoder.py")
    fixed = ["-d", TRAIN_IMAGES, "--limit", "200", "--epochs", "1", "--layers", "2"]
    made, _ = spec.build(definition, fixed, grid=["filters=4;6", "dropout=0,0.3"],
                         search=["batch-size=16:64"], seeds="5,6")
    objective = Objective(made, str(tmp_path), 1)
    objective.inputs = definition.load(objective.fixed, Prompter(enabled=False), objective.runtime)
    config = objective.config({"filters": "6", "dropout": "0.3", "batch_size": 48}, 6)
    assert config.hyperparameters["filters"] == [6, 6] and config.hyperparameters["dropout"] == 0.3
    assert config.hyperparameters["batch_size"] == 48 and config.settings["seed"] == 6
    assert type(config.hyperparameters["batch_size"]) is int  # a searched integer stays one
    assert config.settings["limit"] == 200 and config.hyperparameters["epochs"] == 1   # the fixed flags
    assert config.hyperparameters["layers"] == 2
    assert config.hyperparameters["kernel"] == [3, 3] and config.settings["val_split"] == 0.2  # the defaults
    os.makedirs(tmp_path / "sweep")
    for script, direction in (("autoencoder.py", "MINIMIZE"), ("classification.py", "MAXIMIZE")):
        opened = study.open_study(open_storage(default_storage(str(tmp_path / "sweep"))), script, made,
                                  str(tmp_path), definition_of(script))
        assert opened.direction.name == direction


def test_a_script_run_in_process_goes_through_the_one_call_with_its_flags(tmp_path, monkeypatch):
    """autoencoder.py's main() in this process (runner.start, Run, experiment.unattended): its flags in
    the saved JSON, the table and the output folder."""
    import json

    import autoencoder
    monkeypatch.chdir(tmp_path)
    status = autoencoder.main(["-d", TRAIN_IMAGES, "--layers", "1", "--filters", "3", "--kernel", "5", "--epochs", "1",
                               "--limit", "120", "--batch-size", "30", "--seed", "5", "--dropout", "0.15",
                               "--no-input", "--no-show", "--output-dir", "out", "--save", "ae.h5"])
    assert status == 0
    described = json.loads((tmp_path / "ae.json").read_text())
    assert described["hyperparameters"] == {"layers": 1, "kernel": [5], "filters": [3], "pooling": [1], "epochs": 1,
                                            "batch_size": 30, "dropout": 0.15}
    assert described["settings"] == {"limit": 120, "val_split": 0.2, "seed": 5} and described["seed"] == 5
    assert len(described["history"]["loss"]) == 1
    table = (tmp_path / "out" / "experiments.csv").read_text().splitlines()
    assert len(table) == 2 and table[1].startswith("1,1,5,3,1,1,30,0.1500,")


def test_a_trials_figures_are_titled_by_its_trial_and_seed(tmp_path, monkeypatch):
    """A sweep's trial (its Objective, in process): its figures say which trial and seed they show, not
    "Experiment 1" as every trial's would."""
    from convae import plots
    from convae.sweep import spec
    from convae.sweep.objective import Objective
    titles = []
    for name, where in (("history", 2), ("image_pairs", 3)):  # the title's place among their arguments
        drawn = getattr(plots, name)
        monkeypatch.setattr(plots, name, lambda *a, _drawn=drawn, _at=where, **k: titles.append(a[_at]) or
                            _drawn(*a, **k))
    made, _ = spec.build(definition_of("autoencoder.py"), ["-d", TRAIN_IMAGES, "--limit", "120", "--epochs", "1",
                                                            "--layers", "1", "--filters", "3"], seeds="4")
    objective = Objective(made, str(tmp_path), 1)
    folder = str(tmp_path / "trials" / "c007-s4")
    os.makedirs(folder)
    inputs, _ = objective.trial_inputs(folder, 4)
    objective.experiment(folder, inputs, {}, 4, False)
    assert len(titles) == 2 and all(t.startswith("trial c007-s4, seed 4: ") for t in titles), titles
    assert titles[1] == "trial c007-s4, seed 4: validation images and their reconstructions"


def test_precision_bfloat16_reaches_every_block_convolution_and_saved_files_keep_stock_layers(tmp_path):
    """--precision bfloat16: each block's convolution of the autoencoder, and of the classifier's encoder,
    computes on bfloat16-rounded inputs and weights (float32 out, the weights float32), the output layer
    stays float32; the saved file holds stock Conv2D; the description says which. float32: stock Conv2D."""
    import keras
    from convae import classifier, encoder, records
    from convae.runtime import Runtime
    args = definition_of("autoencoder.py").parse_args(["-d", TRAIN_IMAGES, "--precision", "bfloat16"])
    runtime = Runtime.from_flags(args)
    assert runtime.precision == runtime.convolutions() == "bfloat16"
    assert Runtime().convolutions() == "float32"
    done, _ = one_experiment("autoencoder.py", AE_FLAGS, tmp_path, runtime=runtime)
    convs = layers_of(done.model, "BFloat16Conv2D")
    assert [layer.name for layer in convs] == ["encoder_1", "encoder_2", "decoder_2", "decoder_1"]
    assert [layer.name for layer in layers_of(done.model, "Conv2D")] == ["reconstruction"]
    assert all(w.dtype == "float32" for layer in convs for w in layer.weights)
    assert done.extra["convolutions"] == "bfloat16" and np.isfinite(done.metrics["val_loss"])
    x = np.random.default_rng(0).random((2, 28, 28, 6), dtype=np.float32)
    conv = done.model.get_layer("encoder_2")
    kernel = keras.ops.convert_to_numpy(conv.kernel)
    out = keras.ops.convert_to_numpy(conv.convolution_op(x, conv.kernel))
    exact = keras.ops.convert_to_numpy(keras.ops.conv(x, kernel, padding="same"))
    rounded = [keras.ops.cast(keras.ops.cast(v, "bfloat16"), "float32") for v in (x, kernel)]
    expected = keras.ops.convert_to_numpy(keras.ops.conv(*rounded, padding="same"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-2, atol=1e-2 * np.abs(expected).max())
    assert np.abs(out - exact).max() > 1e-6 * np.abs(exact).max()  # rounded, not float32's convolution

    path = str(tmp_path / "ae.h5")
    records.save_model(done.model, path, {})
    import h5py
    import json
    with h5py.File(path, "r") as f:
        classes = {layer["class_name"] for layer in json.loads(f.attrs["model_config"])["config"]["layers"]}
    assert "Conv2D" in classes and "BFloat16Conv2D" not in classes  # what any Keras program can load
    saved = keras.models.load_model(path, compile=False)
    assert not layers_of(saved, "BFloat16Conv2D") and len(layers_of(saved, "Conv2D")) == 5
    taken = encoder.extract_encoder(encoder.load_autoencoder(path))
    taken = taken[0] if isinstance(taken, tuple) else taken
    float32_encoder = classifier.fresh_encoder(taken, 0.0)
    assert len(layers_of(float32_encoder, "Conv2D")) == 2 and not layers_of(float32_encoder, "BFloat16Conv2D")
    bfloat16_encoder = classifier.fresh_encoder(taken, 0.0, "bfloat16")
    assert [layer.name for layer in layers_of(bfloat16_encoder, "BFloat16Conv2D")] == ["encoder_1", "encoder_2"]
    assert not layers_of(bfloat16_encoder, "Conv2D")
    for layer in layers_of(bfloat16_encoder, "BFloat16Conv2D"):
        np.testing.assert_array_equal(layer.get_weights()[0], done.model.get_layer(layer.name).get_weights()[0])
    # the classifier trains in bfloat16 and is scored as its saved file gives it back: float32 convolutions
    classified, _ = one_experiment("classification.py", ["-d", TRAIN_IMAGES, "-model", path, *CL_FLAGS],
                                   tmp_path / "cl", runtime=runtime)
    assert classified.extra["convolutions"] == "bfloat16" and not layers_of(classified.model, "BFloat16Conv2D")
    records.save_model(classified.model, str(tmp_path / "cl.h5"), {})
    reloaded = keras.models.load_model(str(tmp_path / "cl.h5"), compile=False)
    images = x[..., :1]
    np.testing.assert_allclose(classified.model.predict(images, verbose=0), reloaded.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-6)
