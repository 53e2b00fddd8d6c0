"""One exception base and the exit codes every command maps to.

Library code raises; only ``cli.py`` prints and exits. Row-level problems are not
exceptions at all: they are rows of the load report (see ``load.py``).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (sysexits.h where one fits)."""

    OK = 0
    FINDINGS = 1  # --fail-on matched a finding
    USAGE = 2  # bad option or argument (also what Click uses)
    DATA = 65  # EX_DATAERR: bad input data
    NO_INPUT = 66  # EX_NOINPUT: an input file or folder is missing
    INTERNAL = 70  # EX_SOFTWARE: a bug in xsell, never a user's fault
    CANT_WRITE = 73  # EX_CANTCREAT: the output cannot be written
    CONFIG = 78  # EX_CONFIG: bad configuration


class XsellError(Exception):
    """A problem the user can fix. ``str(err)`` is the whole message; ``hint`` says how."""

    exit_code: ExitCode = ExitCode.DATA

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(XsellError):
    exit_code = ExitCode.USAGE


class DataError(XsellError):
    exit_code = ExitCode.DATA


class InputMissingError(XsellError):
    exit_code = ExitCode.NO_INPUT


class OutputError(XsellError):
    exit_code = ExitCode.CANT_WRITE


class ConfigError(XsellError):
    exit_code = ExitCode.CONFIG
