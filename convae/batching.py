"""The order of the training images and how they are cut into batches and blocks of steps.

Every epoch visits the images in an order drawn from (seed, epoch) alone, so that a run resumed at
any epoch visits them as the uninterrupted run did, in full batches only: the last, partial batch
of each epoch is dropped (each epoch draws a new order, so no image is left out for long). A batch
of a few images would give BatchNormalization the statistics of those few, and a second batch
shape costs a second compilation of the training step.
"""
import dataclasses

import numpy as np

from convae.backend import is_tensorflow, tensorflow
from convae.errors import UserError


@dataclasses.dataclass(frozen=True)
class Plan:
    """How fit() cuts an epoch: images per step, steps per epoch, steps per compiled call."""
    step_batch: int
    steps: int
    block: int


def step_batch(batch_size, devices=1):
    """The images one training step takes: the batch less its remainder over the devices."""
    if batch_size < devices:
        raise UserError(f"--batch-size {batch_size} is smaller than the {devices} devices it is split between")
    return batch_size - batch_size % devices


def steps_per_epoch(count, batch_size, devices=1):
    """Training steps in an epoch of `count` images: full batches only."""
    return count // step_batch(batch_size, devices)


def plan(count, batch_size, devices, steps_per_dispatch):
    """The Plan of an epoch of `count` images: one step per call where the batch is split between devices."""
    steps = steps_per_epoch(count, batch_size, devices)
    return Plan(step_batch(batch_size, devices), steps, 1 if devices > 1 else max(1, min(steps, steps_per_dispatch)))


def epoch_order(count, seed, epoch):
    """The order in which an epoch visits the images: a permutation drawn from (seed, epoch) alone."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def training_batches(x, y, batch_size, seed, first_epoch, epochs):
    """(x, y) batches for the epochs from `first_epoch` to `epochs`, each epoch in `epoch_order`, full
    batches only.

    Under TensorFlow a tf.data pipeline: the arrays become tensors once and each batch is gathered
    from them, so no epoch copies the data set; tf.data's autotuning and prefetch threads are off,
    because on a 2-core CPU they competed with the training step (docs/speed.md). On the other
    backends, a generator of NumPy batches.
    """
    orders = np.stack([epoch_order(len(x), seed, e) for e in range(first_epoch, epochs)]).astype(np.int32)
    if not is_tensorflow():
        return _numpy_batches(x, y, batch_size, orders)
    tf = tensorflow()
    data = tf.data.Dataset.from_tensor_slices(orders).flat_map(
        lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=True))
    return _tf_gather(data, x, y)


def block_batches(count, batch_size, seed, first_epoch, epochs, steps):
    """For every block of `steps` training steps of the epochs from `first_epoch` to `epochs`: the
    images' indices (steps x batch_size, rows past the epoch's end zero) and how many steps are real.
    Each epoch visits the images in `epoch_order`, in full batches, as `training_batches` does."""
    per_epoch = count // batch_size
    for epoch in range(first_epoch, epochs):
        order = epoch_order(count, seed, epoch)[:per_epoch * batch_size].astype(np.int32)
        order = order.reshape(per_epoch, batch_size)
        for start in range(0, per_epoch, steps):
            block = order[start:start + steps]
            real = len(block)
            if real < steps:
                block = np.concatenate([block, np.zeros((steps - real, batch_size), np.int32)])
            yield block, np.int32(real)


def validation_batches(x, y, batch_size):
    """(x, y) in order, in batches: a tf.data pipeline under TensorFlow, the arrays otherwise."""
    if not is_tensorflow():
        return x, y
    tf = tensorflow()
    return _tf_gather(tf.data.Dataset.range(len(x)).batch(batch_size), x, y)


def _tf_gather(indices, x, y):
    tf = tensorflow()
    same = y is x  # an autoencoder's target is its input: gather it once
    x = tf.convert_to_tensor(x)
    y = x if same else tf.convert_to_tensor(y)

    def gather(batch):
        inputs = tf.gather(x, batch)
        return inputs, (inputs if same else tf.gather(y, batch))
    options = tf.data.Options()
    options.autotune.enabled = False
    options.threading.private_threadpool_size = 1
    return indices.map(gather).with_options(options)


def _numpy_batches(x, y, batch_size, orders):
    same = y is x
    for order in orders:
        for start in range(0, len(order) - batch_size + 1, batch_size):
            batch = order[start:start + batch_size]
            inputs = x[batch]
            yield inputs, (inputs if same else y[batch])
