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
    numbers: tuple = ()      # grid: its values parsed, where they are all numbers (stored as numbers, so that
                             # Optuna's dashboard orders them: 32 < 128); () for text (and sweeps before them)

    def stored(self, text):
        """A grid value as the study stores it: its number where the grid is of numbers, else its text."""
        return self.numbers[self.values.index(text)] if self.numbers else text

    def text(self, stored):
        """A grid value's text (as its flag takes it) from what the study stored."""
        if self.numbers and not isinstance(stored, str):
            return self.values[min(range(len(self.numbers)), key=lambda i: abs(self.numbers[i] - stored))]
        return str(stored)

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
    autoencoder: tuple = ()  # classification: each trial trains its own autoencoder with these flags (and its seed)
    prune: bool = False      # a pruner stops a search's hopeless trials early, on their first seed
    against: str = ""        # a second objective (minutes, parameters): a multi-objective study

    @property
    def objectives(self):
        """The figures the study optimises: the definition's best metric, then `against` where given."""
        return ("best",) + ((self.against,) if self.against else ())

    def to_json(self):
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_json(cls, record):
        dims = tuple(Dimension(**{**d, "values": tuple(d["values"]), "numbers": tuple(d.get("numbers", ()))})
                     for d in record["dimensions"])
        return cls(record["script"], tuple(record["fixed"]), dims, tuple(record["seeds"]), record["trials"],
                   record.get("tensorboard", True), tuple(record.get("autoencoder", ())), record.get("prune", False),
                   record.get("against", ""))

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
        texts = list(dict.fromkeys(texts))
        parsed = [_check_value(param, value, f"--grid {name}") for value in texts]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in parsed)
        if numeric and len(set(parsed)) < len(parsed):
            raise UserError(f"--grid {name}: the same value twice ({', '.join(texts)})")
        return Dimension(key, "grid", tuple(texts), numbers=tuple(parsed) if numeric else ())
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
    if dimension.kind == "grid":
        return dimension.text(value)
    if isinstance(value, str):
        return value
    return str(int(value)) if dimension.integer else repr(float(value))


def value_of(dimension, raw, param):
    """A dimension's value as the experiment takes it: a grid's text parsed as its flag would be, a
    search's number as drawn (its range lies within the flag's)."""
    if dimension.kind == "grid":
        return param.parse(dimension.text(raw))
    return int(raw) if dimension.integer else float(raw)


AGAINST = ("minutes", "parameters")  # what --against can weigh the validation figure against (lower is better)


def build(definition, fixed, grid=(), search=(), seeds="1", trials=None, tensorboard=True, ensemble=None,
          autoencoder=None, prune=False, against=None):
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
    own_autoencoder = check_autoencoder(definition, fixed, autoencoder)
    if prune and not search:
        raise UserError("--prune stops a --search's hopeless trials early; a --grid alone runs every configuration "
                        "to compare them all: leave --prune out, or give a --search")
    if against is not None and against not in AGAINST:
        raise UserError(f"--against {against}: expected one of {', '.join(AGAINST)} (what every trial records)")
    if prune and against:
        raise UserError("--prune with --against: Optuna prunes single-objective studies only; leave one out")
    flags.no_input = True
    return Spec(definition.file, tuple(fixed), tuple(dims), parse_seeds(seeds), trials or (20 if search else 1),
                tensorboard, own_autoencoder, bool(prune), against or ""), flags


def check_autoencoder(definition, fixed, autoencoder):
    """--autoencoder FLAGS (classification): each trial trains its own autoencoder with autoencoder.py's FLAGS,
    the classifier's -d and the trial's seed, instead of reusing -model. Returns the flags, checked."""
    if autoencoder is None:
        return ()
    import shlex
    if definition.file != "classification.py":
        raise UserError("--autoencoder trains each trial's own autoencoder for its classifier: it needs "
                        "classification.py")
    if "-model" in fixed:
        raise UserError("--autoencoder trains each trial's own autoencoder: leave -model out")
    try:
        flags = tuple(shlex.split(autoencoder))
    except ValueError as e:
        raise UserError(f"--autoencoder {autoencoder!r}: {e}") from None
    from convae import definitions
    given = definitions.of("autoencoder.py").parse_args(list(flags))
    if given.train_images is not None:
        raise UserError("--autoencoder: leave -d out; the autoencoders train on the classifier's -d")
    for name in sorted(PER_TRIAL):
        if getattr(given, name, None) not in (None, False):
            raise UserError(f"--autoencoder: --{name.replace('_', '-')} is the sweep's to set for each trial; "
                            "leave it out")
    if given.precision != "auto":
        raise UserError("--autoencoder: --precision holds for both stages; give it with the classifier's flags")
    return flags


def check_ensemble(definition, k):
    """--ensemble K averages classifiers' probabilities: a sweep of the script that classifies."""
    if k and not definition.higher_is_better:
        raise UserError("--ensemble averages classifiers: it needs classification.py")


def difference(theirs, ours):
    """What differs between two sweeps' Specs, in words."""
    for field in ("script", "dimensions", "seeds", "fixed", "trials", "tensorboard", "autoencoder", "prune", "against"):
        a, b = getattr(theirs, field), getattr(ours, field)
        if a != b:
            show = {"dimensions": lambda ds: ", ".join(d.describe() for d in ds) or "none",
                    "fixed": lambda f: " ".join(f) or "none",
                    "autoencoder": lambda f: " ".join(f) or "none"}.get(field, str)
            return f"other {field}: {show(a)} there, {show(b)} here"
    return "another sweep"
