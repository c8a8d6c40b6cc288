"""The shape of Kabinet's background loops: a round at once when poked, else every `idle` s.

Pure asyncio, shared by the appservice and the bridges. The wake flag is cleared *before*
each round, so a poke that arrives during a round starts the next one at once instead of
being lost until the idle timeout.

A round that fails (the homeserver is away, the database is locked) is retried with backoff,
and said once with its traceback, then every few minutes while it lasts, and once more when
it is over: an outage of an hour must not write a traceback a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0  # seconds between failed rounds, at most
PATIENCE = 0.2  # seconds a background request waits for the site to be quiet, at most
REPORT_EVERY = 300.0  # seconds between "still failing" lines


class Trouble:
    """How a failure that repeats is said: once with its traceback, then a line every
    REPORT_EVERY s while it lasts, and once when it is over. For the loops below and for the
    appservice's transactions (refused while the store is away, retried by the homeserver)."""

    def __init__(self, name: str, unit: str = "rounds") -> None:
        self.name = name
        self.unit = unit  # what failed, in the plural: rounds, transactions
        self.failures = 0  # in a row
        self._reported = 0.0

    def failed(self, exc: BaseException, what: str) -> None:
        self.failures += 1
        now = time.monotonic()
        if self.failures == 1:
            log.error("%s: %s", self.name, what, exc_info=exc)
            self._reported = now
        elif now - self._reported >= REPORT_EVERY:
            log.warning("%s: still failing (%d %s in a row), last with %s", self.name,
                        self.failures, self.unit, type(exc).__name__)
            self._reported = now

    def recovered(self) -> None:
        if self.failures:
            log.warning("%s: working again after %d failed %s", self.name, self.failures,
                        self.unit)
            self.failures = 0


class Worker:
    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._wake = asyncio.Event()
        self.trouble = Trouble(type(self).__name__)

    def poke(self) -> None:
        self._wake.set()

    async def poked(self) -> None:
        """Until the next poke, and take it: for a process that does not run this worker and
        passes its pokes on to the one that does (kabinet/leader.py)."""
        await self._wake.wait()
        self._wake.clear()

    async def round(self) -> bool:
        """Do what is due; True if there was work (then the next round starts at once)."""
        raise NotImplementedError

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                worked = await self.round()
            except Exception as exc:
                self.trouble.failed(exc, "round failed; retrying with backoff")
                await self._pause(min(self.idle * 2 ** min(self.failures, 8), MAX_BACKOFF))
                continue
            self.trouble.recovered()
            if not worked:
                await self._pause(self.idle)

    async def _pause(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
        # comes with a poke in the same tick, and the worker then never stops.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    @property
    def failures(self) -> int:
        """Failed rounds in a row."""
        return self.trouble.failures

class Foreground:
    """People waiting on the web site come first. The site counts the requests it is serving
    (`serving`); background work that is about to make a homeserver request while several are
    being served (`yielded`) waits until at most one is left, for at most `patience` seconds.
    Every background request thus still goes within `patience`, however busy the site is; what
    the wait buys is the CPU of one process: 20 citizens submitting at once are answered in
    tens of milliseconds instead of queueing behind room creation and delivery (bench/appeals.py).
    A lone request in flight (one page load, a client polling) holds nothing back."""

    def __init__(self, patience: float = PATIENCE, crowd: int = 2) -> None:
        self.patience = patience
        self.crowd = crowd  # requests in flight that count as "people waiting"
        self.busy = 0
        self.waits = 0  # background requests that waited (the metrics' and the tests' view)
        self._calm = asyncio.Event()
        self._calm.set()

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        self.busy += 1
        if self.busy >= self.crowd:
            self._calm.clear()
        try:
            yield
        finally:
            self.busy -= 1
            if self.busy < self.crowd:
                self._calm.set()

    async def yielded(self) -> None:
        if self._calm.is_set():
            return
        self.waits += 1
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.patience):
                await self._calm.wait()
