"""Several training steps per dispatch under JAX: one compiled call runs a block of steps.

At small batches on a GPU the time of a step goes to launching it from Python rather than to the
GPU (docs/speed.md), and Keras 3.15's own
`steps_per_execution` under JAX is a Python loop around the one-step function. Here the training
images are copied to the device once per stage, and one compiled function runs a block of steps
in a loop (`jax.lax.fori_loop` over Keras's own `train_step`, the state of the model, optimizer
and metrics carried through), gathering each step's batch by index. Keras's `fit` still does
everything else: the per-epoch lines (its `steps_per_execution` counts the steps), validation,
callbacks (Ctrl-C is checked between blocks), checkpoints. The last block of an epoch runs fewer
steps through the same compiled function, so each stage compiles its training step once.
"""
from convae import internals
from convae.backend import keras


def install(model, x, y, batch_size, steps):
    """Make the next model.fit run `steps` training steps per call on batches gathered from x and y,
    fed by batching.block_batches. The model must be compiled; after each compile the block is
    compiled anew (it holds the optimizer), and reused by every fit until the next."""
    import jax
    internals.set_steps_per_execution(model, steps)
    current = internals.jax_train_function(model)
    compiled = getattr(current, "block", None)
    if compiled is None or current.steps != steps:
        # Keras builds the loss and metrics from the first item of the data, which here holds
        # indices: build them from real images first (in inference mode: nothing trains or draws).
        model.evaluate(x[:batch_size], y[:batch_size], batch_size=batch_size, verbose=0)
        compiled = jax.jit(_block(model), donate_argnums=0)
    x_all = jax.device_put(x)
    y_all = x_all if y is x else jax.device_put(y)

    def train_function(state, iterator):
        indices, real = next(iterator)
        return compiled(state, x_all, y_all, indices, real)
    train_function.block, train_function.steps = compiled, steps
    internals.set_jax_train_function(model, train_function)


def _block(model):
    """(state, images, targets, indices, real) -> (logs, state): Keras's train_step on the first
    `real` rows of `indices`, one after the other."""
    import jax

    def block(state, x_all, y_all, indices, real):
        def batch(i):
            return x_all[indices[i]], y_all[indices[i]]

        def step(i, carry):
            state, _ = carry
            logs, state = model.train_step(state, batch(i))
            return state, logs
        shapes = jax.eval_shape(lambda s: model.train_step(s, batch(0))[0], state)
        logs = jax.tree_util.tree_map(lambda s: jax.numpy.zeros(s.shape, s.dtype), shapes)
        state, logs = jax.lax.fori_loop(0, real, step, (state, logs))
        return logs, state
    return block


def default_steps():
    """Steps per dispatch where the user gives none: a block on an accelerator under JAX; one step
    elsewhere, where XLA ran a loop of steps many times slower than the steps one by one (docs/speed.md)."""
    k = keras()
    if k.backend.backend() != "jax":
        return 1
    import jax
    return 1 if jax.default_backend() == "cpu" else 32
