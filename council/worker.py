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

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0  # seconds between failed rounds, at most
REPORT_EVERY = 300.0  # seconds between "still failing" lines


class Worker:
    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._wake = asyncio.Event()
        self.failures = 0  # failed rounds in a row
        self._reported = 0.0

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
                self._failed(exc)
                await self._pause(min(self.idle * 2 ** min(self.failures, 8), MAX_BACKOFF))
                continue
            self._recovered()
            if not worked:
                await self._pause(self.idle)

    async def _pause(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
        # comes with a poke in the same tick, and the worker then never stops.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        name = type(self).__name__
        now = time.monotonic()
        if self.failures == 1:
            log.exception("%s: round failed; retrying with backoff", name)
            self._reported = now
        elif now - self._reported >= REPORT_EVERY:
            log.warning("%s: still failing (%d rounds in a row), last with %s", name,
                        self.failures, type(exc).__name__)
            self._reported = now

    def _recovered(self) -> None:
        if self.failures:
            log.warning("%s: working again after %d failed rounds", type(self).__name__,
                        self.failures)
            self.failures = 0
