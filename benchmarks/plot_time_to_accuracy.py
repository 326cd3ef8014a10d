"""Draw docs/time-to-accuracy.png from the measured runs in docs/time-to-accuracy.csv.

usage: python benchmarks/plot_time_to_accuracy.py [CSV] [PNG]

Each row of the CSV is one measured run: the recipe, the machine it ran on, the seed, its test
errors (of 10,000) and its wall minutes end to end (both scripts), left empty where the run did
not have the machine to itself. The figure shows, for each recipe on each machine, the mean test
errors with their range over seeds against the mean minutes of the runs timed alone, so that the
recipes read as points on one chart: lower is more accurate, further left is faster. A colour is
a recipe, a marker shape a machine. A seed run twice counts once among the seeds (the same seed
repeats a run exactly), its minutes twice.
"""
import csv
import os
import sys
from collections import defaultdict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spread(errors):
    if len(errors) == 1:
        return f"{errors[0]:g} errors (1 seed)"
    return f"{sum(errors) / len(errors):.1f} errors ({min(errors):g} to {max(errors):g} over {len(errors)} seeds)"


def timed(minutes, values):
    """Where only some runs had the machine to themselves, says how many the minutes come from."""
    if len(minutes) == len(values):
        return ""
    return f" (timed: {len(minutes)} run{'s' if len(minutes) > 1 else ''} alone)"


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "docs", "time-to-accuracy.csv")
    target = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "docs", "time-to-accuracy.png")
    runs = defaultdict(list)
    with open(source, newline="") as f:
        for row in csv.DictReader(f):
            minutes = float(row["minutes"]) if row["minutes"].strip() else None
            runs[(row["recipe"], row["machine"])].append((int(row["seed"]), int(row["test_errors"]), minutes))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, ax = plt.subplots(figsize=(12, 7.5), layout="constrained")
    markers = "osD^v<>"
    machines = sorted({machine for _, machine in runs})
    recipes = sorted({recipe for recipe, _ in runs})
    colors = plt.get_cmap("tab10").colors
    for (recipe, machine), values in sorted(runs.items()):
        by_seed = defaultdict(list)  # a seed run again counts once: the same seed repeats a run exactly
        for seed, e, _ in values:
            by_seed[seed].append(e)
        errors = [sum(e) / len(e) for e in by_seed.values()]
        minutes = [m for _, _, m in values if m is not None]
        mean_errors, mean_minutes = sum(errors) / len(errors), sum(minutes) / len(minutes)
        ax.errorbar(mean_minutes, mean_errors, yerr=[[mean_errors - min(errors)], [max(errors) - mean_errors]],
                    fmt=markers[machines.index(machine) % len(markers)], capsize=4, markersize=7,
                    color=colors[recipes.index(recipe) % len(colors)],
                    label=f"{recipe}, {machine}: {spread(errors)} in {mean_minutes:.1f} min{timed(minutes, values)}")
    ax.set_xscale("log")
    ticks = [2, 3, 5, 10, 20, 30, 50, 100]
    low, high = ax.get_xlim()
    ax.set_xticks([t for t in ticks if low <= t <= high])
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    low, high = ax.get_ylim()
    ax.set_ylim(low - 1, high + 1)
    ax.set_xlabel("wall minutes, both scripts end to end (log scale)")
    ax.set_ylabel("test errors of 10,000 (mean; bars: range over seeds)")
    ax.grid(alpha=0.3, which="both")
    fig.legend(fontsize=8.5, loc="outside lower center", ncols=1)
    ax.set_title("Time to accuracy on the full MNIST")
    fig.savefig(target, dpi=100)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
