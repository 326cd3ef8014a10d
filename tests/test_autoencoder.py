"""autoencoder.py: the builder, an unattended run, a scripted session, saving."""
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import TINY_AE, TRAIN_IMAGES, asked, assert_clean_error, run, script_env


@pytest.mark.parametrize("size", [(28, 28), (32, 32), (29, 29), (20, 20), (28, 21)])
@pytest.mark.parametrize("layers", [1, 2, 3, 4])
@pytest.mark.parametrize("kernel", [3, 5])
def test_builder_keeps_the_image_shape(size, layers, kernel):
    from convae.networks import BOTTLENECK, build_autoencoder, default_pooling
    model = build_autoencoder(size, layers, [kernel] * layers, [4] * layers, 0.1)
    assert model.input_shape == (None, *size, 1) and model.output_shape == (None, *size, 1)
    code = model.get_layer(BOTTLENECK).output.shape
    factor = 2 ** len(default_pooling(layers))
    assert tuple(code[1:3]) == (-(-size[0] // factor), -(-size[1] // factor))
    out = model(np.random.default_rng(0).random((2, *size, 1), dtype=np.float32)).numpy()
    assert ((out > 0) & (out < 1)).all()


def test_builder_rejects_images_too_small_to_pool():
    from convae.networks import check_image_size
    with pytest.raises(ValueError, match="at least 4x4"):
        check_image_size([1, 2], (3, 3))


def test_builder_pools_after_the_layers_asked_for():
    from convae.networks import BOTTLENECK, build_autoencoder
    model = build_autoencoder((28, 28), 5, [3] * 5, [4, 4, 8, 8, 16], 0.1, pooling=[2, 4])
    shapes = {layer.name: tuple(layer.output.shape[1:3]) for layer in model.layers if layer.name.endswith("_bn")}
    assert [shapes[f"encoder_{i}_bn"] for i in range(1, 6)] == [(28, 28), (28, 28), (14, 14), (14, 14), (7, 7)]
    assert [shapes[f"decoder_{i}_bn"] for i in range(5, 0, -1)] == [(7, 7), (7, 7), (14, 14), (14, 14), (28, 28)]
    assert tuple(model.get_layer(BOTTLENECK).output.shape[1:]) == (7, 7, 16)
    assert model.output_shape == (None, 28, 28, 1)


def test_unattended_run_writes_everything(tmp_path):
    out, model_path = tmp_path / "out", tmp_path / "ae.h5"
    started = time.monotonic()
    result = run("autoencoder.py", ["-d", TRAIN_IMAGES, "--no-input", *TINY_AE, "--save", str(model_path),
                                    "--output-dir", str(out)], cwd=tmp_path)
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no TensorFlow noise, no warnings
    for name in ("experiment-1-loss.png", "experiment-1-reconstructions.png", "experiments.csv"):
        assert (out / name).stat().st_size > 0, name
    assert "nothing to compare yet: one experiment so far" in result.stdout
    assert not (out / "after-experiment-1-loss-vs-hyperparameters.png").exists()
    rows = list(csv.DictReader(open(out / "experiments.csv")))
    assert len(rows) == 1 and rows[0]["filters"] == "4,8" and rows[0]["status"] == "complete"
    assert 0 < float(rows[0]["minutes"]) < wall / 60  # minutes, not seconds
    description = json.loads((tmp_path / "ae.json").read_text())
    assert description["hyperparameters"]["filters"] == [4, 8]
    assert description["data"]["train_images"]["md5"] and description["seed"] == 1
    assert set(description["versions"]) >= {"tensorflow", "keras", "numpy"}
    # no binary cross-entropy goes below the entropy of its targets (the validation pixels): a loss
    # under it is computed wrongly (unscaled pixels give -22)
    from convae.data import split_indices, to_float
    from convae.idx import read_idx_images
    _, val = split_indices(300, 0.2, 1)
    p = np.clip(to_float(read_idx_images(TRAIN_IMAGES)[:300])[val].astype(np.float64), 1e-7, 1 - 1e-7)
    floor = float(np.mean(-(p * np.log(p) + (1 - p) * np.log(1 - p))))
    assert floor < description["metrics"]["val_loss"] < 1.0, (floor, description["metrics"])
    check = ("import keras, numpy as np; m = keras.models.load_model(%r, compile=False); "
             "print(m.predict(np.zeros((3, 28, 28, 1)), verbose=0).shape, m.get_layer('bottleneck').name)")
    shown = subprocess.run([sys.executable, "-c", check % str(model_path)], capture_output=True, text=True,
                           env=script_env(), cwd=tmp_path)
    assert "(3, 28, 28, 1) bottleneck" in shown.stdout, shown.stderr

    # The same command again: --save onto the first run's model is refused before any training...
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    model_bytes = model_path.read_bytes()
    again = ["-d", TRAIN_IMAGES, "--no-input", *TINY_AE, "--save", str(model_path), "--output-dir", str(out)]
    assert_clean_error(run("autoencoder.py", again, cwd=tmp_path), f"{model_path} exists", "--overwrite")
    assert model_path.read_bytes() == model_bytes and sorted(os.listdir(out)) == sorted(before)
    # ...and with --overwrite the reused folder keeps the first run's files: the new experiment is number 2
    result = run("autoencoder.py", again + ["--overwrite", "--dropout", "0.2"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{out} holds experiments 1 to 1 of an earlier run" in result.stdout
    assert all((out / name).read_bytes() == data for name, data in before.items() if name != "experiments.csv")
    assert (out / "experiment-2-loss.png").exists()
    assert (out / "after-experiment-2-loss-vs-hyperparameters.png").exists()
    rows = list(csv.DictReader(open(out / "experiments.csv")))
    assert [(r["experiment"], r["dropout"]) for r in rows] == [("1", "0.1000"), ("2", "0.2000")]
    assert json.loads((tmp_path / "ae.json").read_text())["experiment"] == 2


def test_same_predictions_after_saving_and_loading(tmp_path):
    from convae.backend import keras
    from convae.networks import build_autoencoder
    from convae.records import save_model
    model = build_autoencoder((28, 28), 3, [3, 3, 3], [4, 8, 8], 0.2)
    model.compile("adam", "binary_crossentropy")
    x = np.random.default_rng(1).random((64, 28, 28, 1), dtype=np.float32)
    model.fit(x, x, epochs=1, verbose=0)  # moves the BatchNormalization statistics off their start
    save_model(model, str(tmp_path / "m.h5"), {"test": True})
    loaded = keras().models.load_model(str(tmp_path / "m.h5"), compile=False)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_a_save_that_fails_half_way_keeps_the_earlier_file(tmp_path, monkeypatch):
    from convae.backend import keras
    from convae.errors import UserError
    from convae.networks import build_autoencoder
    from convae.records import save_model
    path = tmp_path / "m.h5"
    path.write_bytes(b"the earlier model")
    model = build_autoencoder((28, 28), 1, [3], [2], 0.0)

    def broken_save(self, target, *args, **kwargs):
        with open(target, "wb") as f:
            f.write(b"half a model")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(keras().Model, "save", broken_save)
    with pytest.raises(UserError, match="cannot save .*No space left on device"):
        save_model(model, str(path), {})
    assert path.read_bytes() == b"the earlier model"
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]


def test_scripted_session_repeat_plots_save_exit(tmp_path):
    out, saved = tmp_path / "out", tmp_path / "ae.h5"
    answers = "\n".join([
        "2", "", "",                     # 2 layers; kernel and dropout as offered (filters, epochs, batch: flags)
        "1",                             # repeat with other hyperparameters
        "1", "", "", "0.2",              # 1 layer: --filters 4,8 no longer fits and is asked for; dropout 0.2
        "7",                             # not a menu choice: asked again
        "2",                             # plots and table
        "3", "1", str(tmp_path / "no" / "such" / "dir" / "ae.h5"), str(saved),  # save 1: a missing folder first
        "4", "y",                        # exit although experiment 2, the last, is not saved
    ]) + "\n"
    flags = ["--filters", "4,8", "--epochs", "1", "--batch-size", "32", "--limit", "300"]
    result = run("autoencoder.py", ["-d", TRAIN_IMAGES, *flags, "--output-dir", str(out)], cwd=tmp_path,
                 stdin=answers)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    shown = result.stdout
    # the assignment's questions, less those given as flags (test_terminal asks the other three)
    assert asked(shown.split("Experiment 1:")[0]) == ["Convolutional layers in the encoder",
                                                      "Kernel size (one, or one per layer)", "Dropout rate"]
    assert "Convolutional layers in the encoder [2]: 1" in shown  # the previous answer is the default
    assert "Epochs" not in shown and "Batch size" not in shown  # given as flags: never asked
    assert "--filters 4,8 does not fit this experiment: expected one filter count per layer (1 values)" in shown
    assert "Filters per layer [32]:" in shown
    assert "Pool after" not in shown  # a flag only
    assert "expected one of 1, 2, 3, 4, got '7'" in shown
    assert "does not exist" in shown
    assert f"Saved experiment 1 to {saved}" in shown
    for name in ("experiment-1-loss.png", "experiment-2-loss.png", "experiment-2-reconstructions.png",
                 "after-experiment-2-loss-vs-hyperparameters.png"):
        assert (out / name).exists(), name
    rows = list(csv.DictReader(open(out / "experiments.csv")))
    assert [r["layers"] for r in rows] == ["2", "1"] and [r["filters"] for r in rows] == ["4,8", "32"]
    assert [r["epochs"] for r in rows] == ["1", "1"] and rows[1]["dropout"] == "0.2000"
    assert rows[0]["saved"] == str(saved) and rows[1]["saved"] == ""
    assert json.loads((tmp_path / "ae.json").read_text())["hyperparameters"]["layers"] == 2
    assert "Experiment 2 (the last) not saved. Exit anyway? (y/n) [n]: y" in shown


def test_inference_mode_is_the_network_that_trained(tmp_path):
    """A short run (120 steps) must validate, reconstruct and save the network it trained: in
    inference mode the saved model's loss is close to its loss with batch statistics."""
    path = tmp_path / "ae.h5"
    result = run("autoencoder.py", ["-d", TRAIN_IMAGES, "--no-input", "--limit", "400", "--layers", "2",
                                    "--filters", "16,32", "--epochs", "3", "--batch-size", "8", "--dropout", "0",
                                    "--save", str(path), "--output-dir", str(tmp_path / "out")], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    history = json.loads((tmp_path / "ae.json").read_text())["history"]
    assert all(v <= 1.3 * t for v, t in zip(history["val_loss"], history["loss"])), history
    from convae.backend import keras
    from convae.data import to_float
    from convae.idx import read_idx_images
    x = to_float(read_idx_images(TRAIN_IMAGES)[:400])
    model = keras().models.load_model(str(path), compile=False)
    bce = keras().losses.binary_crossentropy
    inference = float(np.mean(bce(x, model(x, training=False))))
    batch_statistics = float(np.mean(bce(x, model(x, training=True))))
    assert inference <= 1.3 * batch_statistics, (inference, batch_statistics)
    # each BatchNormalization layer holds the statistics of what it sees of the training images in
    # inference mode, with the weights it was saved with (and those of the layers before it)
    from convae.data import split_indices
    train, _ = split_indices(400, 0.2, 1)
    layers = [layer for layer in model.layers if isinstance(layer, keras().layers.BatchNormalization)]
    assert len(layers) == 4
    for layer in layers:
        seen = keras().Model(model.input, layer.input).predict(x[train], verbose=0).reshape(-1, layer.input.shape[-1])
        np.testing.assert_allclose(layer.moving_mean.numpy(), seen.mean(axis=0), rtol=1e-2, atol=1e-4)
        np.testing.assert_allclose(layer.moving_variance.numpy(), seen.var(axis=0), rtol=1e-2, atol=1e-5)
