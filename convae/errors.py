"""Exceptions that end in a one-line message for the user rather than a traceback."""


class UserError(Exception):
    """A problem the user can fix: a bad file, a bad value, a failed save."""


class EndOfInput(UserError):
    """Standard input ended while a prompt was waiting for an answer."""
