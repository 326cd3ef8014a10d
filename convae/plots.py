"""Figures, always written as PNG files; shown in a window only where a display exists."""
import os
import sys

import numpy as np

def use_windows(requested):
    """Whether figures can also open in windows: where `requested` (not --no-show) and a display
    exists. Otherwise matplotlib draws without a window toolkit, so nothing can block the terminal."""
    has_display = sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY")
                                                               or os.environ.get("WAYLAND_DISPLAY"))
    if requested and has_display:
        return True
    import matplotlib
    matplotlib.use("Agg")
    return False


def _pyplot():
    import matplotlib.pyplot as plt
    return plt


def _finish(fig, path, show):
    """Write the figure to `path`; with `show`, open it in a window without blocking; return path."""
    plt = _pyplot()
    fig.savefig(path, dpi=100)
    if show:
        plt.show(block=False)
        plt.pause(0.1)
    else:
        plt.close(fig)
    return path


MAX_COLUMNS = 4  # panels of 3.6 inches at 100 dpi: at most 1440 pixels across


def history(history, path, title, metrics, stage_start=None, show=False):
    """Per-epoch curves, one panel per metric, training against validation; mark stage 2."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    width = 5.5 * len(metrics)
    fig, axes = plt.subplots(1, len(metrics), figsize=(width, 4), squeeze=False, layout="constrained")
    for ax, metric in zip(axes[0], metrics):
        for key, label in ((metric, "training"), (f"val_{metric}", "validation")):
            if history.get(key):
                epochs = np.arange(1, len(history[key]) + 1)
                ax.plot(epochs, history[key], marker="o", markersize=3, label=label)
        if stage_start:
            ax.axvline(stage_start - 0.5, color="grey", linestyle="--", label="stage 2: whole network")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(_wrap(title, width))
    return _finish(fig, path, show)


def against_hyperparameters(rows, names, metrics, path, show=False):
    """Final metrics of every experiment against each hyperparameter that varied between them.

    Returns the path, or None (and nothing written) when there is nothing to compare: one
    experiment, or the same hyperparameters in all.
    """
    varied = [name for name in names if len({_key(row[name]) for row in rows}) > 1]  # 3 and 3,3,3 alike
    if not varied:
        return None
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    columns = min(len(varied), MAX_COLUMNS)
    blocks = -(-len(varied) // columns)  # rows of hyperparameters, each one row of panels per metric
    fig, axes = plt.subplots(blocks * len(metrics), columns, figsize=(3.6 * columns, 3.2 * blocks * len(metrics)),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.set_visible(False)
    for i, name in enumerate(varied):
        words = sorted({row[name] for row in rows if isinstance(row[name], str)})
        xs = [words.index(row[name]) if words else _as_number(row[name]) for row in rows]
        for m, metric in enumerate(metrics):
            ax = axes[(i // columns) * len(metrics) + m][i % columns]
            ax.set_visible(True)
            if words:  # a choice such as the learning-rate schedule: one tick per word
                ax.set_xticks(range(len(words)), words)
                ax.set_xlim(-0.5, len(words) - 0.5)
            elif all(isinstance(row[name], int) for row in rows):  # layers, epochs: no 2.2 layers
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            for key, label, marker in ((metric, "training", "o"), (f"val_{metric}", "validation", "s")):
                ys = [row.get(key) for row in rows]
                if all(y is not None for y in ys):
                    ax.scatter(xs, ys, marker=marker, label=label)
                    for x, y, row in zip(xs, ys, rows):
                        ax.annotate(str(row["experiment"]), (x, y), fontsize=7, xytext=(3, 3),
                                    textcoords="offset points")
            ax.set_xlabel(name.replace("_", " ") + (" (mean over layers)" if _is_list(rows, name) else ""))
            ax.set_ylabel(f"final {metric}")
            ax.grid(alpha=0.3)
            if i == 0:
                ax.legend(fontsize=8)
    fig.suptitle(_wrap("Final figures against the hyperparameters that varied (numbers: experiments)",
                       3.6 * columns))
    return _finish(fig, path, show)


def _key(value):
    if isinstance(value, (list, tuple)):
        return value[0] if len(set(value)) == 1 else tuple(value)
    return value


def _is_list(rows, name):
    return any(isinstance(row[name], (list, tuple)) and len(row[name]) > 1 for row in rows)


def _wrap(text, inches):
    """`text` broken into lines that fit a figure `inches` wide (a title's characters are ~0.11 inch)."""
    import textwrap
    return "\n".join(textwrap.wrap(text, max(20, int(inches / 0.11))))


def _as_number(value):
    """A hyperparameter as a plottable number: lists by their mean (e.g. filters per layer)."""
    if isinstance(value, (list, tuple)):
        return float(np.mean(value))
    return float(value)


def image_pairs(originals, reconstructions, path, title, show=False):
    """Originals on the top row, their reconstructions below."""
    plt = _pyplot()
    n = len(originals)
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n + 0.8, 3.0), squeeze=False, layout="constrained")
    for i in range(n):
        for row, images in enumerate((originals, reconstructions)):
            axes[row][i].imshow(np.squeeze(images[i]), cmap="gray", vmin=0, vmax=1)
            axes[row][i].set_xticks([])
            axes[row][i].set_yticks([])
    axes[0][0].set_ylabel("original", fontsize=9)
    axes[1][0].set_ylabel("reconstructed", fontsize=9)
    fig.suptitle(_wrap(title, 1.2 * n + 0.8))
    return _finish(fig, path, show)


