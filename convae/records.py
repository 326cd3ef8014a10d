"""What an experiment leaves behind: tables, CSV files, saved models with their JSON descriptions."""
import csv
import datetime
import io
import json
import os
import platform
import sys

from convae.errors import UserError
from convae.files import atomic_path, write_text_atomic
from convae.params import show


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


def read_rows(path, params, below):
    """The rows of an experiments.csv for the experiments numbered below `below`, with their values
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
            if int(row["experiment"]) >= below:
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


def check_save_path(path):
    """Raise UserError when `path` cannot be written (checked before any work is done)."""
    if not path.endswith(MODEL_FORMATS):
        raise UserError(f"{path}: expected a file name ending in .h5 (Keras HDF5) or .keras (Keras 3's own format)")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(f"cannot save {path}: the directory {directory} does not exist")
    if os.path.isdir(path):
        raise UserError(f"cannot save {path}: it is a directory")
    if not os.access(directory, os.W_OK):
        raise UserError(f"cannot save {path}: no permission to write in {directory}")


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
