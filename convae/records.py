"""What an experiment leaves behind: its record, tables, CSV files, saved models with their JSON descriptions."""
import csv
import dataclasses
import datetime
import io
import json
import os
import platform
import re
import sys
import time

from convae.errors import UserError
from convae.files import atomic_path, write_text_atomic
from convae.params import show


@dataclasses.dataclass
class Experiment:
    """The record of one finished (or stopped) experiment."""
    number: int
    hyper: dict                      # the hyperparameters it was trained with
    model: object
    history: dict                    # metric name -> one value per completed epoch
    seconds: float
    parameters: int                  # as the saved model counts them
    status: str = "complete"         # or "stopped at epoch k of n"
    metrics: dict = dataclasses.field(default_factory=dict)  # final figures for tables
    saved_to: str = None
    extra: dict = dataclasses.field(default_factory=dict)    # e.g. the epoch where stage 2 began
    figures: list = dataclasses.field(default_factory=list)  # the paths of its own figures
    settings: dict = dataclasses.field(default_factory=dict)  # the run's settings (the seed among them)
    title: str = ""                  # what its figures are titled by ("Experiment 2", a sweep's "trial c003-s2")

    @property
    def name(self):
        return self.title or f"Experiment {self.number}"


def as_json(value):
    """`value` as it reads back from JSON (tuples as lists): what a checkpoint's record compares with."""
    return json.loads(json.dumps(value))


def describe_optimizer(optimizer):
    """The compiled optimizer as the JSON records it: its class and learning rate (or schedule)."""
    rate = optimizer.get_config()["learning_rate"]
    if not isinstance(rate, dict):
        rate = float(f"{float(rate):.7g}")  # a float32 variable: 0.001 rather than 0.0010000000474974513
    else:  # a schedule
        rate = {"schedule": rate["class_name"], "initial_learning_rate": rate["config"]["initial_learning_rate"],
                "decay_steps": rate["config"]["decay_steps"]}
    return {"optimizer": type(optimizer).__name__, "learning_rate": rate}


def timer(already=0.0):
    """Return a function giving the seconds since this call, plus `already` (those of an earlier run)."""
    start = time.perf_counter()
    return lambda: already + time.perf_counter() - start


def make_output_dir(path, script):
    """Create the output directory (default: runs/<script>-<date-time>) and return its path."""
    path = path or os.path.join("runs", f"{script}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the output directory {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"cannot write into the output directory {path}: permission denied")
    return path


def format_table(rows, columns):
    """An aligned text table of `rows` (dicts) under `columns` (key, heading) pairs."""
    cells = [[heading for _, heading in columns]]
    cells += [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_csv(path, rows, columns):
    """Write `rows` as CSV (atomically, so that a crash never leaves half a file)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([key for key, _ in columns])
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key, _ in columns])
    write_text_atomic(path, out.getvalue())
    return path


def write_predictions(path, labels, predicted, confidence):
    """predictions.csv: one row per test image, its true and predicted class and the confidence."""
    rows = [{"index": i, "true": int(t), "predicted": int(p), "confidence": f"{c:.6f}"}
            for i, (t, p, c) in enumerate(zip(labels, predicted, confidence))]
    return write_csv(path, rows, [(key, key) for key in ("index", "true", "predicted", "confidence")])


def check_columns(path, columns):
    """Refuse an experiments.csv of other columns (another script's) rather than mix rows into it."""
    try:
        with open(path, newline="") as f:
            header = next(csv.reader(f), None)
    except OSError:
        return
    if header is not None and header != [key for key, _ in columns]:
        raise UserError(f"{path}: the experiments of another program (other columns); "
                        "choose another --output-dir")


_NUMBERED = re.compile(r"^(?:after-|test-)?experiment-(\d+)(?:-|$)")


def last_experiment(folder):
    """The highest experiment number that a folder's files or experiments.csv use (0 for none).

    A checkpoint left by a killed run is refused: a new experiment would write over it.
    """
    if os.path.exists(os.path.join(folder, "checkpoint.npz")):
        raise UserError(f"{folder} holds the checkpoint of an experiment that a killed run left: continue it with "
                        f"--resume, or remove {os.path.join(folder, 'checkpoint.npz')} to start afresh")
    numbers = [int(m.group(1)) for name in os.listdir(folder) if (m := _NUMBERED.match(name))]
    try:
        with open(os.path.join(folder, "experiments.csv"), newline="") as f:
            numbers += [int(row["experiment"]) for row in csv.DictReader(f) if row.get("experiment", "").isdigit()]
    except OSError:
        pass
    return max(numbers, default=0)


def read_rows(path, params, below=None):
    """The rows of an experiments.csv (those numbered below `below`, where given), with their values
    parsed back (hyperparameters by their Param, numbers as numbers); none where it cannot be read."""
    parsers = {p.name: p.parse for p in params}
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return []
    kept = []
    for row in rows:
        try:
            if below is not None and int(row["experiment"]) >= below:
                continue
            kept.append({key: _parse_cell(key, text, parsers) for key, text in row.items()})
        except (KeyError, ValueError):
            continue  # a row this version cannot read: left out of the table
    return kept


def _parse_cell(key, text, parsers):
    if text == "":
        return None
    if key in parsers:
        return parsers[key](text)
    if key in ("experiment", "parameters"):
        return int(text)
    if key in ("status", "saved"):
        return text
    return float(text)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return show(value)


def versions():
    """Library versions, for the record."""
    import h5py
    import numpy
    from convae.backend import keras, version
    return {"python": platform.python_version(), **version(), "keras": keras().__version__,
            "numpy": numpy.__version__, "h5py": h5py.__version__}


def description_path(model_path):
    """The JSON file that describes a saved model: same name, .json extension."""
    return os.path.splitext(model_path)[0] + ".json"


MODEL_FORMATS = (".h5", ".keras")


def check_save_path(path, overwrite=True):
    """Raise UserError when `path` cannot be written (checked before any work is done), or when it
    exists and may not be overwritten (--no-input without --overwrite)."""
    if not path.endswith(MODEL_FORMATS):
        raise UserError(f"{path}: expected a file name ending in .h5 (Keras HDF5) or .keras (Keras 3's own format)")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(f"cannot save {path}: the directory {directory} does not exist")
    if os.path.isdir(path):
        raise UserError(f"cannot save {path}: it is a directory")
    if not os.access(directory, os.W_OK):
        raise UserError(f"cannot save {path}: no permission to write in {directory}")
    if not overwrite and os.path.exists(path):
        raise UserError(f"{path} exists (another run's model?); give --overwrite to replace it, or another --save")


def save_model(model, path, description):
    """Write `model` to `path` (.h5 or .keras) and its description beside it, each atomically.

    A save that fails half-way leaves any earlier file at `path` as it was.
    """
    check_save_path(path)
    description = dict(description, file=os.path.basename(path),
                       saved=datetime.datetime.now().isoformat(timespec="seconds"),
                       command=" ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
                       versions=versions())
    from convae.layers import standard_layers
    try:
        with atomic_path(path) as tmp:
            standard_layers(model).save(tmp)
        write_text_atomic(description_path(path), json.dumps(description, indent=2, default=_jsonable) + "\n")
    except OSError as e:
        raise UserError(f"cannot save {path}: {e.strerror or e}") from None
    return path


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
