"""An in-process signal that a sitting's live state changed (registration count, vote, result).

The transaction handler says `changed(sitting_id)`; the hall view's event stream waits on it
instead of polling the store. In-process only: with several web workers each also re-reads on
a short timeout, so a missed signal costs at most that timeout.
"""

from __future__ import annotations

import asyncio
import contextlib


class Changes:
    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}

    def changed(self, sitting_id: int) -> None:
        event = self._events.pop(sitting_id, None)
        if event is not None:
            event.set()

    async def wait(self, sitting_id: int, timeout: float) -> bool:
        """True if the sitting changed within `timeout` seconds."""
        event = self._events.setdefault(sitting_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()
                return True
        return False
