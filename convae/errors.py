"""Exceptions that end in a one-line message for the user rather than a traceback."""


class UserError(Exception):
    """A problem the user can fix: a bad file, a bad value, a failed save."""


class EndOfInput(UserError):
    """Standard input ended while a prompt was waiting for an answer."""


def first_line(error, limit=160):
    """An exception's message cut to one line for a one-line error (its type where it has none)."""
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= limit else line[:limit - 3] + "..."
