"""The one loop shape: pokes are never lost (also in the sittings loops), failures back off and
are said once, not a second."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from appservice.sittings.rooms import SittingRooms
from council import worker as worker_module
from council.roster import load_roster
from council.worker import Foreground, Worker
from tests.conftest import DEMO_ROSTER
from web.app import SiteInfo, create_app


class Flaky(Worker):
    """Fails `failing` rounds in a row (an outage), then works."""

    def __init__(self, failing: int, idle: float = 0.01) -> None:
        super().__init__(idle)
        self.failing = failing
        self.rounds = 0

    async def round(self) -> bool:
        self.rounds += 1
        if self.rounds <= self.failing:
            raise ConnectionError("homeserver away")
        return False


async def run_for(w: Worker, seconds: float) -> None:
    task = asyncio.create_task(w.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_outage_is_logged_once_then_its_end(caplog: pytest.LogCaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(worker_module, "MAX_BACKOFF", 0.02)  # many failed rounds, quickly
    w = Flaky(failing=40)
    with caplog.at_level(logging.INFO, logger="council.worker"):
        await run_for(w, 1.5)
    assert w.rounds > 40, "the worker must go on after the outage"
    lines = [r for r in caplog.records if r.name == "council.worker"]
    assert [r.levelname for r in lines] == ["ERROR", "WARNING"], [r.getMessage() for r in lines]
    assert lines[0].exc_info is not None  # the first failure keeps its traceback
    assert "after 40 failed rounds" in lines[1].getMessage()


async def test_failed_rounds_back_off(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(worker_module, "MAX_BACKOFF", 0.4)
    w = Flaky(failing=10_000, idle=0.01)
    await run_for(w, 1.0)
    # 0.02, 0.04, 0.08, 0.16, 0.32, 0.4, … : about 7 rounds in a second, not a hundred.
    assert 4 <= w.rounds <= 10, w.rounds


async def test_a_poke_during_a_round_starts_the_next_round_at_once():
    class Slow(Worker):
        def __init__(self) -> None:
            super().__init__(idle=30)
            self.started = asyncio.Event()
            self.rounds = 0

        async def round(self) -> bool:
            self.rounds += 1
            self.started.set()
            await asyncio.sleep(0.05)
            return False

    w = Slow()
    task = asyncio.create_task(w.run())
    await w.started.wait()
    w.poke()  # while the first round runs
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert w.rounds == 2  # not 1 until the 30 s idle timeout


class _Lingering:
    """A round body that, the first time, lingers until told to go on (a poke comes meanwhile)."""

    def __init__(self, result: Any = None) -> None:
        self.calls = 0
        self.result = result
        self.in_round = asyncio.Event()
        self.go_on = asyncio.Event()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.in_round.set()
            await self.go_on.wait()
        return self.result


async def _poked_mid_round(run: Any, poke: Any, body: _Lingering) -> int:
    """Poke while the first round runs; how many rounds ran in the next 0.3 s."""
    task = asyncio.create_task(run())
    try:
        await asyncio.wait_for(body.in_round.wait(), 5)
        poke()
        body.go_on.set()
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return body.calls


def _sitting_rooms() -> SittingRooms:
    return SittingRooms(None, None, None, lambda: None,  # type: ignore[arg-type]
                        alias_prefix="kabinet_", room_version="10", poll=60)


async def test_sitting_rooms_see_a_poke_during_a_round():
    rooms = _sitting_rooms()
    body = _Lingering(result=0)
    rooms.create_missing = body  # type: ignore[method-assign]
    rooms.resync_members = _Lingering()  # type: ignore[method-assign]
    rooms.resync_members.go_on.set()
    assert await _poked_mid_round(rooms.run, rooms.poke, body) == 2  # not 1 until the 60 s poll


async def test_the_preupload_loop_sees_a_poke_during_a_round():
    rooms = _sitting_rooms()
    body = _Lingering(result=0)
    rooms.preupload_once = body  # type: ignore[method-assign]
    assert await _poked_mid_round(rooms.preupload, rooms.poke, body) == 2  # not 1 until 30 s


@pytest.mark.parametrize("ticks", [0, 1, 2, 3])
async def test_a_worker_stops_when_cancelled_in_the_tick_it_is_poked(ticks: int):
    """Ctrl-C while a commit pokes delivery: the stop must not wait forever (it did, with
    asyncio.wait_for on Python 3.11, which swallowed the cancellation)."""

    class Idle(Worker):
        async def round(self) -> bool:
            return False

    worker = Idle(idle=30)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.01)  # in its pause
    worker.poke()
    for _ in range(ticks):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done == {task} and task.cancelled()


# -- people first: background requests make way for the site's (council.worker.Foreground) ------

async def test_background_goes_at_once_while_at_most_one_request_is_served():
    fg = Foreground(patience=5.0)
    with fg.serving():
        async with asyncio.timeout(0.5):
            await fg.yielded()
    assert fg.waits == 0


async def test_background_waits_while_people_wait_and_goes_when_they_are_served():
    fg = Foreground(patience=5.0)
    loop = asyncio.get_running_loop()
    with fg.serving():
        with fg.serving():
            waiting = asyncio.create_task(fg.yielded())
            await asyncio.sleep(0.1)
            assert not waiting.done()  # two requests in flight: the background waits
        t0 = loop.time()
        async with asyncio.timeout(0.5):
            await waiting  # one left: it goes
    assert loop.time() - t0 < 0.2 and fg.waits == 1


async def test_background_never_waits_longer_than_its_patience():
    fg = Foreground(patience=0.2)
    loop = asyncio.get_running_loop()
    with fg.serving(), fg.serving(), fg.serving():
        t0 = loop.time()
        await fg.yielded()
        assert 0.15 < loop.time() - t0 < 1.0


async def test_the_site_counts_its_requests_and_the_homeservers_make_way():
    """The site's middleware: a page being served counts; a transaction from the homeserver
    (/as/) does not, and waits like the rest of the background."""
    fg = Foreground(patience=5.0, crowd=1)
    seen: list[int] = []
    app = create_app(SiteInfo("Тестова рада", "localhost", "http://127.0.0.1:1", "#c:localhost"),
                     load_roster(DEMO_ROSTER), {}, fg)

    async def page(request: web.Request) -> web.Response:
        seen.append(fg.busy)
        await asyncio.sleep(0.3)
        return web.Response(text="ok")

    async def transaction(request: web.Request) -> web.Response:
        seen.append(-fg.busy)
        return web.Response(text="{}")

    app.router.add_get("/slow", page)
    homeserver = web.Application()
    homeserver.router.add_put("/txn", transaction)
    app.add_subapp("/as", homeserver)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        slow = asyncio.create_task(client.get("/slow"))
        await asyncio.sleep(0.1)
        t0 = asyncio.get_running_loop().time()
        assert (await client.put("/as/txn")).status == 200
        assert asyncio.get_running_loop().time() - t0 > 0.1  # it waited for the page
        assert (await slow).status == 200
    assert seen == [1, 0] and fg.waits == 1
