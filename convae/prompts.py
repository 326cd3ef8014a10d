"""The one place that reads answers from the user.

Prompts read standard input even when it is not a terminal, so that a file of answers can be
piped in. With `enabled=False` (`--no-input`) nothing is read: defaults are taken and a question
without a default is an error.
"""
import sys

from convae.errors import EndOfInput, UserError
from convae.params import show


class Prompter:
    def __init__(self, enabled=True, stdin=None, stdout=None):
        self.enabled = enabled
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def ask(self, label, parse, default=None, flag=None):
        """Ask until `parse` accepts the answer; Enter takes `default` when there is one."""
        if not self.enabled:
            if default is None:
                hint = f" (give {flag})" if flag else ""
                raise UserError(f"{label.lower()} is required with --no-input{hint}")
            return default
        if isinstance(default, list) and len(set(default)) == 1:
            shown = f" [{show(default[0])}]"  # "3" rather than "3,3,3": it means the same here
        else:
            shown = f" [{show(default)}]" if default is not None else ""
        while True:
            answer = self._readline(f"{label}{shown}: ").strip()
            if not answer:
                if default is not None:
                    return default
                self._say("  an answer is required")
                continue
            try:
                return parse(answer)
            except ValueError as e:
                self._say(f"  {e}")

    def choose(self, label, options, default=None):
        """Ask for one of `options` (a dict of key -> description), shown as a menu."""
        for key, description in options.items():
            self._say(f"  {key}) {description}")
        keys = list(options)

        def parse(answer):
            if answer not in options:
                raise ValueError(f"expected one of {', '.join(keys)}, got {answer!r}")
            return answer
        return self.ask(label, parse, default)

    def confirm(self, question, default=False):
        """Ask a yes/no question."""
        def parse(answer):
            if answer.lower() in ("y", "yes", "n", "no"):
                return answer.lower()[0]
            raise ValueError(f"expected y or n, got {answer!r}")
        return self.ask(question + " (y/n)", parse, "y" if default else "n") == "y"

    def _readline(self, prompt):
        if self.stdin is sys.stdin and self.stdout is sys.stdout and _isatty(sys.stdin):
            try:
                return input(prompt)  # line editing in a real terminal
            except EOFError:
                self._say("")
                raise EndOfInput("end of input while waiting for an answer") from None
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            self._say("")
            raise EndOfInput("end of input while waiting for an answer")
        if not _isatty(self.stdin):
            self._say(line.rstrip("\n"))  # echo piped answers so that the transcript reads well
        return line.rstrip("\n")

    def _say(self, message):
        print(message, file=self.stdout, flush=True)


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
