"""Training on every device of the machine (--distribute): Keras's DataParallel, under JAX.

DataParallel copies the weights to every device and splits each batch between them, and refuses
a batch that the number of devices does not divide. These programs meet such batches everywhere
(a batch size of 63, the last batch of the 5,999 validation images, the ten reconstructions shown),
so here:
- a training step takes the batch less its remainder over the devices (batching.step_batch);
- prediction pads the images to a multiple of the devices and leaves the padding's outputs out;
- validation is computed from those predictions with the compiled loss, rather than by Keras's
  evaluate (whose batches would need the same padding, counted in its means).
So evaluation and prediction give the numbers one device gives. The number of devices travels in
the run's Runtime (convae.runtime).
"""
import numpy as np

from convae.backend import keras
from convae.errors import UserError


def distribute(verbose=False):
    """Replicate the models on every visible device from now on; return how many there are."""
    k = keras(verbose)
    if k.backend.backend() != "jax":
        raise UserError("--distribute runs under JAX only: set KERAS_BACKEND=jax (docs/speed.md says what "
                        "TensorFlow would need)")
    devices = k.distribution.list_devices()
    k.distribution.set_distribution(k.distribution.DataParallel(devices=devices))
    return len(devices)


def cpu_has_fast_bfloat16():
    """Whether TensorFlow runs convolutions here with oneDNN on a CPU with AMX (Intel Xeon since
    Sapphire Rapids), where bfloat16 convolutions run on its matrix units, and on no GPU."""
    import os
    k = keras()
    if k.backend.backend() != "tensorflow" or os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    from convae.backend import tensorflow
    return "amx_bf16" in flags and not tensorflow().config.list_physical_devices("GPU")


def predict(model, x, devices=1, batch_size=256):
    """model.predict, quietly, on any number of images, on `devices` devices (an array, or a list of
    them for a model of several outputs)."""
    if devices == 1:
        return model.predict(x, batch_size=batch_size, verbose=0)
    batch = -(-batch_size // devices) * devices
    padding = (-len(x)) % devices
    padded = np.concatenate([x, np.zeros((padding, *x.shape[1:]), x.dtype)]) if padding else x
    predicted = model.predict(padded, batch_size=batch, verbose=0)
    return [p[:len(x)] for p in predicted] if isinstance(predicted, list) else predicted[:len(x)]


def validation(x, y, batch_size, devices):
    """A callback that adds val_loss (and val_accuracy, where training reports accuracy) to each
    epoch's logs, from `predict` and the compiled loss. Put it before any callback that reads them."""
    k = keras()

    class Validation(k.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            predicted = predict(self.model, x, devices, batch_size)
            if "accuracy" in logs:  # in the order Keras's own validation gives them
                logs["val_accuracy"] = float(np.mean(np.argmax(predicted, axis=-1) == y))
            loss = k.losses.get(self.model.loss)
            logs["val_loss"] = float(np.mean(k.ops.convert_to_numpy(loss(y, predicted))))
    return Validation()