def image_grid(images, titles, path, title, columns=10, show=False):
    """A grid of images, each with its own short title above it.

    The tiles are one picture in one Axes: 30 Axes of their own took most of a small classifier
    run's figure time (docs/speed.md).
    """
    plt = _pyplot()
    images = np.asarray(images, dtype="float32").reshape((len(images),) + np.shape(images)[1:3])
    n = len(images)
    rows = max(1, int(np.ceil(n / columns)))
    height, width = images.shape[1:] if n else (28, 28)
    gap, head = max(2, width // 7), max(8, height * 3 // 7)  # white between tiles; room for a title above
    cell_h, cell_w = height + head, width + gap
    canvas = np.ones((rows * cell_h, columns * cell_w), dtype="float32")
    fig, ax = plt.subplots(figsize=(1.3 * columns, 1.5 * rows + 0.6), layout="constrained")
    for i, (image, text) in enumerate(zip(images, titles)):
        top, left = (i // columns) * cell_h + head, (i % columns) * cell_w + gap // 2
        canvas[top:top + height, left:left + width] = image
        ax.text(left + width / 2, top - 1.5, text, ha="center", va="bottom", fontsize=8)
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if not n:
        ax.text(0, cell_h / 2, "none", fontsize=12, va="center")
    fig.suptitle(title)
    return _finish(fig, path, show)


def confusion(matrix, path, title, show=False):
    """A confusion matrix with counts in the cells (rows: true class, columns: predicted), drawn by
    scikit-learn's ConfusionMatrixDisplay on a logarithmic colour scale, so that a handful of errors
    stands out beside a diagonal of a thousand."""
    from matplotlib.colors import SymLogNorm
    from sklearn.metrics import ConfusionMatrixDisplay
    plt = _pyplot()
    matrix = np.asarray(matrix)
    classes = len(matrix)
    fig, ax = plt.subplots(figsize=(0.6 * classes + 2.5, 0.6 * classes + 2), layout="constrained")
    ConfusionMatrixDisplay(matrix, display_labels=list(range(classes))).plot(
        ax=ax, cmap="Blues", colorbar=False, values_format="d", im_kw={"norm": SymLogNorm(1, vmin=0)},
        text_kw={"fontsize": 8})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _finish(fig, path, show)


def embedding(points, labels, path, title, show=False):
    """A 2-D map of feature vectors, coloured by class."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7)
    ax.legend(*scatter.legend_elements(), title="class", fontsize=7, loc="best", markerscale=0.8)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return _finish(fig, path, show)


def test_set(folder, images, labels, predicted, matrix, points, number, show=False):
    """The test report's figures: correct and misclassified digits (the first 30 of each), the
    confusion matrix and the encoder's features on two principal components; returns their paths."""
    right, wrong = np.flatnonzero(predicted == labels), np.flatnonzero(predicted != labels)

    def titles(indices):
        return [f"{predicted[i]} (true {labels[i]})" for i in indices]
    return [
        image_grid(images[right[:30]], titles(right[:30]), os.path.join(folder, "correct.png"),
                   f"Correctly classified: {len(right)} of {len(labels)} (predicted, true)", show=show),
        image_grid(images[wrong[:30]], titles(wrong[:30]), os.path.join(folder, "misclassified.png"),
                   f"Misclassified: {len(wrong)} of {len(labels)} (predicted, true)", show=show),
        confusion(matrix, os.path.join(folder, "confusion_matrix.png"),
                  f"Experiment {number}: test confusion matrix", show=show),
        embedding(points, labels, os.path.join(folder, "encoder_features_pca.png"),
                  "Encoder features of the test images (PCA), by true class", show=show),
    ]


# A sweep's figures ----------------------------------------------------------------------------------

def sweep(folder, dimensions, table, curves, metric, label):
    """A sweep's figures in `folder`: the metric (and the training and validation losses) against each
    of its `dimensions` (sweep.spec.Dimension); a heat map where two vary; every trial's learning
    curves (`curves`: (configuration key, history) pairs), coloured by configuration and named by
    `label(key)`. `table`: the configurations, best first (sweep.report.summarise)."""
    use_windows(False)  # a sweep draws files only
    import matplotlib.pyplot as plt
    written = []
    if not table:
        return written
    panels = [[metric], ["loss", "val_loss"]] if metric != "val_loss" else [["loss", "val_loss"]]
    for d in dimensions:
        fig, axes = plt.subplots(1, len(panels), figsize=(max(6.8, 5.2 * len(panels)), 3.9), squeeze=False,
                                 layout="constrained")
        for ax, metrics in zip(axes[0], panels):
            for m in metrics:
                _against(ax, dimensions, d, table, m)
            ax.set_ylabel(f"final {metrics[0]}" if len(metrics) == 1 else "final loss")
        fig.suptitle(f"Final figures against {d.flag[2:]} (mean and SD over the seeds)")
        path = os.path.join(folder, f"metric-vs-{d.flag[2:]}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    if len(dimensions) == 2:
        written.append(_heatmap(plt, folder, dimensions, table, metric))
    written.append(_learning_curves(plt, folder, curves, table, label))
    return written


def _against(ax, dimensions, d, table, metric):
    """One line per value of the other dimensions: `metric`'s mean over the seeds (bars: SD) against `d`."""
    others = [o for o in dimensions if o.name != d.name]
    groups = {}
    for c in table:
        key = dict(c["key"])
        values = [r.get(metric) for r in c["by_seed"].values() if r.get(metric) is not None]
        if values:
            line = tuple((o.flag[2:], key[o.name]) for o in others)
            groups.setdefault(line, []).append((_number_of(key[d.name]), key[d.name], values))
    numeric = all(isinstance(x, float) for points in groups.values() for x, _, _ in points)
    ticks = sorted({text for points in groups.values() for _, text, _ in points}, key=_text_order)
    style = {"loss": "--", "val_loss": "-"}.get(metric, "-")
    what = {"loss": "training", "val_loss": "validation"}.get(metric, metric)
    lines = sorted(groups.items(), key=lambda item: tuple(_text_order(v) for _, v in item[0]))  # 32 before 128
    for index, (line, points) in enumerate(lines):
        points.sort(key=lambda p: _text_order(p[1]))
        xs = [x if numeric else ticks.index(text) for x, text, _ in points]
        means = [np.mean(v) for _, _, v in points]
        sds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for _, _, v in points]
        label = ", ".join([what] + [f"{k} {v}" for k, v in line])
        ax.errorbar(xs, means, yerr=sds, marker="o", capsize=3, linestyle=style, label=label,
                    color=f"C{index % 10}")  # a line's training and validation figures in one colour
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


def _heatmap(plt, folder, dimensions, table, metric):
    a, b = dimensions
    xs = sorted({dict(c["key"])[a.name] for c in table}, key=_text_order)
    ys = sorted({dict(c["key"])[b.name] for c in table}, key=_text_order)
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


def _learning_curves(plt, folder, curves, table, label_of):
    """Every trial's training and validation loss per epoch, one colour per configuration (the ten best;
    the rest grey), a pruned trial's curve dotted, the legend best first."""
    from matplotlib.lines import Line2D
    order = [c["key"] for c in table]
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), squeeze=False, layout="constrained")
    shown, pruned = set(), 0
    for key, history, *rest in curves:
        was_pruned = bool(rest and rest[0])
        pruned += was_pruned
        index = order.index(key) if key in order else None
        colour = colours(index) if index is not None and index < 10 else "0.6"
        if index is not None and index < 10:
            shown.add(index)
        for ax, metric in zip(axes[0], ("loss", "val_loss")):
            values = history.get(metric, [])
            ax.plot(range(1, len(values) + 1), values, color=colour, alpha=0.7, marker="o", markersize=2,
                    linestyle=":" if was_pruned else "-")
    handles = [Line2D([], [], color=colours(i), marker="o", markersize=3, label=label_of(order[i]))
               for i in sorted(shown)]
    if any(key not in order[:10] and not (rest and rest[0]) for key, _, *rest in curves):
        handles.append(Line2D([], [], color="0.6", label="the others"))
    if pruned:
        handles.append(Line2D([], [], color="0.3", linestyle=":", label=f"pruned ({pruned} trials)"))
    from matplotlib.ticker import MaxNLocator
    for ax, metric in zip(axes[0], ("training loss", "validation loss")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    if handles:
        axes[0][1].legend(handles=handles, fontsize=7, title="configuration (the 10 best, best first)")
    fig.suptitle("Every trial's learning curves, one colour per configuration")
    path = os.path.join(folder, "learning-curves.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def pareto(path, table, front, metric, against, label):
    """Every configuration's mean validation figure against its mean `against` (minutes, parameters), SD
    over the seeds as bars, the Pareto front joined and named."""
    use_windows(False)
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    points = [c for c in table if c.get(against) is not None]
    ax.errorbar([c[against] for c in points], [c["mean"] for c in points],
                yerr=[c["sd"] or 0.0 for c in points], xerr=[c.get(f"{against}_sd") or 0.0 for c in points],
                fmt="o", color="0.55", capsize=2, markersize=4, label="a configuration (mean, SD over the seeds)")
    ax.plot([c[against] for c in front], [c["mean"] for c in front], "-o", color="C3", markersize=7,
            drawstyle="steps-post", label="the Pareto front")
    for c in front:
        ax.annotate(label(c["key"]), (c[against], c["mean"]), textcoords="offset points", xytext=(5, 5), fontsize=7)
    ax.set_xlabel({"minutes": "minutes per trial", "parameters": "parameters"}[against])
    ax.set_ylabel(f"final {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{metric} against {against}: {len(front)} of {len(points)} configurations on the front")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _number_of(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def _text_order(text):
    number = _number_of(text)
    return (0, number, "") if isinstance(number, float) else (1, 0.0, str(text))
