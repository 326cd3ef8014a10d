"""A sweep's results, read back from its study: results.csv, summary.md and the figures.

One row per configuration (the trials that differ only in their seed), best first, with the mean,
standard deviation, count, minimum and maximum of the validation metric over its seeds; each other
configuration is compared with the best over the seeds both ran, by a paired t-test
(scipy.stats.ttest_rel): one seed's result moves on its own, so a difference is only called a
difference where p < 0.05.
"""
import os

import numpy as np

from convae import records
from convae.files import write_text_atomic
from convae.sweep import flag_text, status_of, trials_of

ALPHA = 0.05


def results_rows(spec, trials):
    """One row per trial: its folder, hyperparameters, seed, status, losses, minutes, where it ran."""
    rows = []
    for trial in trials:
        attrs = trial.user_attrs
        params = trial.system_attrs.get("fixed_params", {}) | trial.params
        metrics = attrs.get("metrics") or {}
        row = {"trial": attrs["folder"], "number": trial.number}
        for d in spec.dimensions:
            row[d.name] = flag_text(d, params[d.name]) if d.name in params else ""
        row.update(seed=params.get("seed", ""), status=status_of(trial), loss=metrics.get("loss"),
                   val_loss=metrics.get("val_loss"), val_accuracy=metrics.get("val_accuracy"),
                   minutes=attrs.get("minutes"), worker=attrs.get("worker"), host=attrs.get("host"),
                   error=attrs.get("error", ""))
        rows.append(row)
    return rows


def columns(spec):
    cols = [("trial", "trial")] + [(d.name, d.flag[2:]) for d in spec.dimensions]
    cols += [("seed", "seed"), ("status", "status"), ("loss", "loss"), ("val_loss", "val_loss")]
    if spec.script == "classification.py":
        cols.append(("val_accuracy", "val_accuracy"))
    return cols + [("minutes", "minutes"), ("worker", "worker"), ("host", "host"), ("error", "error")]


def configurations(spec, rows, metric):
    """The complete trials grouped by configuration: [(key, {seed: row})], in the sweep's order."""
    grouped = {}
    for row in rows:
        if row["status"] == "complete" and row.get(metric) is not None:
            key = tuple((d.name, row[d.name]) for d in spec.dimensions)
            grouped.setdefault(key, {})[row["seed"]] = row
    return list(grouped.items())


def summarise(spec, rows, metric, higher_is_better):
    """One dict per configuration: its values, n, mean, sd, min, max, and against the best: the
    paired difference, the p-value and the seeds it pairs over. Best first."""
    from scipy import stats
    table = []
    for key, by_seed in configurations(spec, rows, metric):
        values = np.array([by_seed[s][metric] for s in sorted(by_seed)], dtype=float)
        table.append({"key": key, "by_seed": by_seed, "n": len(values), "mean": float(values.mean()),
                      "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
                      "min": float(values.min()), "max": float(values.max()),
                      "minutes": _mean([r["minutes"] for r in by_seed.values() if r["minutes"] is not None])})
    table.sort(key=lambda c: -c["mean"] if higher_is_better else c["mean"])
    if not table:
        return table
    best = table[0]
    for config in table[1:]:
        seeds = sorted(set(best["by_seed"]) & set(config["by_seed"]))
        a = np.array([config["by_seed"][s][metric] for s in seeds], dtype=float)
        b = np.array([best["by_seed"][s][metric] for s in seeds], dtype=float)
        config["paired"] = len(seeds)
        config["difference"] = float(np.mean(a - b)) if seeds else None
        if len(seeds) >= 2 and np.any(a != b):
            config["p"] = float(stats.ttest_rel(a, b).pvalue)
        else:
            config["p"] = None
    return table


def _mean(values):
    return float(np.mean(values)) if values else None


def _label(spec, key):
    return ", ".join(f"{dict(spec_dims(spec))[name]} {value}" for name, value in key) or "the fixed flags"


def spec_dims(spec):
    return [(d.name, d.flag[2:]) for d in spec.dimensions]


