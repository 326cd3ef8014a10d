"""Every setting by its effect, in the unit its help states; every chunked or batched function past its
boundaries; a resumed training equal to the uninterrupted one in every part of its state. In process,
on tiny models and random data, against NumPy references written from the help texts."""
import copy
import dataclasses

import numpy as np
import pytest


def keras():
    from convae.backend import keras as k
    return k()


# -- augmentation, in the units of its help: degrees, fractions of the image --------------------------

def moments(images):
    """Each image's centroid (x, y) and its second moments about it."""
    rows, cols = np.indices(images.shape[1:3])
    mass = images.sum(axis=(1, 2))
    x = (images * cols).sum(axis=(1, 2)) / mass
    y = (images * rows).sum(axis=(1, 2)) / mass
    xx = (images * (cols - x[:, None, None]) ** 2).sum(axis=(1, 2)) / mass
    yy = (images * (rows - y[:, None, None]) ** 2).sum(axis=(1, 2)) / mass
    xy = (images * (cols - x[:, None, None]) * (rows - y[:, None, None])).sum(axis=(1, 2)) / mass
    return x, y, xx, yy, xy


def augmented(image, count=600, **ranges):
    from convae.layers import RandomAffine
    keras().utils.set_random_seed(0)
    images = np.repeat(image[None, :, :, None], count, axis=0)
    return RandomAffine(**ranges)(images, training=True).numpy()[..., 0]


def bar(length=16, thickness=1.0):
    """A horizontal bar through the centre of a 28x28 image, soft-edged so that resampling keeps it."""
    rows, cols = np.indices((28, 28))
    along = np.clip(length / 2 - np.abs(cols - 13.5), 0, 1)
    across = np.exp(-((rows - 13.5) ** 2) / (2 * thickness ** 2))
    return (along * across).astype(np.float32)


def test_rotation_turns_images_by_up_to_the_degrees_asked():
    """--rotation 10: "random rotations, in degrees either way": a bar turns by up to 10 degrees, uniformly."""
    _, _, xx, yy, xy = moments(augmented(bar(), rotation=10.0))
    angles = 0.5 * np.degrees(np.arctan2(2 * xy, xx - yy))
    assert 9.3 <= np.abs(angles).max() <= 10.3, np.abs(angles).max()
    assert angles.min() < -9.3 and angles.max() > 9.3  # either way
    assert 10 / np.sqrt(3) - 0.6 < angles.std() < 10 / np.sqrt(3) + 0.6  # uniform in [-10, 10]


def test_shift_moves_images_by_up_to_the_fraction_of_their_size_asked():
    """--shift 0.1: "as a fraction of the image size": up to 2.8 pixels of 28 each way, on each axis."""
    rows, cols = np.indices((28, 28))
    blob = np.exp(-((rows - 13.5) ** 2 + (cols - 13.5) ** 2) / 4.0).astype(np.float32)
    x, y, _, _, _ = moments(augmented(blob, shift=0.1))
    for moved in (x - 13.5, y - 13.5):
        assert 2.6 <= np.abs(moved).max() <= 2.85, np.abs(moved).max()
        assert 2.8 / np.sqrt(3) - 0.15 < moved.std() < 2.8 / np.sqrt(3) + 0.15


def test_zoom_scales_images_by_up_to_the_fraction_asked():
    """--zoom 0.1: a factor from 0.9 to 1.1 (the layer draws input pixels per output pixel in that range)."""
    plain = np.sqrt(moments(bar()[None])[2])[0]
    _, _, xx, _, _ = moments(augmented(bar(), zoom=0.1))
    ratio = np.sqrt(xx) / plain
    assert 1 / 1.1 - 0.015 <= ratio.min() <= 1 / 1.1 + 0.015, ratio.min()
    assert 1 / 0.9 - 0.02 <= ratio.max() <= 1 / 0.9 + 0.02, ratio.max()


# -- test-time augmentation: exactly the documented views ---------------------------------------------

