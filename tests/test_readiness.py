"""Readiness: /readyz is 503 until the start's roster is applied (and, with the demo, the demo's
rooms exist), then 200; /healthz answers all along and says `ready`. The start's reconciler
reports its progress up to done == total."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appservice.roster.desired import desired_rooms
from appservice.roster.reconcile import OnProgress, Progress, Report
from council import rooms as registry
from council.roster import Roster, load_roster
from kabinet import readiness
from kabinet.wiring import Kabinet, start
from tests.conftest import SMALL_ROSTER, test_settings
from tests.matrix_helpers import wait_for
from web.health import Readiness


class HeldKabinet(Kabinet):
    """A Kabinet whose start applies its roster only once the test lets it (`release`): the
    test looks at the site before the roster is applied, then the real apply runs."""

    release: asyncio.Event

    async def apply_roster(self, roster: Roster | None = None,
                           progress: OnProgress | None = None) -> Report:
        await self.release.wait()
        return await super().apply_roster(roster, progress)


async def get(url: str) -> tuple[int, dict[str, Any]] | None:
    """The answer's status and JSON, or None while nothing listens there yet."""
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            return resp.status, await resp.json()
    except aiohttp.ClientConnectionError:
        return None


async def test_readiness_waits_for_every_step_it_names_and_stays_ready():
    steps = Readiness("roster")
    steps.expect("demo")
    steps.expect("demo")  # named once
    assert (steps.ready, steps.waiting_for) == (False, ["roster", "demo"])
    steps.done("demo")
    waiter = asyncio.ensure_future(steps.wait())
    await asyncio.sleep(0)
    assert not waiter.done() and steps.waiting_for == ["roster"]
    steps.done("roster")
    await asyncio.wait_for(waiter, 1)
    assert steps.ready and steps.waiting_for == []
    assert Readiness().ready  # nothing named: nothing to wait for


async def test_readyz_is_503_until_the_roster_and_the_demo_are_in_place_then_200(tmp_path: Path):
    roster = load_roster(SMALL_ROSTER)
    kabinet = HeldKabinet(test_settings(tmp_path, SMALL_ROSTER), roster)
    kabinet.release = asyncio.Event()
    seen: list[Progress] = []
    starting = asyncio.ensure_future(start(kabinet, demo=True, progress=seen.append))
    base = kabinet.settings.web.base_url
    try:
        async def site_answers() -> tuple[int, dict[str, Any]] | None:
            if starting.done():
                starting.result()  # a start that failed says why
                raise AssertionError("the start finished before the roster was released")
            return await get(f"{base}/readyz")

        # Before: the site answers (the homeserver is up), the roster is not applied.
        assert await wait_for(site_answers, timeout=300, what="the site") == (
            503, {"ready": False, "waiting_for": ["roster", "demo"]})
        status, health = await get(f"{base}/healthz") or (0, {})
        assert health["ready"] is False and status == 200, health  # alive, not ready
        assert await registry.room_map(kabinet.store) == {}  # truly before: no room made yet
        assert seen == []

        kabinet.release.set()
        running = await asyncio.wait_for(starting, 300)
        try:
            assert readiness.ROSTER not in kabinet.readiness.waiting_for
            await asyncio.wait_for(kabinet.readiness.wait(), 120)
            # After: ready, and what it waited for is there.
            assert await get(f"{base}/readyz") == (200, {"ready": True})
            status, health = await get(f"{base}/healthz") or (0, {})
            assert (status, health["ready"]) == (200, True), health
            rooms = await registry.room_map(kabinet.store)
            assert await readiness.rooms_to_make(kabinet.store) == []
            assert sum(k.startswith("sitting:") for k in rooms) == 2  # the demo's two sittings
            assert sum(k.startswith("appeal:") for k in rooms) == 3  # and its three appeals

            # The roster's progress went from nothing to everything, never backwards.
            first, last = seen[0], seen[-1]
            total_rooms = len(desired_rooms(roster, kabinet.settings.homeserver.server_name))
            assert (first.done, first.rooms, first.total) == (0, 0, 5 + total_rooms)
            assert (last.accounts, last.accounts_total) == (5, 5)  # 4 deputies and the clerk
            assert (last.rooms, last.rooms_total) == (total_rooms, total_rooms)
            assert last.done == last.total and last.invites == running.report.invites > 0
            assert all(a.done <= b.done and a.invites <= b.invites for a, b in pairwise(seen))
            assert len(seen) == 1 + 5 + total_rooms  # once at the start, then per account and room
        finally:
            await running.stop()
    finally:
        kabinet.release.set()
        if not starting.done():
            starting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await starting