def summary_markdown(spec, table, rows, metric, higher_is_better, name, storage, ensemble=None):
    """summary.md: what ran, the table of configurations, what the differences mean."""
    done = sum(r["status"] == "complete" for r in rows)
    failed = [r for r in rows if r["status"] == "failed"]
    lines = [f"# Sweep of {spec.script}", "",
             f"Study `{name}` in `{storage}`: {done} of {spec.total()} trials complete"
             + (f", {len(failed)} failed" if failed else "") + ".",
             f"Dimensions: {'; '.join(d.describe() for d in spec.dimensions) or 'none (seeds only)'}. "
             f"Seeds: {', '.join(map(str, spec.seeds))}. Fixed flags: `{' '.join(spec.fixed) or 'none'}`.", "",
             f"Configurations by their mean {metric} over the seeds ({'higher' if higher_is_better else 'lower'} is "
             "better), best first. Each is compared with the best over the seeds both ran: the mean of the paired "
             "differences and a paired t-test's p-value (scipy.stats.ttest_rel). Where p >= 0.05, or fewer than two "
             "seeds pair, the difference is within seed noise.", ""]
    dims = spec_dims(spec)
    head = [flag for _, flag in dims] + ["n", f"mean {metric}", "SD", "min", "max", "vs best", "p", "verdict",
                                         "minutes"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] * len(dims) + ["---:"] * 7 + ["---", "---:"]) + "|")
    for i, c in enumerate(table):
        values = [dict(c["key"])[name] for name, _ in dims]
        if i == 0:
            versus, p, verdict = "", "", "best"
        else:
            versus = (f"{c['difference']:+.4f} over {c['paired']}" if c["difference"] is not None
                      else "no seed in common")
            p = f"{c['p']:.3f}" if c["p"] is not None else "n/a"
            verdict = "differs" if c["p"] is not None and c["p"] < ALPHA else "within seed noise"
        sd = f"{c['sd']:.4f}" if c["sd"] is not None else "n/a"
        lines.append("| " + " | ".join(values + [str(c["n"]), f"{c['mean']:.4f}", sd, f"{c['min']:.4f}",
                                                 f"{c['max']:.4f}", versus, p, verdict,
                                                 f"{c['minutes']:.2f}" if c["minutes"] is not None else "n/a"]) + " |")
    if failed:
        lines += ["", "Failed trials:", ""] + [f"- {r['trial']}: {r['error']}" for r in failed]
    if ensemble:
        lines += ["", "## Ensemble", "", ensemble]
    lines += ["", "Figures: `metric-vs-*.png` (mean and SD over the seeds), `heatmap.png` (two dimensions), "
              "`learning-curves.png`; every trial in `results.csv`."]
    return "\n".join(lines) + "\n"


def write(folder, spec, study, name, storage, higher_is_better, metric, ensemble=None):
    """results.csv, summary.md and the figures in `folder`; return their paths."""
    trials = trials_of(study)
    rows = results_rows(spec, trials)
    written = [records.write_csv(os.path.join(folder, "results.csv"), rows, columns(spec))]
    table = summarise(spec, rows, metric, higher_is_better)
    text = summary_markdown(spec, table, rows, metric, higher_is_better, name, storage, ensemble)
    write_text_atomic(os.path.join(folder, "summary.md"), text)
    written.append(os.path.join(folder, "summary.md"))
    written += figures(folder, spec, table, trials, metric)
    return written, table


