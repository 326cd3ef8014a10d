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
from convae.sweep.spec import flag_text
from convae.sweep.study import params_of, seed_of, status_of, trials_of

ALPHA = 0.05


def results_rows(spec, trials):
    """One row per trial: its folder, hyperparameters, seed, status, losses, minutes, where it ran."""
    rows = []
    for trial in trials:
        attrs = trial.user_attrs
        params = params_of(trial)
        metrics = attrs.get("metrics") or {}
        row = {"trial": attrs["folder"], "number": trial.number}
        for d in spec.dimensions:
            row[d.name] = flag_text(d, params[d.name]) if d.name in params else ""
        seed = seed_of(trial)
        row.update(seed="" if seed is None else seed, status=status_of(trial), loss=metrics.get("loss"),
                   val_loss=metrics.get("val_loss"), val_accuracy=metrics.get("val_accuracy"),
                   minutes=attrs.get("minutes"), parameters=attrs.get("parameters"),
                   pruned_at=attrs.get("pruned_at", ""),
                   epochs_run=len((attrs.get("history") or {}).get("loss", [])),
                   worker=attrs.get("worker"), host=attrs.get("host"),
                   error=attrs.get("error", ""))
        rows.append(row)
    return rows


def columns(spec, metric):
    cols = [("trial", "trial")] + [(d.name, d.flag[2:]) for d in spec.dimensions]
    cols += [("seed", "seed"), ("status", "status"), ("loss", "loss"), ("val_loss", "val_loss")]
    if metric not in ("loss", "val_loss"):
        cols.append((metric, metric))
    cols += [("epochs_run", "epochs_run"), ("minutes", "minutes"), ("parameters", "parameters")]
    if spec.prune:
        cols.append(("pruned_at", "pruned_at"))
    return cols + [("worker", "worker"), ("host", "host"), ("error", "error")]


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
                      "minutes": _mean([r["minutes"] for r in by_seed.values() if r["minutes"] is not None]),
                      "minutes_sd": _sd([r["minutes"] for r in by_seed.values() if r["minutes"] is not None]),
                      "parameters": _mean([r["parameters"] for r in by_seed.values()
                                           if r.get("parameters") is not None])})
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


def _sd(values):
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def pareto_front(table, against, higher_is_better):
    """The configurations no other beats on both their mean validation figure and their mean `against`
    (minutes, parameters; lower is better), in order of `against`."""
    points = [c for c in table if c.get(against) is not None]

    def better_or_equal(a, b):
        return (a["mean"] >= b["mean"] if higher_is_better else a["mean"] <= b["mean"]) and a[against] <= b[against]

    def dominates(a, b):
        return better_or_equal(a, b) and (a["mean"] != b["mean"] or a[against] != b[against])
    front = [c for c in points if not any(dominates(o, c) for o in points if o is not c)]
    return sorted(front, key=lambda c: c[against])


def _label(spec, key):
    return ", ".join(f"{dict(spec_dims(spec))[name]} {value}" for name, value in key) or "the fixed flags"


def spec_dims(spec):
    return [(d.name, d.flag[2:]) for d in spec.dimensions]


def summary_markdown(spec, table, rows, metric, higher_is_better, name, storage, ensemble=None):
    """summary.md: what ran, the table of configurations, what the differences mean."""
    done = sum(r["status"] == "complete" for r in rows)
    failed = [r for r in rows if r["status"] == "failed"]
    pruned = [r for r in rows if r["status"] == "pruned"]
    lines = [f"# Sweep of {spec.script}", "",
             f"Study `{name}` in `{storage}`: {done} of {spec.total()} trials complete"
             + (f", {len(pruned)} pruned (their configurations' other seeds not run)" if pruned else "")
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
    if spec.prune:
        lines += ["", f"Pruned (`--prune`, successive halving on the validation figure, first seeds only): "
                  f"{len(pruned)} trials, stopped after "
                  + (", ".join(f"{r['pruned_at']}" for r in pruned) + " epochs respectively" if pruned else "none")
                  + f"; trial-epochs run: {sum(r['epochs_run'] for r in rows)}. Pruned trials count neither as "
                  "complete nor as failed, and are left out of the statistics above."]
    if spec.against:
        lines += pareto_lines(table, spec.against, metric, higher_is_better, dims)
    if failed:
        lines += ["", "Failed trials:", ""] + [f"- {r['trial']}: {r['error']}" for r in failed]
    if ensemble:
        lines += ["", "## Ensemble", "", ensemble]
    lines += ["", "Figures: `metric-vs-*.png` (mean and SD over the seeds), `heatmap.png` (two dimensions), "
              "`learning-curves.png`; every trial in `results.csv`."]
    return "\n".join(lines) + "\n"


def pareto_lines(table, against, metric, higher_is_better, dims):
    """summary.md's Pareto front: the configurations no other beats on both figures."""
    front = pareto_front(table, against, higher_is_better)
    lines = ["", f"## Pareto front: {metric} against {against}", "",
             f"The configurations that no other beats on both their mean {metric} and their mean {against} over the "
             f"seeds ({len(front)} of {len(table)}), cheapest first; `pareto.png` draws every configuration.", "",
             "| " + " | ".join([flag for _, flag in dims] + ["n", f"mean {metric}", "SD", f"mean {against}", "SD"]) + " |",
             "|" + "|".join(["---"] * len(dims) + ["---:"] * 5) + "|"]
    for c in front:
        spread = c.get(f"{against}_sd")
        sd = f"{c['sd']:.4f}" if c["sd"] is not None else "n/a"
        value = f"{c[against]:.2f}" if against == "minutes" else f"{c[against]:,.0f}"
        lines.append("| " + " | ".join([dict(c["key"])[name] for name, _ in dims]
                                       + [str(c["n"]), f"{c['mean']:.4f}", sd, value,
                                          f"{spread:.2f}" if spread is not None else "n/a"]) + " |")
    return lines


def write(folder, spec, study, name, storage, definition, ensemble=None):
    """results.csv, summary.md and the figures in `folder`; return their paths and the table."""
    from convae import plots
    metric, higher_is_better = definition.best_metric, definition.higher_is_better
    trials = trials_of(study)
    rows = results_rows(spec, trials)
    written = [records.write_csv(os.path.join(folder, "results.csv"), rows, columns(spec, metric))]
    table = summarise(spec, rows, metric, higher_is_better)
    text = summary_markdown(spec, table, rows, metric, higher_is_better, name, storage, ensemble)
    write_text_atomic(os.path.join(folder, "summary.md"), text)
    written.append(os.path.join(folder, "summary.md"))
    written += plots.sweep(folder, spec.dimensions, table, curves(spec, trials), metric, _label_of(spec))
    if spec.against and table:
        written.append(plots.pareto(os.path.join(folder, "pareto.png"), table, pareto_front(
            table, spec.against, higher_is_better), metric, spec.against, _label_of(spec)))
    return written, table


def curves(spec, trials):
    """Every trial's learning curves: (its configuration's key, its history), for plots.sweep."""
    found = []
    for trial in trials:
        history = trial.user_attrs.get("history")
        if history:
            params = params_of(trial)
            found.append((tuple((d.name, flag_text(d, params[d.name])) for d in spec.dimensions), history,
                          status_of(trial) == "pruned"))
    return found


def _label_of(spec):
    return lambda key: _label(spec, key)
