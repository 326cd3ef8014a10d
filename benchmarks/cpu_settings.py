"""TensorFlow's CPU settings measured on this machine: the project's default against each alternative.

usage: python benchmarks/cpu_settings.py [--rounds 3] [--steps 24]

TensorFlow reads these settings once, when it starts, so each variant runs in a process of its
own; the variants take turns, round after round, so that a machine getting busier or cooler
weighs on all of them alike. Each process times `--steps` training steps (batch 64) of the
recipe's autoencoder and of the recipe's classifier in stage 2, built as the scripts build them,
on random images. It prints the CPU's model and vector extensions, then the median images per
second of each variant over the rounds and its ratio to the project's default. One more variant
trains under Keras's mixed_bfloat16 dtype policy (bfloat16 computations, float32 weights), which
the scripts do not offer: on a CPU with AVX-512 BF16 it measured within the machine's noise of
float32 (docs/speed.md).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

POLICY = "CPU_SETTINGS_DTYPE_POLICY"  # read by the child only: the Keras dtype policy it trains under
# name: environment variables set for the child (None: removed, so that TensorFlow's own default applies)
VARIANTS = {
    "project default (oneDNN on)": {},
    "oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "TensorFlow's default (unset)": {"TF_ENABLE_ONEDNN_OPTS": None},
    "1 inter-op thread (TF_NUM_INTEROP_THREADS=1)": {"TF_NUM_INTEROP_THREADS": "1"},
    "1 intra-op thread (TF_NUM_INTRAOP_THREADS=1)": {"TF_NUM_INTRAOP_THREADS": "1"},
    "bfloat16 mixed precision (Keras policy)": {POLICY: "mixed_bfloat16"},
}
RECIPE = {"layers": 5, "kernel": [3] * 5, "filters": [32, 32, 64, 64, 128], "pooling": [2, 4], "dropout": 0.1}
WORKLOADS = ("autoencoder training", "classifier stage 2")
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16")


def cpu():
    """The CPU's model name and which of the vector extensions that matter here it has."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    return f"{model}, {os.cpu_count()} cores; " + ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in FLAGS)


def child(steps, tensorflow_default):
    """Time both workloads in this process; print their images per second as JSON."""
    from convae import backend, batching, classifier
    from convae.backend import keras, version
    if tensorflow_default:
        del backend.CPU_SETTINGS["TF_ENABLE_ONEDNN_OPTS"]
    from convae.encoder import extract_encoder
    from convae.networks import build_autoencoder, build_classifier, compile_autoencoder, compile_classifier
    keras().mixed_precision.set_global_policy(os.environ.get(POLICY, "float32"))
    rng = np.random.default_rng(0)
    x = rng.random((steps * 64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, len(x))

    def autoencoder():
        model = build_autoencoder((28, 28), RECIPE["layers"], RECIPE["kernel"], RECIPE["filters"], RECIPE["dropout"],
                                  RECIPE["pooling"])
        compile_autoencoder(model)
        return model

    def stage_2():
        encoder = classifier.fresh_encoder(extract_encoder(autoencoder())[0], 0.25)
        model = build_classifier(encoder, 10, 128, 0.3, augment=(0.1, 10.0, 0.1))
        classifier.unfreeze_encoder(encoder, "frozen", 0.25)
        compile_classifier(model, 1e-3, 1000)
        return model

    rates = {}
    for name, model, target in ((WORKLOADS[0], autoencoder(), x), (WORKLOADS[1], stage_2(), y)):
        model.fit(batching.training_batches(x[:128], target[:128], 64, 0, 0, 1), steps_per_epoch=2, verbose=0)
        start = time.perf_counter()
        model.fit(batching.training_batches(x, target, 64, 0, 0, 1), steps_per_epoch=steps, verbose=0)
        rates[name] = len(x) / (time.perf_counter() - start)
    print(json.dumps({"rates": rates, "onednn": version().get("onednn")}))


def run_variant(settings, steps):
    env = dict(os.environ)
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)  # the project's default, unless the variant sets it
    env.pop(POLICY, None)  # float32, unless the variant sets it
    for variable, value in settings.items():
        if value is None:
            env.pop(variable, None)
        else:
            env[variable] = value
    command = [sys.executable, os.path.abspath(__file__), "--child", "--steps", str(steps)]
    if settings.get("TF_ENABLE_ONEDNN_OPTS", "") is None:  # TensorFlow's own default: the project stays out of it
        command.append("--tensorflow-default")
    done = subprocess.run(command, capture_output=True, text=True, env=dict(env, PYTHONPATH=REPO), check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of every variant (default: 3)")
    parser.add_argument("--steps", type=int, default=24, help="timed training steps per workload (default: 24)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tensorflow-default", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.steps, args.tensorflow_default)
    print(cpu())
    rates = {name: {w: [] for w in WORKLOADS} for name in VARIANTS}
    onednn = {}
    for round_number in range(args.rounds):
        for name, settings in VARIANTS.items():
            found = run_variant(settings, args.steps)
            onednn[name] = found["onednn"]
            for workload in WORKLOADS:
                rates[name][workload].append(found["rates"][workload])
        print(f"round {round_number + 1} of {args.rounds} done", flush=True)
    base = {w: np.median(rates[next(iter(VARIANTS))][w]) for w in WORKLOADS}
    print(f"\nimages per second, medians of {args.rounds} rounds of {args.steps} steps at batch 64 "
          "(ratio to the project's default):")
    print(f"{'variant':48s} {'oneDNN':>6s}" + "".join(f"  {w:>28s}" for w in WORKLOADS))
    for name in VARIANTS:
        cells = "".join(f"{np.median(rates[name][w]):8.0f} ({np.median(rates[name][w]) / base[w]:4.2f}x)".rjust(30)
                        for w in WORKLOADS)
        print(f"{name:48s} {str(onednn[name]):>6s}{cells}")


if __name__ == "__main__":
    main()
