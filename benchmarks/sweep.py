"""What a sweep costs beyond its experiments, and which worker layout is faster on this machine.

usage: python benchmarks/sweep.py [--seeds 1-4] [--epochs 2] [--out DIR]

Runs the same experiments (autoencoder.py with its defaults on the bundled sample, one per seed)
four ways, one after another, and prints each one's wall time:
  by hand      `python autoencoder.py ... --no-input --seed N`, one process after another;
  1 worker     `python sweep.py autoencoder.py ... --seeds A-B`: one worker process using every core;
  2 workers    the same with --workers 2: two processes, each pinned to one core (on 2 cores);
and the per-trial overhead of the 1-worker sweep beyond each experiment's own training, as the
median over its trials of (the trial's time in its worker - the training time its experiment
records), and as (the sweep's wall time - the experiments' training times) / trials, start-up included.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import REPO, machine  # noqa: E402  (benchmarks/common.py)

SAMPLE = os.path.join(REPO, "datasets", "sample", "train-images-idx3-ubyte.gz")


def timed(command, cwd):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *command], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1-4")
    parser.add_argument("--epochs", default="2")
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    first, last = (int(s) for s in args.seeds.split("-"))
    seeds = list(range(first, last + 1))
    folder = args.out or tempfile.mkdtemp(prefix="sweep-benchmark-")
    os.makedirs(folder, exist_ok=True)
    flags = ["-d", SAMPLE, "--epochs", args.epochs]
    print(f"{machine()}; {len(seeds)} experiments: autoencoder.py's defaults, {args.epochs} epochs on the sample")

    by_hand = sum(timed([os.path.join(REPO, "autoencoder.py"), *flags, "--no-input", "--seed", str(seed),
                         "--output-dir", f"hand-{seed}", "--save", f"hand-{seed}.h5"], folder) for seed in seeds)
    print(f"  by hand, one process after another: {by_hand:.1f} s")
    results = {}
    for workers in (1, 2):
        out = f"sweep-{workers}"
        shutil.rmtree(os.path.join(folder, out), ignore_errors=True)
        seconds = timed([os.path.join(REPO, "sweep.py"), "autoencoder.py", *flags, "--seeds", args.seeds,
                         "--workers", str(workers), "--no-tensorboard", "--output-dir", out], folder)
        results[workers] = seconds
        layout = "one process on every core" if workers == 1 else "two processes, one core each"
        print(f"  sweep, {workers} worker{'s' if workers > 1 else ''} ({layout}): {seconds:.1f} s, "
              f"{by_hand / seconds:.2f}x the speed by hand")
    trials = [json.load(open(os.path.join(folder, "sweep-1", "trials", name, "result.json")))
              for name in sorted(os.listdir(os.path.join(folder, "sweep-1", "trials")))
              if os.path.isdir(os.path.join(folder, "sweep-1", "trials", name))]
    training = [t["minutes"] * 60 for t in trials]
    inside = [t["wall_seconds"] - t["minutes"] * 60 for t in trials]
    print(f"  per-trial overhead of the 1-worker sweep beyond the training: median {statistics.median(inside):.2f} s "
          f"in the worker (figures, saving, the trial's bookkeeping); "
          f"{(results[1] - sum(training)) / len(trials):.2f} s with the sweep's start-up and the workers' "
          "imports shared out")
    print(f"  faster layout here: {'1 worker' if results[1] <= results[2] else '2 workers'} "
          f"({max(results.values()) / min(results.values()):.2f}x)")
    if not args.out:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
