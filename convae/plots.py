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
