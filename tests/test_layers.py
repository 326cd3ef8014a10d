"""The fast BatchNormalization and Dropout compute what Keras's own layers compute; the one-pass
augmentation moves images as asked."""
import h5py
import numpy as np
import pytest


def keras_and_tf():
    from convae.backend import keras, tensorflow
    return keras(), tensorflow()


@pytest.mark.parametrize("training", [True, False])
def test_fused_batch_normalization_computes_what_keras_computes(training):
    k, tf = keras_and_tf()
    from convae.layers import BatchNormalization
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2.0, 3.0, (8, 6, 5, 4)).astype(np.float32))
    ours, theirs = BatchNormalization(), k.layers.BatchNormalization()
    for layer in (ours, theirs):
        layer.build(x.shape)
    theirs.set_weights([rng.normal(1, 0.1, 4).astype(np.float32), rng.normal(0, 0.1, 4).astype(np.float32),
                        np.full(4, 0.5, np.float32), np.full(4, 2.0, np.float32)])
    ours.set_weights(theirs.get_weights() + [np.float32(0)])
    grads = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * tf.range(y.shape[-1], dtype=tf.float32)) + tf.reduce_sum(y ** 2)
        grads.append((y.numpy(), *[g.numpy() for g in tape.gradient(loss, [x, layer.gamma, layer.beta])]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    if not training:
        np.testing.assert_array_equal(ours.moving_mean.numpy(), np.full(4, 0.5, np.float32))
        assert float(ours.updates.numpy()) == 0


@pytest.mark.parametrize("fused", [True, False])
def test_moving_statistics_are_the_bias_corrected_average_of_the_batches(fused):
    """At Keras's momentum (0.99) the moving statistics are the exponential average of the batches'
    statistics with weights that sum to one: no trace of the starting 0 and 1."""
    _, tf = keras_and_tf()
    from convae.layers import BatchNormalization
    m = 0.99
    layer = BatchNormalization()
    assert layer.momentum == m
    rng = np.random.default_rng(0)
    batches = [rng.normal(0.3 + 0.01 * i, 0.05, (16, 5, 5, 3)).astype(np.float32) for i in range(40)]
    if not fused:  # 3-D input: Keras's own moments instead of the fused kernel
        batches = [b.reshape(16, 25, 3) for b in batches]
    mean = variance = weight = 0.0
    for batch in batches:
        layer(tf.constant(batch), training=True)
        axes = tuple(range(batch.ndim - 1))
        n = batch.size // 3
        batch_variance = batch.var(axis=axes) * (n / (n - 1) if fused else 1.0)  # the fused kernel: unbiased
        mean, variance = m * mean + (1 - m) * batch.mean(axis=axes), m * variance + (1 - m) * batch_variance
        weight = m * weight + (1 - m)
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean / weight, rtol=1e-4)
    np.testing.assert_allclose(layer.moving_variance.numpy(), variance / weight, rtol=1e-3)
    assert float(layer.updates.numpy()) == 40
    assert layer.moving_variance.numpy().max() < 0.01  # Keras's own: 0.67 + 0.33 x 0.0025 after 40 steps


def test_saved_models_hold_only_stock_keras_layers(tmp_path):
    from convae.networks import build_autoencoder
    from convae.records import save_model
    model = build_autoencoder((28, 28), 2, [3, 3], [4, 4], 0.2)
    from convae.layers import BatchNormalization
    assert any(type(layer) is BatchNormalization for layer in model.layers)  # the project's, before saving
    save_model(model, str(tmp_path / "m.h5"), {})
    names = []
    with h5py.File(tmp_path / "m.h5") as f:
        f["model_weights"].visit(names.append)
    assert any(name.endswith("moving_variance") for name in names)
    assert not any("updates" in name for name in names)
    with h5py.File(tmp_path / "m.h5") as f:
        config = f.attrs["model_config"]
    config = config.decode() if isinstance(config, bytes) else config
    assert "Fused" not in config and '"BatchNormalization"' in config


def test_affine_transform_shifts_rotates_and_scales_about_the_centre():
    from convae.layers import affine_transform
    _, tf = keras_and_tf()
    image = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    one, zero = tf.ones((1,)), tf.zeros((1,))
    shifted = affine_transform(image, zero, one, 1 * one, 2 * one).numpy()[0, :, :, 0]
    expected = np.zeros((5, 5), np.float32)
    expected[2:, 1:] = image[0, :3, :4, 0]  # one pixel right, two down, zeros come in
    np.testing.assert_allclose(shifted, expected, atol=1e-5)
    turned = affine_transform(image, np.pi / 2 * one, one, zero, zero).numpy()[0, :, :, 0]
    np.testing.assert_allclose(turned, np.rot90(image[0, :, :, 0]), atol=1e-4)
    zoomed = affine_transform(image, zero, 0.5 * one, zero, zero).numpy()[0, :, :, 0]
    assert zoomed[2, 2] == image[0, 2, 2, 0] and zoomed[2, 3] == pytest.approx(12.5)  # twice the size
    both = affine_transform(image, np.pi / 2 * one, 0.5 * one, 1 * one, 0 * one).numpy()[0, :, :, 0]
    # the centre moves by the shift, whatever the rotation and zoom
    assert both[2, 3] == pytest.approx(image[0, 2, 2, 0])


def test_random_affine_moves_digits_in_training_only_and_within_its_ranges():
    from convae.layers import RandomAffine
    keras, _ = keras_and_tf()
    keras.utils.set_random_seed(0)
    rows, cols = np.indices((28, 28))
    # a smooth blob, so that resampling keeps its mass
    blob = np.exp(-((rows - 13.5) ** 2 + (cols - 13.5) ** 2) / 8.0).astype(np.float32)
    images = np.repeat(blob[None, :, :, None], 256, axis=0)
    layer = RandomAffine(shift=0.1, rotation=10, zoom=0.1)
    assert np.array_equal(layer(images, training=False), images)
    moved = layer(images, training=True).numpy()[..., 0]
    assert not np.allclose(moved, images[..., 0])
    mass = moved.sum(axis=(1, 2))
    centre_x = (moved * cols).sum(axis=(1, 2)) / mass - 13.5
    centre_y = (moved * rows).sum(axis=(1, 2)) / mass - 13.5
    # shifts of up to 2.8 pixels either way, different per image; area within (1 -/+ 0.1)^-2
    assert np.abs(centre_x).max() <= 2.9 and np.abs(centre_y).max() <= 2.9
    assert centre_x.std() > 1.0 and centre_y.std() > 1.0
    assert mass.min() >= 0.98 * blob.sum() / 1.1 ** 2 and mass.max() <= 1.02 * blob.sum() / 0.9 ** 2
    assert mass.std() > 0.05 * blob.sum()


def test_saved_classifier_holds_keras_augmentation_layers_and_predicts_the_same(tmp_path):
    from convae.networks import build_autoencoder, build_classifier
    from convae.records import save_model
    keras, _ = keras_and_tf()
    encoder = build_autoencoder((28, 28), 2, [3, 3], [4, 4], 0.0)
    model = build_classifier(keras.Model(encoder.input, encoder.get_layer("bottleneck").output), 10, 8, 0.2,
                             augment=(0.1, 10, 0.1))
    assert "RandomAffine" in {type(l).__name__ for l in model.layers}
    save_model(model, str(tmp_path / "c.h5"), {})
    loaded = keras.models.load_model(tmp_path / "c.h5", compile=False)
    stock = {type(l).__name__ for l in loaded.get_layer("augmentation").layers}
    assert stock == {"RandomTranslation", "RandomRotation", "RandomZoom"}
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("fused, batch", [(True, 64), (False, 64), (True, 16), (False, 16)])
def test_the_statistics_pass_gives_every_layer_the_statistics_of_what_it_sees(fused, batch, monkeypatch):
    """One pass, two layers: each BatchNormalization layer ends with the mean and variance over all
    the images of what it sees in inference mode, given the statistics just given to the layer before
    it. In several batches (16: of 13, 12 and 12 images) the first layer's are still exact; the
    second's input was normalised with each batch's own statistics in the pass, so close only."""
    k, tf = keras_and_tf()
    from convae import layers, training
    if not fused:
        monkeypatch.setattr(layers, "_tf", None)
    rng = np.random.default_rng(1)
    inputs = k.Input((6, 5, 2))
    x = layers.BatchNormalization(name="bn1")(k.layers.Conv2D(3, 3, padding="same", name="c1")(inputs))
    x = k.layers.Dropout(0.5, name="drop")(x)  # off in the pass
    x = layers.BatchNormalization(name="bn2")(k.layers.Conv2D(4, 3, padding="same", name="c2")(x))
    model = k.Model(inputs, k.layers.Conv2D(1, 3, padding="same")(x))
    model.get_layer("bn1").set_weights([np.full(3, 2.0, np.float32), np.full(3, 0.5, np.float32),
                                        np.zeros(3, np.float32), np.ones(3, np.float32), np.float32(0)])
    images = rng.normal(3.0, 2.0, (37, 6, 5, 2)).astype(np.float32)
    callback = training.batch_norm_statistics(images, batch=batch)
    callback.set_model(model)
    callback.update()
    for name, rtol in (("bn1", 1e-4), ("bn2", 1e-4 if batch > len(images) else 0.1)):
        layer = model.get_layer(name)
        seen = k.Model(model.input, layer.input).predict(images, verbose=0).reshape(-1, layer.input.shape[-1])
        np.testing.assert_allclose(layer.moving_mean.numpy(), seen.mean(axis=0), rtol=rtol, atol=1e-5)
        np.testing.assert_allclose(layer.moving_variance.numpy(), seen.var(axis=0), rtol=10 * rtol, atol=1e-5)
    assert model.get_layer("bn1").moving_variance.numpy().max() > 1.5  # not left at its start (1)


@pytest.mark.parametrize("count, expected", [(320, 320), (600, 512), (3276, 655), (4000, 800), (10240, 2048),
                                             (48000, 2048)])
def test_the_statistics_take_a_fifth_of_the_images_from_512_to_2048(count, expected):
    from convae.training import statistics_images
    assert statistics_images(count) == expected


@pytest.mark.parametrize("count, largest, expected", [(37, 16, 13), (512, 256, 256), (513, 256, 171), (100, 256, 100)])
def test_the_statistics_pass_splits_its_images_into_even_batches(count, largest, expected):
    from convae.training import even_batch
    assert even_batch(count, largest) == expected
