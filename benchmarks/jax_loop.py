"""Under JAX: a training step called once per batch against the same steps run in a loop inside
one compiled call, as --steps-per-dispatch does (convae/dispatch.py).

usage: KERAS_BACKEND=jax python benchmarks/jax_loop.py [--steps 8] [--reps 2]

On the default autoencoder at batch 64, on random images, it times Keras's own jitted
`train_step` called once per batch; the project's block (`jax.lax.fori_loop`, batches gathered by
index on the device); a `jax.lax.scan` over batches given to it; and that scan fully unrolled.
Prints milliseconds per step and each one's ratio to the step called once per batch. On a GPU
this says whether the loop pays; on a CPU it shows why the scripts default to one step per call.
"""
import argparse
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="steps per block (default: 8)")
    parser.add_argument("--reps", type=int, default=2, help="blocks timed (default: 2)")
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "jax")
    from convae import dispatch
    from convae.backend import keras
    from convae.networks import build_autoencoder, compile_autoencoder
    keras()
    import jax
    if keras().backend.backend() != "jax":
        raise SystemExit("error: run under KERAS_BACKEND=jax")
    n = args.steps
    x = np.random.default_rng(0).random((64 * n, 28, 28, 1), dtype=np.float32)
    model = build_autoencoder((28, 28), 3, [3] * 3, [32, 64, 128], 0.1, [1, 2])
    compile_autoencoder(model)
    model.evaluate(x[:64], x[:64], batch_size=64, verbose=0)
    model.optimizer.build(model.trainable_variables)
    state = tuple([v.value for v in variables] for variables in (
        model.trainable_variables, model.non_trainable_variables, model.optimizer.variables, model.metrics_variables))
    images, batches = jax.device_put(x), jax.device_put(x.reshape(n, 64, 28, 28, 1))
    indices = np.arange(64 * n, dtype=np.int32).reshape(n, 64)

    def scan(unroll):
        def run(state, batches):
            def body(state, batch):
                logs, state = model.train_step(state, (batch, batch))
                return state, logs
            state, logs = jax.lax.scan(body, state, batches, unroll=unroll)
            return logs, state
        return jax.jit(run, donate_argnums=0)
    one = jax.jit(model.train_step, donate_argnums=0)
    block = jax.jit(dispatch._block(model), donate_argnums=0)
    rolled, unrolled = scan(1), scan(n)
    variants = {
        "one step per call": lambda s: [s := one(s, (batches[i], batches[i]))[1] for i in range(n)][-1],
        f"fori_loop block of {n} (the project's)": lambda s: block(s, images, images, indices, np.int32(n))[1],
        f"lax.scan of {n}": lambda s: rolled(s, batches)[1],
        f"lax.scan of {n}, unrolled": lambda s: unrolled(s, batches)[1],
    }
    times = {}
    for name, call in variants.items():
        state = jax.block_until_ready(call(state))  # compile and warm up
        start = time.perf_counter()
        for _ in range(args.reps):
            state = call(state)
        jax.block_until_ready(state)
        times[name] = (time.perf_counter() - start) / (args.reps * n) * 1000
    base = times["one step per call"]
    print(f"{jax.devices()[0].device_kind}, default autoencoder, batch 64, {args.reps} blocks of {n} steps:")
    for name, ms in times.items():
        print(f"  {name:36s} {ms:9.1f} ms a step ({base / ms:5.2f}x the speed of one step per call)")


if __name__ == "__main__":
    main()