def numpy_views(images, count):
    """--tta's help: "1 (the image alone), 5 (also shifted one pixel up, down, left and right) or 9 (and
    diagonally)"; zeros come in where an image moves away from an edge."""
    def shifted(dy, dx):
        out = np.zeros_like(images)
        src = images[:, max(dy, 0):images.shape[1] + min(dy, 0), max(dx, 0):images.shape[2] + min(dx, 0)]
        out[:, max(-dy, 0):max(-dy, 0) + src.shape[1], max(-dx, 0):max(-dx, 0) + src.shape[2]] = src
        return out
    alone = [images]
    straight = [shifted(1, 0), shifted(-1, 0), shifted(0, 1), shifted(0, -1)]  # up, down, left, right
    diagonal = [shifted(dy, dx) for dy in (1, -1) for dx in (1, -1)]
    return {1: alone, 5: alone + straight, 9: alone + straight + diagonal}[count]


@pytest.mark.parametrize("views", [1, 5, 9])
def test_tta_averages_exactly_the_documented_views(views):
    from convae.devices import predict
    from convae.networks import averaged_over_shifts
    k = keras()
    rng = np.random.default_rng(0)
    model = k.Sequential([k.Input((6, 5, 1)), k.layers.Flatten(), k.layers.Dense(4, activation="softmax")])
    weights, bias = rng.normal(size=(30, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    model.set_weights([weights, bias])
    images = rng.random((7, 6, 5, 1), dtype=np.float32)

    def probabilities(x):
        logits = x.reshape(len(x), -1) @ weights + bias
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    expected = np.mean([probabilities(v) for v in numpy_views(images, views)], axis=0)
    np.testing.assert_allclose(predict(averaged_over_shifts(model, views), images), expected, atol=1e-5)


# -- learning rates and schedules, as the compiled optimizer applies them --------------------------------

def tiny_classifier():
    from test_classification import tiny_classifier as build
    return build(dropout=0.2, encoder_dropout=0.2)


def rate_recorder():
    """A callback recording the learning rate the optimizer applies at each training step."""
    class Rates(keras().callbacks.Callback):
        rates = []

        def on_train_batch_begin(self, batch, logs=None):
            self.rates.append(float(keras().ops.convert_to_numpy(self.model.optimizer.learning_rate)))
    recorder = Rates()
    recorder.rates = []
    return recorder


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_each_stage_applies_its_learning_rate_along_its_schedule_in_steps(schedule):
    from convae.checkpoint import Bookkeeping
    from convae.classifier import train_two_stages
    from convae.data import Split
    from test_classification import classifier_defaults
    keras().utils.set_random_seed(0)
    encoder, model = tiny_classifier()
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 100)  # 3 full batches of 32
    rates = rate_recorder()
    hyper = classifier_defaults(epochs=2, fine_tune_epochs=3, batch_size=32, learning_rate=2e-3,
                                fine_tune_learning_rate=5e-4, schedule=schedule, patience=0)
    state, _ = train_two_stages(model, encoder, Split((x, y), (x[:20], y[:20])), hyper,
                                Bookkeeping(callbacks=[rates]))
    steps = 100 // 32

    def expected(rate, epochs):
        total = epochs * steps  # the decay's length in steps: full batches only
        if schedule == "constant":
            return [rate] * total
        return [rate * 0.5 * (1 + np.cos(np.pi * i / total)) for i in range(total)]
    assert len(rates.rates) == (2 + 3) * steps
    np.testing.assert_allclose(rates.rates, expected(2e-3, 2) + expected(5e-4, 3), rtol=1e-5, atol=1e-9)
    assert int(model.optimizer.iterations.numpy()) == 3 * steps  # stage 2's optimizer, compiled afresh


# -- chunks and batches past their boundaries ---------------------------------------------------------------

def test_feature_statistics_over_several_chunks_and_a_partial_one():
    from convae.classifier import feature_statistics
    encoder, _ = tiny_classifier()
    images = np.random.default_rng(1).random((10, 28, 28, 1), dtype=np.float32)
    mean, variance = feature_statistics(encoder, images, chunk=4)  # chunks of 4, 4 and 2
    features = encoder.predict(images, verbose=0).reshape(10, -1).astype(np.float64)
    np.testing.assert_allclose(mean, features.mean(axis=0), rtol=1e-5, atol=1e-6)
    floor = 0.01 * features.var(axis=0).mean()
    np.testing.assert_allclose(variance, np.maximum(features.var(axis=0), floor), rtol=1e-4, atol=1e-7)


def test_training_batches_visit_each_epochs_order_in_full_batches_from_any_epoch():
    from convae import batching
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10) * 10
    expected = []
    for epoch in (1, 2):  # resumed at epoch 1 of 3: the last two epochs
        order = batching.epoch_order(10, 7, epoch)
        expected += [order[i:i + 3] for i in (0, 3, 6)]  # three full batches; the tenth image waits
    for batches in (batching.training_batches(x, y, 3, 7, 1, 3), batching._numpy_batches(
            x, y, 3, np.stack([batching.epoch_order(10, 7, e) for e in (1, 2)]))):
        got = [(np.asarray(a).ravel().astype(int), np.asarray(b).ravel()) for a, b in batches]
        assert [list(a) for a, _ in got] == [list(e) for e in expected]
        assert all(list(b) == list(a * 10) for a, b in got)
    assert batching.steps_per_epoch(10, 3) == 3 and batching.steps_per_epoch(10, 5, devices=2) == 2
    # a data set that the batch divides: every image, every epoch
    nine = np.arange(9, dtype=np.float32).reshape(9, 1)
    for batches in (batching.training_batches(nine, nine, 3, 7, 0, 1),
                    batching._numpy_batches(nine, nine, 3, batching.epoch_order(9, 7, 0)[None])):
        got = [np.asarray(a).ravel().astype(int) for a, _ in batches]
        assert len(got) == 3 and np.array_equal(np.concatenate(got), batching.epoch_order(9, 7, 0))


