"""A status line on the terminal while a command reads its files and computes (stderr only).

A 541k-row export takes seconds to read and check; a screen that stays blank that long
looks hung. After ``DELAY`` seconds of work a Rich spinner says what is happening ("reading
line_items.csv (45.6 MB)", then "computing attach rates"), and it is cleared before the
answer is printed. Polars' collects give no row counts as they go, so the line names the
step rather than counting rows.

It is shown only to a person watching a terminal: stderr is a terminal, and the answer goes
to the terminal too or to a named file (``-o``). Never with ``-q``, never when stdout is a
pipe or redirected (the reader may be ``less`` on the same terminal), never under cron (no
terminal) or ``TERM=dumb``. Rich is imported only once the line is about to show, so quick
runs and ``--help`` never pay for it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any

DELAY = 1.0  # seconds of work before the line shows; XSELL_PROGRESS_DELAY overrides (tests)


def wanted(
    *, quiet: bool, output_to_file: bool, stdout: IO[str], stderr: IO[str], env: Mapping[str, str] = os.environ
) -> bool:
    """Whether a person is watching: see the module docstring."""
    if quiet or env.get("TERM", "") in ("", "dumb"):
        return False
    try:
        return stderr.isatty() and (output_to_file or stdout.isatty())
    except (AttributeError, ValueError):  # a closed or fake stream
        return False


class Progress:
    """``step(text)`` names the work under way; the line appears once work has lasted
    ``delay`` seconds and goes away at ``stop()`` (or the end of the ``with`` block)."""

    def __init__(self, *, enabled: bool, stream: IO[str] | None = None, delay: float | None = None) -> None:
        self.enabled = enabled
        self._stream = stream or sys.stderr
        self._delay = _delay() if delay is None else delay
        self._lock = threading.Lock()
        self._text = ""
        self._timer: threading.Timer | None = None
        self._live: Any = None  # rich.live.Live and its rich.spinner.Spinner, imported only when shown
        self._spinner: Any = None
        self._stopped = False

    def step(self, text: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._stopped:
                return
            self._text = text
            if self._live is not None:
                # Drawn at once, not at the spinner's next frame: a step shorter than a
                # frame is still seen.
                self._spinner.update(text=text)
                self._live.refresh()
            elif self._delay <= 0:
                self._start()
            elif self._timer is None:
                self._timer = threading.Timer(self._delay, self._show)
                self._timer.daemon = True
                self._timer.start()

    def stop(self) -> None:
        """Clear the line (before anything else is printed); later steps show nothing."""
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
            if self._live is not None:
                self._live.stop()
                self._live = None

    def _show(self) -> None:
        with self._lock:
            if not self._stopped and self._live is None:
                self._start()

    def _start(self) -> None:
        """Show the line now, with the current step (the lock held)."""
        from rich.console import Console
        from rich.live import Live
        from rich.spinner import Spinner

        console = Console(file=self._stream, highlight=False)
        self._spinner = Spinner("dots", text=self._text)
        self._live = Live(self._spinner, console=console, refresh_per_second=12.5, transient=True)
        self._live.start(refresh=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _delay() -> float:
    try:
        return float(os.environ.get("XSELL_PROGRESS_DELAY", DELAY))
    except ValueError:
        return DELAY


# The run's progress line: one command per process, so one line (cli.py sets it).
_current = Progress(enabled=False)


def current() -> Progress:
    return _current


def start(progress: Progress) -> Progress:
    global _current
    _current = progress
    return progress


def step(text: str) -> None:
    _current.step(text)


def stop() -> None:
    _current.stop()