def figures(folder, spec, table, trials, metric):
    """The metric (and the training and validation losses) against each dimension; a heat map where
    two vary; every trial's learning curves, coloured by configuration."""
    from convae import plots
    plots.use_windows(False)  # a sweep draws files only
    import matplotlib.pyplot as plt
    written = []
    if not table:
        return written
    panels = [[metric], ["loss", "val_loss"]] if metric != "val_loss" else [["loss", "val_loss"]]
    for d in spec.dimensions:
        fig, axes = plt.subplots(1, len(panels), figsize=(max(6.8, 5.2 * len(panels)), 3.9), squeeze=False,
                                 layout="constrained")
        for ax, metrics in zip(axes[0], panels):
            for m in metrics:
                _against(ax, spec, d, table, m)
            ax.set_ylabel(f"final {metrics[0]}" if len(metrics) == 1 else "final loss")
        fig.suptitle(f"Final figures against {d.flag[2:]} (mean and SD over the seeds)")
        path = os.path.join(folder, f"metric-vs-{d.flag[2:]}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    if len(spec.dimensions) == 2:
        written.append(_heatmap(plt, folder, spec, table, metric))
    written.append(_learning_curves(plt, folder, spec, trials, table))
    return written


def _against(ax, spec, d, table, metric):
    """One line per value of the other dimensions: `metric`'s mean over the seeds (bars: SD) against `d`."""
    others = [o for o in spec.dimensions if o.name != d.name]
    groups = {}
    for c in table:
        key = dict(c["key"])
        values = [r.get(metric) for r in c["by_seed"].values() if r.get(metric) is not None]
        if values:
            line = tuple((o.flag[2:], key[o.name]) for o in others)
            groups.setdefault(line, []).append((_number(key[d.name]), key[d.name], values))
    numeric = all(isinstance(x, float) for points in groups.values() for x, _, _ in points)
    ticks = sorted({text for points in groups.values() for _, text, _ in points}, key=_sort_key)
    style = {"loss": "--", "val_loss": "-"}.get(metric, "-")
    what = {"loss": "training", "val_loss": "validation"}.get(metric, metric)
    for line, points in sorted(groups.items()):
        points.sort(key=lambda p: _sort_key(p[1]))
        xs = [x if numeric else ticks.index(text) for x, text, _ in points]
        means = [np.mean(v) for _, _, v in points]
        sds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for _, _, v in points]
        label = ", ".join([what] + [f"{k} {v}" for k, v in line])
        ax.errorbar(xs, means, yerr=sds, marker="o", capsize=3, linestyle=style, label=label)
    values = [x for points in groups.values() for x, _, _ in points]
    if numeric and values and (d.log or (min(values) > 0 and max(values) / min(values) >= 8)):
        ax.set_xscale("log")  # rates, batch sizes: a factor per step
        ax.set_xticks(sorted(set(values)), [_short(v) for v in sorted(set(values))])
        ax.minorticks_off()
    if not numeric:
        ax.set_xticks(range(len(ticks)), ticks)
    ax.set_xlabel(d.flag[2:])
    ax.grid(alpha=0.3)
    if 1 < len(groups) * 2 <= 16 or metric in ("loss", "val_loss"):
        ax.legend(fontsize=7)


def _short(value):
    return f"{value:g}"


def _heatmap(plt, folder, spec, table, metric):
    a, b = spec.dimensions
    xs = sorted({dict(c["key"])[a.name] for c in table}, key=_sort_key)
    ys = sorted({dict(c["key"])[b.name] for c in table}, key=_sort_key)
    grid = np.full((len(ys), len(xs)), np.nan)
    for c in table:
        key = dict(c["key"])
        grid[ys.index(key[b.name]), xs.index(key[a.name])] = c["mean"]
    fig, ax = plt.subplots(figsize=(1.1 * len(xs) + 2.8, 0.7 * len(ys) + 2.2), layout="constrained")
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    for i in range(len(ys)):
        for j in range(len(xs)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.4f}", ha="center", va="center", fontsize=8, color="white")
    ax.set_xticks(range(len(xs)), xs)
    ax.set_yticks(range(len(ys)), ys)
    ax.set_xlabel(a.flag[2:])
    ax.set_ylabel(b.flag[2:])
    fig.colorbar(image, label=f"mean {metric} over the seeds")
    ax.set_title(f"Mean {metric} by {a.flag[2:]} and {b.flag[2:]}")
    path = os.path.join(folder, "heatmap.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _learning_curves(plt, folder, spec, trials, table):
    order = [c["key"] for c in table]
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), squeeze=False, layout="constrained")
    labelled = set()
    for trial in trials:
        history = trial.user_attrs.get("history")
        if not history:
            continue
        params = trial.system_attrs.get("fixed_params", {}) | trial.params
        key = tuple((d.name, flag_text(d, params[d.name])) for d in spec.dimensions)
        index = order.index(key) if key in order else len(order)
        colour = colours(index % 10)
        label = _label(spec, key) if key not in labelled and index < 10 else None
        labelled.add(key)
        for ax, metric in zip(axes[0], ("loss", "val_loss")):
            values = history.get(metric, [])
            ax.plot(range(1, len(values) + 1), values, color=colour, alpha=0.7, marker="o", markersize=2,
                    label=label if metric == "val_loss" else None)
    from matplotlib.ticker import MaxNLocator
    for ax, metric in zip(axes[0], ("training loss", "validation loss")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    if labelled:
        axes[0][1].legend(fontsize=7, title="configuration (first 10, best first)")
    fig.suptitle("Every trial's learning curves, one colour per configuration")
    path = os.path.join(folder, "learning-curves.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def _sort_key(text):
    number = _number(text)
    return (0, number, "") if isinstance(number, float) else (1, 0.0, str(text))