def test_blocks_of_steps_cover_each_epoch_with_a_short_last_block():
    from convae import batching
    blocks = list(batching.block_batches(10, 3, 7, 0, 2, 2))  # 3 steps an epoch in blocks of 2: 2 + 1
    assert [int(real) for _, real in blocks] == [2, 1, 2, 1]
    for epoch, (first, second) in enumerate(zip(blocks[::2], blocks[1::2])):
        order = batching.epoch_order(10, 7, epoch)
        assert np.array_equal(np.concatenate([first[0], second[0][:1]]).ravel(), order[:9])
        assert not second[0][1:].any()  # the padding row: never trained on


def test_the_numpy_pipeline_of_jax_and_torch_gives_tensorflows_batches(monkeypatch):
    from convae import batching
    x = np.arange(11, dtype=np.float32).reshape(11, 1)  # 3 full batches of 3, two images left over
    y = np.arange(11) * 10
    expected = [(np.asarray(a).ravel(), np.asarray(b).ravel()) for a, b in batching.training_batches(x, y, 3, 7, 1, 3)]
    monkeypatch.setattr(batching, "is_tensorflow", lambda: False)
    got = [(np.asarray(a).ravel(), np.asarray(b).ravel()) for a, b in batching.training_batches(x, y, 3, 7, 1, 3)]
    assert len(got) == len(expected) == 6 and all(len(a) == 3 for a, _ in got)
    assert all(np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(got, expected))


def test_blocks_of_a_resumed_run_start_at_its_epoch_and_keep_their_shape():
    from convae import batching
    blocks = list(batching.block_batches(10, 3, 7, 1, 2, 2))  # resumed at epoch 1 of 2: one epoch, 2 + 1 steps
    assert [int(real) for _, real in blocks] == [2, 1]
    assert all(block.shape == (2, 3) and block.dtype == np.int32 for block, _ in blocks)
    assert np.array_equal(np.concatenate([blocks[0][0], blocks[1][0][:1]]).ravel(), batching.epoch_order(10, 7, 1)[:9])


