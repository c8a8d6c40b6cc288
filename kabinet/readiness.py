"""What a starting Kabinet waits for before it says it is running (web.health.Readiness): the
steps `kabinet up` waits for before its banner and /readyz names until they are done."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from council import rooms as registry
from council.appeals import Appeal
from council.sittings import Sitting
from council.store import Store
from web.health import Readiness

log = logging.getLogger(__name__)

ROSTER = "roster"  # the roster applied at the start: the council's accounts, rooms and spaces
DEMO = "demo"  # `--demo`: the demo's sittings and appeals stored, and their rooms made


def start_steps() -> Readiness:
    """A start waits for its roster; `start(demo=True)` adds DEMO."""
    return Readiness(ROSTER)


async def rooms_to_make(store: Store) -> list[str]:
    """The keys of the sittings' and appeals' rooms that the room workers have yet to make."""
    async with store.session() as s:
        sittings = (await s.scalars(select(Sitting.id))).all()
        appeals = (await s.scalars(select(Appeal.id))).all()
    have = await registry.room_map(store)
    wanted = [registry.sitting(i) for i in sittings] + [registry.appeal(i) for i in appeals]
    return [key for key in wanted if key not in have]


async def when_rooms_made(store: Store, readiness: Readiness, step: str, poll: float = 0.5) -> None:
    """Mark `step` done once every sitting and appeal stored has its room (a worker's task: the
    room workers, started beside it, make them). A failed look is retried, never fatal."""
    told = False
    while True:
        try:
            if not await rooms_to_make(store):
                break
        except Exception:
            if not told:
                log.exception("could not tell whether the rooms are made; trying again")
                told = True
        await asyncio.sleep(poll)
    readiness.done(step)
