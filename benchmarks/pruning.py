"""The same search with and without --prune: the compute each spends and the best configuration each
finds, compared paired over the seeds.

usage: python benchmarks/pruning.py [--limit 3000] [--epochs 9] [--trials 12] [--seeds 1-3] [OUTPUT_DIR]

Runs `sweep.py autoencoder.py` on the first --limit full-MNIST training images, searching the batch size
(16 to 512, log scale) and the dropout (0 to 0.4) with Optuna's TPE sampler (the same sampler seed both
times: the first seed), --trials configurations x --seeds, --epochs each: once as is, once with --prune
(successive halving at epochs 1, 3, 9 on the first seed; a configuration pruned there never runs its other
seeds). Then it prints, for each: the trial-epochs run, the workers' minutes and the wall minutes, and the
best configuration by its mean validation loss over the seeds (never the test set). The two bests are
compared seed by seed (a paired t-test, scipy.stats.ttest_rel): the pruned search's best is "within seed
noise" of the full search's where p >= 0.05 or it is the better one. Goal (issue 48): within seed noise
for at most 40% of the compute. Each sweep is a process of its own, one after the other, its workers one
per core (the default).
"""
import argparse
import csv
import os
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.common import machine, mnist_dir  # noqa: E402

SEARCH = ["--search", "batch-size=16:512:log", "--search", "dropout=0:0.4"]


def run(out, name, args, prune):
    folder = os.path.join(out, name)
    command = [sys.executable, os.path.join(REPO, "sweep.py"), "autoencoder.py", *args, *SEARCH,
               "--no-tensorboard", "--output-dir", folder] + (["--prune"] if prune else [])
    print("$ " + " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"error: the {name} sweep failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    with open(os.path.join(folder, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    return folder, rows, wall


def best(rows, seeds):
    """The configuration of the lowest mean validation loss among those complete on every seed:
    (batch size, dropout), {seed: validation loss}."""
    configurations = {}
    for row in rows:
        if row["status"] == "complete":
            configurations.setdefault((row["batch_size"], row["dropout"]), {})[int(row["seed"])] = \
                float(row["val_loss"])
    whole = {key: losses for key, losses in configurations.items() if set(losses) == set(seeds)}
    key = min(whole, key=lambda k: np.mean(list(whole[k].values())))
    return key, whole[key]


def spent(rows):
    return {"trial-epochs": sum(int(r["epochs_run"] or 0) for r in rows),
            "trial minutes": sum(float(r["minutes"] or 0) for r in rows),
            "trials": len(rows), "pruned": sum(r["status"] == "pruned" for r in rows)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seeds", default="1-3")
    parser.add_argument("output", nargs="?", default=os.path.join("runs", time.strftime("pruning-%Y%m%d-%H%M%S")))
    args = parser.parse_args()
    mnist = mnist_dir()
    if not os.path.exists(os.path.join(mnist, "train-images-idx3-ubyte.gz")):
        raise SystemExit("error: no MNIST found; run: python datasets/download.py")
    from convae.sweep.spec import parse_seeds
    seeds = parse_seeds(args.seeds)
    out = os.path.abspath(args.output)
    given = ["-d", os.path.join(mnist, "train-images-idx3-ubyte.gz"), "--limit", str(args.limit), "--epochs",
             str(args.epochs), "--trials", str(args.trials), "--seeds", args.seeds]
    print(f"{machine()}; {args.trials} configurations x seeds {args.seeds}, {args.epochs} epochs, "
          f"{args.limit} images", flush=True)
    results = {}
    for name, prune in (("pruned", True), ("full", False)):
        folder, rows, wall = run(out, name, given, prune)
        key, losses = best(rows, seeds)
        results[name] = dict(spent(rows), wall=wall / 60, best=key, losses=losses, folder=folder)
    full, pruned = results["full"], results["pruned"]
    print(f"\n| search | trials run (pruned) | trial-epochs | workers' trial minutes | wall minutes | best: "
          f"batch, dropout | its mean val_loss (SD) |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for name in ("full", "pruned"):
        r = results[name]
        values = [r["losses"][s] for s in seeds]
        print(f"| {name} | {r['trials']} ({r['pruned']}) | {r['trial-epochs']} | {r['trial minutes']:.1f} | "
              f"{r['wall']:.1f} | {r['best'][0]}, {float(r['best'][1]):.3f} | {np.mean(values):.4f} "
              f"({np.std(values, ddof=1) if len(values) > 1 else 0:.4f}) |")
    share = pruned["trial-epochs"] / full["trial-epochs"]
    a = np.array([pruned["losses"][s] for s in seeds])
    b = np.array([full["losses"][s] for s in seeds])
    from scipy import stats
    p = float(stats.ttest_rel(a, b).pvalue) if len(seeds) > 1 and np.any(a != b) else 1.0
    within = p >= 0.05 or a.mean() <= b.mean()
    print(f"\nThe pruned search spent {share:.0%} of the full search's trial-epochs "
          f"({pruned['wall'] / full['wall']:.0%} of its wall time). Its best against the full search's best, "
          f"paired over seeds {args.seeds}: {a.mean() - b.mean():+.4f} val_loss (p = {p:.3f}): "
          f"{'within seed noise or better' if within else 'worse beyond seed noise'}. "
          f"Goal (at most 40% of the compute, within seed noise): {'met' if within and share <= 0.4 else 'not met'}.")


if __name__ == "__main__":
    main()
