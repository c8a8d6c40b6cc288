"""The shape of Kabinet's background loops: a round at once when poked, else every `idle` s.

Pure asyncio, shared by the appservice and the bridges. The wake flag is cleared *before*
each round, so a poke that arrives during a round starts the next one at once instead of
being lost until the idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._wake = asyncio.Event()

    def poke(self) -> None:
        self._wake.set()

    async def round(self) -> bool:
        """Do what is due; True if there was work (then the next round starts at once)."""
        raise NotImplementedError

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                worked = await self.round()
            except Exception:
                log.exception("%s: round failed; retrying", type(self).__name__)
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle)
