"""Draw docs/time-to-accuracy.png from the measured runs in docs/time-to-accuracy.csv.

usage: python benchmarks/plot_time_to_accuracy.py [CSV] [PNG]

Each row of the CSV is one measured run: the recipe, the machine it ran on, the seed, its test
errors (of 10,000) and its wall minutes end to end (both scripts). The figure shows, for each
recipe on each machine, the mean test errors with their range over seeds against the mean
minutes, so that the recipes read as points on one chart: lower is more accurate, further left
is faster.
"""
import csv
import os
import sys
from collections import defaultdict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "docs", "time-to-accuracy.csv")
    target = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "docs", "time-to-accuracy.png")
    runs = defaultdict(list)
    with open(source, newline="") as f:
        for row in csv.DictReader(f):
            runs[(row["recipe"], row["machine"])].append((int(row["test_errors"]), float(row["minutes"])))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    markers = "osD^v<>"
    machines = sorted({machine for _, machine in runs})
    for i, ((recipe, machine), values) in enumerate(sorted(runs.items())):
        errors = [e for e, _ in values]
        minutes = [m for _, m in values]
        mean_errors, mean_minutes = sum(errors) / len(errors), sum(minutes) / len(minutes)
        ax.errorbar(mean_minutes, mean_errors, yerr=[[mean_errors - min(errors)], [max(errors) - mean_errors]],
                    fmt=markers[machines.index(machine) % len(markers)], capsize=4, markersize=7,
                    label=f"{recipe}, {machine}: {mean_errors:.1f} errors ({min(errors)} to {max(errors)}, "
                          f"{len(values)} seed{'s' if len(values) > 1 else ''}) in {mean_minutes:.1f} min")
    ax.set_xscale("log")
    ax.set_xlabel("wall minutes, both scripts end to end (log scale)")
    ax.set_ylabel("test errors of 10,000 (mean; bars: range over seeds)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Time to accuracy on the full MNIST")
    fig.savefig(target, dpi=100)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
