"""A sweep's spec: what it runs. The script, its fixed flags, the dimensions (a `--grid` of listed values
or a `--search` range), the seeds, and how many configurations a search draws; each checked as the
script would check its flag."""
import dataclasses
import json

from convae.errors import UserError

FILE = "sweep.json"  # in the sweep's folder: its Spec, storage, study and --ensemble, for --report

# The flags the sweep sets for each trial: not the user's to fix, not dimensions.
PER_TRIAL = ("seed", "output_dir", "save", "overwrite", "resume", "no_input", "no_show", "tensorboard")


@dataclasses.dataclass(frozen=True)
class Dimension:
    name: str                # the script's Param name ("batch_size")
    kind: str                # "grid" or "search"
    values: tuple = ()       # grid: the values as the flag takes them (text)
    low: float = 0.0         # search: the range, and whether it is drawn on a log scale,
    high: float = 0.0
    log: bool = False
    integer: bool = False    # of integers

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    def describe(self):
        if self.kind == "grid":
            return f"{self.flag} in {{{'; '.join(self.values)}}}"
        return f"{self.flag} from {self.low:g} to {self.high:g}" + (" (log scale)" if self.log else "")


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a sweep runs; two commands that join one sweep must give the same Spec."""
    script: str              # "autoencoder.py" or "classification.py"
    fixed: tuple             # the script's flags that hold for every trial, as given
    dimensions: tuple        # of Dimension
    seeds: tuple             # of int
    trials: int              # configurations a search draws (1 for a grid alone)
    tensorboard: bool = True

    def to_json(self):
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_json(cls, record):
        return cls(record["script"], tuple(record["fixed"]), tuple(Dimension(**{**d, "values": tuple(d["values"])})
                                                                    for d in record["dimensions"]),
                   tuple(record["seeds"]), record["trials"], record.get("tensorboard", True))

    @property
    def grid(self):
        return [d for d in self.dimensions if d.kind == "grid"]

    @property
    def search(self):
        return [d for d in self.dimensions if d.kind == "search"]

    def total(self):
        """How many trials the sweep runs."""
        count = len(self.seeds) * (self.trials if self.search else 1)
        for d in self.grid:
            count *= len(d.values)
        return count


def parse_seeds(text):
    """"1-3" or "1,2,5" (or both: "1-3,7") -> a tuple of distinct seeds, in order."""
    seeds = []
    for part in text.replace(" ", "").split(","):
        try:
            if "-" in part[1:]:
                first, last = part.split("-", 1) if not part.startswith("-") else (part, "")
                first, last = int(first), int(last)
                if last < first:
                    raise ValueError(f"{part}: the range ends before it begins")
                seeds += range(first, last + 1)
            else:
                seeds.append(int(part))
        except ValueError as e:
            reason = str(e) if "range" in str(e) else "expected seeds such as 1-3 or 1,2,5"
            raise UserError(f"--seeds {text}: {reason}") from None
    if not seeds or min(seeds) < 0:
        raise UserError(f"--seeds {text}: expected seeds of 0 or more, such as 1-3 or 1,2,5")
    return tuple(dict.fromkeys(seeds))


def parse_dimension(kind, text, params):
    """A --grid NAME=V1,V2 or --search NAME=LO:HI[:log] against the script's Params (by name)."""
    if "=" not in text:
        example = "batch-size=32,64" if kind == "grid" else "learning-rate=1e-4:1e-2:log"
        raise UserError(f"--{kind} {text}: expected NAME=VALUES, for example --{kind} {example}")
    name, values = text.split("=", 1)
    key = name.strip().lstrip("-").replace("-", "_")
    by_name = {p.name: p for p in params if p.name not in PER_TRIAL}
    if key not in by_name:
        raise UserError(f"--{kind} {name}: not a flag the sweep can vary; the script's are: "
                        + ", ".join(p.flag[2:] for p in by_name.values()))
    param = by_name[key]
    if kind == "grid":
        listed = getattr(param.parse, "is_list", False)
        texts = [v.strip() for v in values.split(";" if listed else ",") if v.strip()]
        if not texts:
            raise UserError(f"--grid {name}: no values")
        for value in texts:
            _check_value(param, value, f"--grid {name}")
        return Dimension(key, "grid", tuple(dict.fromkeys(texts)))
    parts = values.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
        raise UserError(f"--search {name}={values}: expected LOW:HIGH or LOW:HIGH:log")
    low, high = (_check_value(param, v, f"--search {name}") for v in parts[:2])
    if not isinstance(low, (int, float)) or isinstance(low, bool):
        raise UserError(f"--search {name}: only a number can be searched; give its values with --grid")
    if not low < high:
        raise UserError(f"--search {name}={values}: the range is upside down or empty ({low:g} is not below {high:g})")
    log = len(parts) == 3
    if log and low <= 0:
        raise UserError(f"--search {name}={values}: a log scale needs a range above 0")
    return Dimension(key, "search", low=float(low), high=float(high), log=log, integer=isinstance(low, int))


