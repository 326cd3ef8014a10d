"""Hyperparameters: one default, one flag and one prompt each, declared once.

A `Param` turns text into a value (`parse`) and, where it depends on other values, checks it
against them (`fit`); both raise ValueError with the accepted range. argparse and the prompts use
the same functions, so a flag and its prompt accept exactly the same things.
"""
import dataclasses
from typing import Any, Callable, Optional


@dataclasses.dataclass(frozen=True)
class Param:
    name: str                     # attribute name; the flag is --name-with-dashes
    parse: Callable[[str], Any]   # text -> value, ValueError on bad text
    default: Any                  # a value, or a function of the values resolved so far
    help: str
    prompt: Optional[str] = None  # asked before each experiment unless given as a flag; None: a flag only
    fit: Optional[Callable[[Any, dict], Any]] = None  # checks/expands against other values
    metavar: Optional[str] = None
    shown_default: Optional[str] = None  # how --help states the default, where the value alone would not say
    group: Optional[str] = None  # the --help section of a flag-only value (asked ones go with the assignment's)

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    def default_for(self, values):
        """The default given the values resolved so far."""
        return self.default(values) if callable(self.default) else self.default

    def resolve(self, value, values):
        """Check `value` against the other values; return it, expanded where needed."""
        return self.fit(value, values) if self.fit else value


def differences(params, values):
    """"name value" for each of `params` whose value in `values` is not its default, in order."""
    return [f"{p.name.replace('_', ' ')} {show(values[p.name])}" for p in params
            if p.name in values and _uniform_as_one(values[p.name]) != _uniform_as_one(p.default_for(values))]


def _uniform_as_one(value):
    """A per-layer list with one value throughout as that value ([3, 3, 3] is what 3 means)."""
    if isinstance(value, (list, tuple)) and len(set(value)) == 1:
        return value[0]
    return list(value) if isinstance(value, tuple) else value


def show(value):
    """Format a value as the user types it (lists as comma lists)."""
    if isinstance(value, (list, tuple)):
        return ",".join(show(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def integer(lo, hi=None):
    """Parser for an integer in [lo, hi]."""
    accepted = f"an integer from {lo} to {hi}" if hi is not None else f"an integer >= {lo}"

    def parse(text):
        try:
            value = int(str(text).strip())
        except ValueError:
            raise ValueError(f"expected {accepted}, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            raise ValueError(f"expected {accepted}, got {value}")
        return value
    return parse


def real(lo, hi, hi_inclusive=False):
    """Parser for a number in [lo, hi) (or [lo, hi] with hi_inclusive)."""
    accepted = f"a number from {lo:g} to {hi:g}" + ("" if hi_inclusive else f" (not {hi:g} itself)")

    def parse(text):
        try:
            value = float(str(text).strip())
        except ValueError:
            raise ValueError(f"expected {accepted}, got {text!r}") from None
        if not (lo <= value < hi or (hi_inclusive and value == hi)):
            raise ValueError(f"expected {accepted}, got {value:g}")
        return value
    return parse


def integer_list(lo, hi):
    """Parser for one integer or a comma-separated list of them, each in [lo, hi]."""
    one = integer(lo, hi)

    def parse(text):
        parts = [p for p in str(text).replace(" ", ",").split(",") if p]
        if not parts:
            raise ValueError(f"expected a comma-separated list of integers from {lo} to {hi}, got {text!r}")
        return [one(p) for p in parts]
    parse.is_list = True  # a sweep's --grid separates such values with ";"
    return parse


def per_layer(value, count, what):
    """Expand a single value to `count` copies; otherwise insist on exactly `count` values."""
    if len(value) == 1:
        return list(value) * count
    if len(value) != count:
        raise ValueError(f"expected one {what} per layer ({count} values) or a single value, got {len(value)}")
    return list(value)


def integer_choice(*options):
    """Parser for one of a few integers."""
    accepted = ", ".join(map(str, options[:-1])) + f" or {options[-1]}"

    def parse(text):
        try:
            value = int(str(text).strip())
        except ValueError:
            value = None
        if value not in options:
            raise ValueError(f"expected {accepted}, got {text!r}" if value is None else
                             f"expected {accepted}, got {value}")
        return value
    return parse


def choice(*options):
    """Parser for one of a few words."""
    def parse(text):
        value = str(text).strip().lower()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {text!r}")
        return value
    return parse