def test_a_step_takes_the_batch_less_its_remainder_over_the_devices():
    from convae import batching
    from convae.errors import UserError
    assert batching.step_batch(65) == 65 and batching.step_batch(65, 2) == 64 and batching.step_batch(2, 2) == 2
    assert batching.steps_per_epoch(100, 5, 2) == 25 and batching.steps_per_epoch(100, 5) == 20
    with pytest.raises(UserError) as e:
        batching.step_batch(1, 2)
    assert str(e.value) == "--batch-size 1 is smaller than the 2 devices it is split between"


def test_validation_batches_cover_every_image_once_with_a_partial_last_batch():
    from convae import batching
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    got = [np.asarray(a).ravel() for a, _ in batching.validation_batches(x, x, 4)]
    assert [len(b) for b in got] == [4, 4, 2] and np.array_equal(np.concatenate(got), x.ravel())


# -- a resumed training, equal to the uninterrupted one in every part of its state ----------------------------

class Recorder:
    """A checkpoint.File that keeps each write in memory."""
    path = "memory"

    def __init__(self):
        self.writes = []

    def write(self, state, arrays):
        self.writes.append((copy.deepcopy(dataclasses.asdict(state)), {k: np.array(v) for k, v in arrays.items()}))
        return True

    def remove(self):
        pass


# stage 2's rate is high enough that its third epoch validates worse than its second: a checkpoint in the
# middle of early stopping's patience (wait 1 of 2) to resume from
HYPER = {"epochs": 2, "fine_tune_epochs": 4, "batch_size": 16, "learning_rate": 1e-2, "fine_tune_learning_rate": 0.1,
         "schedule": "cosine", "patience": 2, "batch_norm": "trained", "encoder_dropout": 0.2}


def trained(state=None, arrays=None):
    """Train the tiny classifier (augmentation, both dropouts, early stopping, trained BatchNormalization),
    as a new process would: the seed set, the network built, then the checkpoint's state given."""
    from convae.checkpoint import Bookkeeping, State
    from convae.classifier import train_two_stages
    from convae.data import Split
    from convae.networks import build_classifier
    from test_classification import tiny_classifier as build
    keras().utils.set_random_seed(3)
    encoder, _ = build(dropout=0.2, encoder_dropout=0.2)
    model = build_classifier(encoder, 10, 8, 0.3, augment=(0.1, 10, 0.1))
    rng = np.random.default_rng(0)
    x, y = rng.random((80, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 80)
    file = Recorder()
    train_two_stages(model, encoder, Split((x, y), (x[:24], rng.integers(0, 10, 24))), HYPER,
                     Bookkeeping(state or State(), file, arrays), seed=3)
    return file.writes


def test_a_training_resumed_from_any_checkpoint_continues_exactly_in_every_part_of_its_state():
    from convae.checkpoint import State
    whole = trained()
    kinds = {name.split("/", 1)[0] for name in whole[-1][1]}
    assert kinds == {"model", "optimizer", "best"}, kinds  # weights and statistics, the optimizer, early stopping's
    names = set(whole[-1][1])
    assert any("seed_generator" in n for n in names) and any("moving_variance" in n for n in names)
    assert any(n.endswith("iteration") or "iterations" in n for n in names), sorted(names)
    waits = [record["early_stopping"]["wait"] for record, _ in whole[:-1] if record["early_stopping"]]
    assert max(waits) >= 1, waits  # some resumption starts part-way through the patience
    # resume from each write (a stage-1 epoch, the end of stage 1, a stage-2 epoch) but the last
    for k in range(len(whole) - 1):
        record, arrays = whole[k]
        resumed = trained(State.from_record(record), arrays)
        assert len(resumed) == len(whole) - k - 1, k
        for (theirs, their_arrays), (ours, our_arrays) in zip(whole[k + 1:], resumed):
            theirs, ours = dict(theirs, seconds=None), dict(ours, seconds=None)
            assert ours == theirs, k  # stage, epoch, history, early stopping's wait and best, optimizers
            assert our_arrays.keys() == their_arrays.keys()
            for name in their_arrays:
                assert np.array_equal(our_arrays[name], their_arrays[name]), (k, name)
