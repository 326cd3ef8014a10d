"""The table of benchmarks/claims.sh: each of the original team's claims, its variants' mean and SD over
the seeds, and each variant against the claim's reference paired by seed (scipy.stats.ttest_rel), from
the folders claims.sh wrote; with --figures DIR, the figures docs/sweeps.md shows.

usage: python benchmarks/claims.py runs/claims-DATE [--figures docs]
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import machine  # noqa: E402


def sweep_trials(folder):
    """{seed: the trial's results.csv row, with its result.json as "result"} for a sweep's complete trials,
    grouped by the values of its grid as {configuration: {seed: row}}."""
    path = os.path.join(folder, "results.csv")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "complete"]
    fixed = {"trial", "seed", "status", "loss", "val_loss", "val_accuracy", "epochs_run", "minutes", "parameters",
             "pruned_at", "worker", "host", "error"}
    grouped = {}
    for row in rows:
        with open(os.path.join(folder, "trials", row["trial"], "result.json")) as f:
            row["result"] = json.load(f)
        ae = os.path.join(folder, "trials", row["trial"], "autoencoder", "result.json")
        if os.path.exists(ae):
            with open(ae) as f:
                row["autoencoder"] = json.load(f)
        key = tuple((k, v) for k, v in row.items() if k not in fixed | {"result", "autoencoder"})
        grouped.setdefault(key, {})[int(row["seed"])] = row
    return grouped


def one(folder):
    """{seed: row} of a sweep of one configuration (empty where it has not run)."""
    grouped = sweep_trials(folder)
    return next(iter(grouped.values())) if grouped else {}


def runs_by_seed(folder):
    """{seed: row} from single runs in folder/s<seed>/ (the autoencoder's and the classifier's
    experiments.csv), shaped like a pipeline sweep's rows."""
    seeds = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        ae, cl = (os.path.join(folder, name, part, "experiments.csv") for part in ("autoencoder", "classifier"))
        if not (name.startswith("s") and os.path.exists(ae) and os.path.exists(cl)):
            continue
        with open(ae) as f:
            ae_row = list(csv.DictReader(f))[-1]
        with open(cl) as f:
            cl_row = list(csv.DictReader(f))[-1]
        seeds[int(name[1:])] = {
            "val_accuracy": cl_row["val_accuracy"], "minutes": float(cl_row["minutes"]) + float(ae_row["minutes"]),
            "parameters": cl_row["parameters"],
            "result": {"metrics": {k: float(cl_row[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy")}},
            "autoencoder": {"metrics": {"val_loss": float(ae_row["val_loss"])}}}
    return seeds


# What a row is judged by.
def val_loss(row):
    return float(row["val_loss"])


def val_accuracy(row):
    return 100 * float(row["val_accuracy"])


def gap(row):
    """Accuracy on the training images minus on the validation images, in points (both measured after
    training, dropout off)."""
    m = row["result"]["metrics"]
    return 100 * (m["accuracy"] - m["val_accuracy"])


def autoencoder_val_loss(row):
    return row["autoencoder"]["metrics"]["val_loss"]


def minutes(row):
    return float(row["minutes"])


def cell(variants, label, reference, figure, digits):
    """`label`'s mean (SD) of `figure` over its seeds and, against `reference`, the mean paired
    difference and its p-value over the seeds both ran."""
    seeds, ref = variants[label], variants.get(reference, {})
    values = [figure(seeds[s]) for s in sorted(seeds)]
    if not values:
        return "not run"
    text = f"{np.mean(values):.{digits}f} ({np.std(values, ddof=1) if len(values) > 1 else 0:.{digits}f})"
    both = sorted(set(seeds) & set(ref))
    if label == reference or len(both) < 2:
        return text
    a = np.array([figure(seeds[s]) for s in both])
    b = np.array([figure(ref[s]) for s in both])
    return f"{text}; {np.mean(a - b):+.{digits}f}, p {stats.ttest_rel(a, b).pvalue:.3f}"


def table(title, variants, reference, figures):
    """A claim's block: a row per variant, a column per figure: mean (SD) over the seeds; against
    `reference`, the paired difference and p."""
    out = [f"\n### {title}\n", f"mean (SD) over the seeds; against {reference}: the difference paired by seed, "
           "and p (scipy.stats.ttest_rel)", "",
           "| | " + " | ".join(name for name, _, _ in figures) + " | seeds |",
           "| --- |" + " ---: |" * (len(figures) + 1)]
    for label, seeds in variants.items():
        out.append(f"| {label} | " + " | ".join(cell(variants, label, reference, figure, digits)
                                                 for _, figure, digits in figures) + f" | {len(seeds)} |")
    return out


PIPELINE = [("classifier: validation accuracy (%)", val_accuracy, 2),
            ("train - validation gap (points)", gap, 2),
            ("autoencoder: validation loss", autoencoder_val_loss, 4),
            ("minutes (both)", minutes, 2)]


def report(out):
    p = lambda *parts: os.path.join(out, *parts)  # noqa: E731
    lines = [f"# benchmarks/claims.sh in {out}", f"machine: {machine()}"]
    lines += table("Batch size at an equal number of steps: the autoencoder (epochs 2, 4, 8, 16)",
                   {f"batch {b}": one(p("batch", f"autoencoder-{b}")) for b in (32, 64, 128, 256)}, "batch 64",
                   [("validation loss", val_loss, 4), ("training loss", lambda r: float(r["loss"]), 4),
                    ("minutes", minutes, 2)])
    lines += table("Batch size at an equal number of steps: the classifier (1+1, 2+2, 4+4, 8+8 epochs)",
                   {f"batch {b}": one(p("batch", f"classifier-{b}")) for b in (32, 64, 128, 256)}, "batch 64",
                   [("validation accuracy (%)", val_accuracy, 2), ("train - validation gap (points)", gap, 2),
                    ("minutes", minutes, 2)])
    default = one(p("pipeline", "default"))
    lines += table("Layers: 2, 3, 4 at the same epochs", {"2 layers": one(p("pipeline", "layers-2")),
                   "3 layers (default)": default, "4 layers": one(p("pipeline", "layers-4"))},
                   "3 layers (default)", PIPELINE)
    lines += table("Kernel size", {"kernel 3 (default)": default, "kernel 5": one(p("pipeline", "kernel-5")),
                   "kernel 7": one(p("pipeline", "kernel-7"))}, "kernel 3 (default)", PIPELINE)
    lines += table("Filters with 2 layers", {"8,16": one(p("pipeline", "filters-8,16")),
                   "32,64": one(p("pipeline", "layers-2")), "128,256": one(p("pipeline", "filters-128,256"))},
                   "32,64", PIPELINE)
    lines += table("BatchNormalization after the convolution or at the block's end",
                   {"after the convolution (default)": default,
                    "after pooling and dropout": runs_by_seed(p("pipeline", "batch-norm-after-pooling"))},
                   "after the convolution (default)", PIPELINE)
    lines += table("The autoencoder's dropout, judged by the classifier", {
                   "dropout 0": one(p("pipeline", "ae-dropout-0")), "dropout 0.1 (default)": default,
                   "dropout 0.3": one(p("pipeline", "ae-dropout-0.3"))}, "dropout 0.1 (default)", PIPELINE)
    lines += head(p("head"))
    lines += epochs(p("epochs"))
    lines += table("The recipe with and without augmentation (full MNIST)", {
                   "augmentation on, 9 views": one(p("augmentation", "on")),
                   "augmentation off, 1 view": one(p("augmentation", "off"))}, "augmentation on, 9 views",
                   [("test errors", lambda r: r["result"]["test"]["errors"], 1),
                    ("train - validation gap (points)", gap, 3), ("validation accuracy (%)", val_accuracy, 3),
                    ("minutes (both stages)", minutes, 1)])
    lines += team(p("team-seed1"))
    return lines


def head(folder):
    """Units x dropout: each cell's validation accuracy and gap, each dropout's training loss per epoch."""
    grouped = sweep_trials(folder)
    if not grouped:
        return ["\n### The head: units x dropout\n", "not run"]
    cells = {(int(dict(k)["fc_units"]), float(dict(k)["dropout"])): seeds for k, seeds in grouped.items()}
    units, drops = sorted({u for u, _ in cells}), sorted({d for _, d in cells})
    out = ["\n### The head: units x dropout\n",
           "validation accuracy % / train - validation gap in points, mean over the seeds:", "",
           "| units | " + " | ".join(f"dropout {d}" for d in drops) + " |", "| ---: |" + " ---: |" * len(drops)]
    for u in units:
        out.append(f"| {u} | " + " | ".join(
            f"{np.mean([val_accuracy(r) for r in cells[u, d].values()]):.2f} / "
            f"{np.mean([gap(r) for r in cells[u, d].values()]):.2f}" for d in drops) + " |")
    out += ["", "by dropout, every unit count and seed together (paired by units and seed, against 0.3):", "",
            "| dropout | validation accuracy (%) | gap (points) | training loss per epoch (Keras's, dropout on) | p (accuracy) | p (gap) |",
            "| ---: | ---: | ---: | --- | ---: | ---: |"]
    for d in drops:
        rows = [(u, s, r) for u in units for s, r in sorted(cells[u, d].items())]
        curve = np.mean([r["result"]["history"]["loss"] for _, _, r in rows], axis=0)
        pa = pg = ""
        if d != drops[0]:
            base = {(u, s): r for u in units for s, r in cells[u, drops[0]].items()}
            pairs = [(r, base[u, s]) for u, s, r in rows if (u, s) in base]
            pa = f"{stats.ttest_rel([val_accuracy(a) for a, _ in pairs], [val_accuracy(b) for _, b in pairs]).pvalue:.3f}"
            pg = f"{stats.ttest_rel([gap(a) for a, _ in pairs], [gap(b) for _, b in pairs]).pvalue:.3f}"
        out.append(f"| {d} | {np.mean([val_accuracy(r) for *_, r in rows]):.2f} | "
                   f"{np.mean([gap(r) for *_, r in rows]):.2f} | {', '.join(f'{v:.3f}' for v in curve)} | {pa} | {pg} |")
    out += ["", "by units, every dropout and seed together (paired by dropout and seed, against 64):", "",
            "| units | validation accuracy (%) | gap (points) | p (accuracy) | p (gap) |", "| ---: | ---: | ---: | ---: | ---: |"]
    for u in units:
        rows = [(d, s, r) for d in drops for s, r in sorted(cells[u, d].items())]
        pa = pg = ""
        if u != units[0]:
            base = {(d, s): r for d in drops for s, r in cells[units[0], d].items()}
            pairs = [(r, base[d, s]) for d, s, r in rows if (d, s) in base]
            pa = f"{stats.ttest_rel([val_accuracy(a) for a, _ in pairs], [val_accuracy(b) for _, b in pairs]).pvalue:.3f}"
            pg = f"{stats.ttest_rel([gap(a) for a, _ in pairs], [gap(b) for _, b in pairs]).pvalue:.3f}"
        out.append(f"| {u} | {np.mean([val_accuracy(r) for *_, r in rows]):.2f} | "
                   f"{np.mean([gap(r) for *_, r in rows]):.2f} | {pa} | {pg} |")
    return out


def flattens(curve, within=0.01):
    """The first epoch (from 1) after which no later epoch improves the validation loss by more than
    `within` of it."""
    for i, v in enumerate(curve):
        if min(curve[i:]) >= v * (1 - within):
            return i + 1
    return len(curve)


def epochs(folder):
    seeds = one(folder)
    out = ["\n### The autoencoder's epochs: one long learning curve\n"]
    if not seeds:
        return out + ["not run"]
    history = next(iter(seeds.values()))["result"]["history"]
    curve = history["val_loss"]
    marks = [e for e in (1, 5, 10, 20, 30, 40, 50, len(curve)) if e <= len(curve)]
    out += ["| epoch | " + " | ".join(map(str, dict.fromkeys(marks))) + " |", "| --- |" + " ---: |" * len(set(marks)),
            "| validation loss | " + " | ".join(f"{curve[e - 1]:.4f}" for e in dict.fromkeys(marks)) + " |",
            "", f"best {min(curve):.4f} at epoch {int(np.argmin(curve)) + 1}; within 1% of every later epoch from "
            f"epoch {flattens(curve)}, within 0.5% from epoch {flattens(curve, 0.005)}"]
    return out


def team(folder):
    out = ["\n### Their submitted configuration (full MNIST, seed 1)\n"]
    paths = {part: os.path.join(folder, part, "experiments.csv") for part in ("autoencoder", "classifier")}
    if not all(os.path.exists(f) for f in paths.values()):
        return out + ["not run"]
    rows = {}
    for part, path in paths.items():
        with open(path) as f:
            rows[part] = list(csv.DictReader(f))[-1]
    with open(os.path.join(folder, "classifier", "test-experiment-1", "test_report.json")) as f:
        test = json.load(f)
    ae, cl = rows["autoencoder"], rows["classifier"]
    return out + [f"autoencoder: {ae['epochs']} epochs, validation loss {float(ae['val_loss']):.4f}, "
                  f"{float(ae['minutes']):.1f} minutes",
                  f"classifier: {cl['epochs']} + {cl['fine_tune_epochs']} epochs, validation accuracy "
                  f"{100 * float(cl['val_accuracy']):.2f}%, train - validation gap "
                  f"{100 * (float(cl['accuracy']) - float(cl['val_accuracy'])):.2f} points, {float(cl['minutes']):.1f} minutes",
                  f"test errors: {test['errors']} of {test['errors'] + test['correct']}"]


def figures(out, to):
    """The equal-steps batch figure and the long learning curve."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    p = lambda *parts: os.path.join(out, *parts)  # noqa: E731
    batches = (32, 64, 128, 256)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    panels = ((axes[0], "autoencoder", [(val_loss, "validation loss"), (lambda r: float(r["loss"]),
                                                                          "training loss (Keras's, dropout on)")],
               "the autoencoder: its losses"),
              (axes[1], "classifier", [(val_accuracy, "validation accuracy (%)")], "the classifier: validation accuracy (%)"))
    for ax, part, figures_, title in panels:
        runs = [(b, one(p("batch", f"{part}-{b}"))) for b in batches]
        runs = [(b, seeds) for b, seeds in runs if seeds]
        if not runs:
            continue
        xs = [b for b, _ in runs]
        for figure, label in figures_:
            values = [[figure(r) for r in seeds.values()] for _, seeds in runs]
            for b, seed_values in zip(xs, values):
                ax.scatter([b] * len(seed_values), seed_values, color="0.6", s=12, zorder=2)
            ax.errorbar(xs, [np.mean(v) for v in values], [np.std(v, ddof=1) for v in values], marker="o",
                        capsize=3, zorder=3, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel("batch size (the epochs grow with it: the same steps)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if len(figures_) > 1:
            ax.legend()
    fig.suptitle("Batch size at an equal number of steps, 4,000 MNIST images: each seed grey, mean and SD over 3")
    fig.savefig(os.path.join(to, "claims-batch-steps.png"), dpi=110)
    plt.close(fig)
    seeds = one(p("epochs"))
    if seeds:
        history = next(iter(seeds.values()))["result"]["history"]
        fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
        ep = np.arange(1, len(history["val_loss"]) + 1)
        ax.plot(ep, history["loss"], label="training (Keras's, dropout on)")
        ax.plot(ep, history["val_loss"], label="validation")
        flat = flattens(history["val_loss"])
        ax.axvline(flat, color="0.5", ls="--", label=f"within 1% of every later epoch from epoch {flat}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("binary cross-entropy")
        ax.set_ylim(top=min(ax.get_ylim()[1], 2 * history["val_loss"][1]))
        ax.set_title("The default autoencoder on 10,000 MNIST images (8,000 train), seed 1")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.savefig(os.path.join(to, "claims-epochs.png"), dpi=110)
        plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="claims.sh's output folder")
    parser.add_argument("--figures", metavar="DIR", help="also write claims-batch-steps.png and claims-epochs.png here")
    args = parser.parse_args(argv)
    print("\n".join(report(args.folder)))
    if args.figures:
        figures(args.folder, args.figures)


if __name__ == "__main__":
    main()
