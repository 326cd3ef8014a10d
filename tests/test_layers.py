"""The fast BatchNormalization and Dropout compute what Keras's own layers compute."""
import h5py
import numpy as np
import pytest


def keras_and_tf():
    from convae.backend import keras, tensorflow
    return keras(), tensorflow()


@pytest.mark.parametrize("training", [True, False])
def test_fused_batch_normalization_matches_keras(training):
    k, tf = keras_and_tf()
    from convae.layers import FusedBatchNormalization
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2.0, 3.0, (8, 6, 5, 4)).astype(np.float32))
    ours, theirs = FusedBatchNormalization(momentum=0.9), k.layers.BatchNormalization(momentum=0.9)
    for layer in (ours, theirs):
        layer.build(x.shape)
        layer.set_weights([rng.normal(1, 0.1, 4).astype(np.float32), rng.normal(0, 0.1, 4).astype(np.float32),
                           np.full(4, 0.5, np.float32), np.full(4, 2.0, np.float32)] if layer is ours
                          else ours.get_weights())
    grads = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * tf.range(y.shape[-1], dtype=tf.float32)) + tf.reduce_sum(y ** 2)
        grads.append((y.numpy(), *[g.numpy() for g in tape.gradient(loss, [x, layer.gamma, layer.beta])]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    n = 8 * 6 * 5  # the fused kernel updates the moving variance with the unbiased estimate
    np.testing.assert_allclose(ours.moving_mean.numpy(), theirs.moving_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.moving_variance.numpy(), theirs.moving_variance.numpy(),
                               rtol=2.0 / n, atol=1e-6)
    if not training:
        np.testing.assert_array_equal(ours.moving_mean.numpy(), np.full(4, 0.5, np.float32))


def test_fast_dropout_keeps_the_rate_and_the_scaling():
    k, tf = keras_and_tf()
    from convae.layers import FastDropout
    layer = FastDropout(0.3, seed=1)
    x = tf.ones((64, 28, 28, 8))
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    kept = y.numpy() != 0
    assert abs(1 - kept.mean() - 0.3) < 0.005
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), y.numpy())  # d(x*mask/0.7)/dx = mask/0.7
    assert not np.array_equal(layer(x, training=True).numpy(), y.numpy())  # a new mask every call


def test_saved_models_hold_only_stock_keras_layers(tmp_path):
    from convae.networks import build_autoencoder
    from convae.records import save_model
    model = build_autoencoder((28, 28), 2, [3, 3], [4, 4], 0.2)
    assert {"FusedBatchNormalization", "FastDropout"} <= {type(l).__name__ for l in model.layers}
    save_model(model, str(tmp_path / "m.h5"), {})
    with h5py.File(tmp_path / "m.h5") as f:
        config = f.attrs["model_config"]
    config = config.decode() if isinstance(config, bytes) else config
    assert "Fused" not in config and "FastDropout" not in config and '"BatchNormalization"' in config
