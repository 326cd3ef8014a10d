"""Training speed on an accelerator: the project's autoencoder under Keras (JAX) against a PyTorch
loop of the same network, eager and compiled.

usage: python benchmarks/gpu.py project [--batch 64 512] [--bf16] [--steps N]   (KERAS_BACKEND=jax)
       python benchmarks/gpu.py torch [--batch 64 512] [--bf16] [--steps N]
       python benchmarks/gpu.py torch-compiled [--batch 64 512] [--bf16] [--steps N]

All three train the original submission's network (two blocks of 128 and 256 filters, 3x3 kernels,
BatchNormalization, max pooling, dropout 0.2, the mirrored decoder, binary cross-entropy, Adam at
1e-3), channels-last, on random 28x28 images, and print images per second: the median over
repetitions of `--steps` steps after a warm-up. `project` trains as the scripts do (several steps
per compiled call on a GPU, convae/dispatch.py); `torch` is an eager loop; `torch-compiled` is what a
PyTorch user who knows the GPU writes: `torch.compile(model, mode="reduce-overhead")` (Inductor
kernels replayed as CUDA graphs), Adam's fused kernel, channels-last. `--bf16`: Keras's
mixed_bfloat16 policy, or torch.autocast to bfloat16. benchmarks/gpu.sh runs everything in one go
on a lent GPU.
"""
import argparse
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def project(batch_size, bf16, steps, reps=5):
    """As the scripts train: training.fit, with its input pipeline and steps per dispatch."""
    from benchmarks.throughput import ORIGINAL, project_autoencoder
    from convae import training
    from convae.backend import keras
    from convae.checkpoint import State, checkpointer
    if bf16:
        keras().mixed_precision.set_global_policy("mixed_bfloat16")
    model = project_autoencoder(dict(ORIGINAL, batch_size=batch_size))
    x = np.random.default_rng(0).random((steps * batch_size, 28, 28, 1), dtype=np.float32)
    validation = (x[:batch_size], x[:batch_size])
    training.fit(model, (x[:3 * batch_size], x[:3 * batch_size]), validation, training.Schedule(1, batch_size),
                 checkpointer(State()))
    rates = []
    for rep in range(reps):
        start = time.perf_counter()
        training.fit(model, (x, x), validation, training.Schedule(1, batch_size, seed=rep), checkpointer(State()))
        rates.append(steps * batch_size / (time.perf_counter() - start))
    return float(np.median(rates))


def torch_loop(batch_size, bf16, steps, reps=5, compiled=False):
    import torch
    from torch import nn
    device = "cuda" if torch.cuda.is_available() else "cpu"

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(cout, momentum=0.01, eps=1e-3)]
    model = nn.Sequential(
        *block(1, 128), nn.MaxPool2d(2), nn.Dropout(0.2), *block(128, 256), nn.MaxPool2d(2), nn.Dropout(0.2),
        *block(256, 256), nn.Upsample(scale_factor=2), nn.Dropout(0.2), *block(256, 128), nn.Upsample(scale_factor=2),
        nn.Dropout(0.2), nn.Conv2d(128, 1, 3, padding=1)).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3, fused=compiled and device == "cuda")
    if compiled:
        model = torch.compile(model, mode="reduce-overhead")
    loss_fn = nn.BCEWithLogitsLoss()
    x = torch.rand(steps * batch_size, 1, 28, 28, device=device).to(memory_format=torch.channels_last)

    def epoch(count):
        for i in range(count):
            batch = x[i * batch_size:(i + 1) * batch_size]
            with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(model(batch), batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
    epoch(10 if compiled else 3)  # compilation and CUDA-graph recording happen in the first steps
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        epoch(steps)
        rates.append(steps * batch_size / (time.perf_counter() - start))
    return float(np.median(rates))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["project", "torch", "torch-compiled"])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    for batch_size in args.batch:
        steps = max(2, args.steps * 64 // batch_size)
        if args.what == "project":
            rate = project(batch_size, args.bf16, steps)
        else:
            rate = torch_loop(batch_size, args.bf16, steps, compiled=args.what == "torch-compiled")
        backend = os.environ.get("KERAS_BACKEND", "tensorflow") if args.what == "project" else "torch"
        print(f"RESULT {args.what} ({backend}) batch {batch_size} {'bf16' if args.bf16 else 'fp32'}: "
              f"{rate:.0f} images/s", flush=True)


if __name__ == "__main__":
    main()
