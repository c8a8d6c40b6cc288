"""How far a roster apply has come, on the command line (`kabinet up`, `kabinet roster apply`).

The reconciler tells a `RosterProgress` after each account and each room
(appservice.roster.reconcile.Progress). On a terminal it is one line redrawn in place; anywhere
else (a pipe, a log file, journald) it is a plain line at each tenth of the way, so even the
first start of a large council writes about eleven lines, never one per room.

Used as a context manager: on a terminal, a log line written to the same stream meanwhile
first clears the bar, which is drawn again under it at the next step.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from appservice.roster.reconcile import Progress

BAR = 24  # characters of the bar on a terminal
REDRAW = 0.1  # seconds between redraws on a terminal, at least
CLEAR = "\r\x1b[K"  # back to the line's start, and erase it


def describe(p: Progress) -> str:
    return f"accounts {p.accounts}/{p.accounts_total}, rooms {p.rooms}/{p.rooms_total}, " \
           f"invites {p.invites}"


def share(p: Progress) -> float:
    return p.done / p.total if p.total else 1.0


class RosterProgress:
    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None,
                 label: str = "roster", clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.label = label
        self.clock = clock
        self._shown = False  # a bar is on the terminal's current line
        self._drawn_at = float("-inf")
        self._tenth = -1  # the last tenth written as a plain line
        self._filter = _ClearBar(self)
        self._handlers: list[logging.Handler] = []

    def __call__(self, p: Progress) -> None:
        finished = p.done >= p.total
        if self.tty:
            now = self.clock()
            if finished or not self._shown or now - self._drawn_at >= REDRAW:
                self._draw(p, end="\n" if finished else "")
                self._drawn_at = now
            return
        tenth = int(share(p) * 10)
        if tenth > self._tenth:
            self._tenth = tenth
            self.stream.write(f"{self.label}: {int(share(p) * 100):3d}% — {describe(p)}\n")
            self.stream.flush()

    def _draw(self, p: Progress, end: str) -> None:
        filled = int(share(p) * BAR)
        bar = "#" * filled + "." * (BAR - filled)
        self.stream.write(f"{CLEAR}{self.label} [{bar}] {int(share(p) * 100):3d}%  {describe(p)}{end}")
        self.stream.flush()
        self._shown = not end

    def clear(self) -> None:
        """Take the bar off the line (a log line is about to be written there)."""
        if self._shown:
            self.stream.write(CLEAR)
            self.stream.flush()
            self._shown = False

    def close(self) -> None:
        """An apply that ended early (an error, Ctrl-C) leaves its last bar on a line of its own."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> RosterProgress:
        if self.tty:
            self._handlers = [h for h in logging.getLogger().handlers
                              if getattr(h, "stream", None) is self.stream]
            for handler in self._handlers:
                handler.addFilter(self._filter)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for handler in self._handlers:
            handler.removeFilter(self._filter)
        self._handlers = []
        self.close()


class _ClearBar(logging.Filter):
    """Run by a handler just before it writes a record: the bar makes room for it."""

    def __init__(self, progress: RosterProgress) -> None:
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self.progress.clear()
        return True