def _check_value(param, text, where):
    try:
        return param.parse(text)
    except ValueError as e:
        raise UserError(f"{where}: {e}") from None


def flag_text(dimension, value):
    """A dimension's value as its flag takes it."""
    if dimension.kind == "grid" or isinstance(value, str):
        return str(value)
    return str(int(value)) if dimension.integer else repr(float(value))


def value_of(dimension, raw, param):
    """A dimension's value as the experiment takes it: a grid's text parsed as its flag would be, a
    search's number as drawn (its range lies within the flag's)."""
    if dimension.kind == "grid":
        return param.parse(raw)
    return int(raw) if dimension.integer else float(raw)


def build(definition, fixed, grid=(), search=(), seeds="1", trials=None, tensorboard=True, ensemble=None):
    """The sweep's Spec from its flags (`fixed`: the script's flags as given), each checked as the script
    would check it. Returns (the Spec, the fixed flags parsed)."""
    params = definition.params
    dims = [parse_dimension("grid", g, params) for g in grid]
    dims += [parse_dimension("search", s, params) for s in search]
    names = [d.name for d in dims]
    for name in names:
        if names.count(name) > 1:
            raise UserError(f"--{name.replace('_', '-')} is given as a dimension twice")
    flags = definition.parse_args(list(fixed))  # an unknown flag or a bad value: the script's own error
    for name in names:
        if getattr(flags, name) is not None and ("--" + name.replace("_", "-")) in fixed:
            raise UserError(f"--{name.replace('_', '-')} is both a dimension and a fixed flag")
    for name in sorted(PER_TRIAL):
        if getattr(flags, name, None) not in (None, False):
            raise UserError(f"--{name.replace('_', '-')} is the sweep's to set for each trial; leave it out")
    if trials is not None and not search:
        raise UserError("--trials counts the configurations a --search draws; there is no --search")
    check_ensemble(definition, ensemble)
    flags.no_input = True
    return Spec(definition.file, tuple(fixed), tuple(dims), parse_seeds(seeds), trials or (20 if search else 1),
                tensorboard), flags


def check_ensemble(definition, k):
    """--ensemble K averages classifiers' probabilities: a sweep of the script that classifies."""
    if k and not definition.higher_is_better:
        raise UserError("--ensemble averages classifiers: it needs classification.py")


def difference(theirs, ours):
    """What differs between two sweeps' Specs, in words."""
    for field in ("script", "dimensions", "seeds", "fixed", "trials", "tensorboard"):
        a, b = getattr(theirs, field), getattr(ours, field)
        if a != b:
            show = {"dimensions": lambda ds: ", ".join(d.describe() for d in ds) or "none",
                    "fixed": lambda f: " ".join(f) or "none"}.get(field, str)
            return f"other {field}: {show(a)} there, {show(b)} here"
    return "another sweep"
