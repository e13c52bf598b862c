"""What the `python -m ci.*` commands share at their edge: the exit statuses, the split of their
own arguments from pytest's (after `--`), and bad input said in one line on stderr, by the
option parser or, for what a command finds wrong after parsing, by `usage` (often after a
`UsageFailure`).

The numbers are the same in every command; each command's docstring says what they mean for it
(ci.replay gives 3 its own meaning: the backend cannot express the case).
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

OK, FAILED, USAGE, BROKEN = 0, 1, 2, 3
# pytest's exit statuses that a command reads as bad input (pytest.ExitCode: 4 usage error,
# 5 no tests collected; 0 passed, 1 tests failed, 2 interrupted, 3 internal error).
PYTEST_USAGE, PYTEST_NO_TESTS = 4, 5
# The tier's verdicts are raised as ConformanceFailure, not by `assert`, so a tier run needs no
# assertion rewriting; with it, pytest rewrites and compiles every module of each pytest plugin's
# distribution (all of hypothesis) afresh in every process, bytecode files being off.
NO_ASSERT_REWRITING = "--assert=plain"


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the command's own arguments, the pytest arguments after `--`)."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


class UsageFailure(Exception):
    """Bad input found after parsing: the command says it with `usage` and exits with USAGE."""


def usage(command: str, message: object) -> int:
    """Say bad input in one line on stderr, `command: message`; returns USAGE."""
    print(f"{command}: {message}", file=sys.stderr)
    return USAGE


class Parser(argparse.ArgumentParser):
    """argparse that says a bad option in one line on stderr and exits with USAGE.

    The line is `command: message` and then `hint` (e.g. "; see --help"; none by default);
    `command` defaults to the parser's prog.
    """

    def __init__(self, *args, command: str | None = None, hint: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.command = command or self.prog
        self.hint = hint

    def error(self, message: str) -> NoReturn:
        raise SystemExit(usage(self.command, message + self.hint))
