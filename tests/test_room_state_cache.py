"""The room-state cache end to end: a real Synapse, Kabinet's own transaction endpoint, a deputy's
client. A no-change re-apply reads no room's state; what changes outside Kabinet reaches the cache
through the transactions and is put right without a read."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from nio import AsyncClient, LoginResponse, RoomLeaveResponse, RoomPutStateResponse
from sqlalchemy import delete

from appservice.roster import pairing
from council import rooms as registry
from council import roomstate
from council.models import RoomStateEntry, RoomStateRoom, utcnow
from kabinet.cli import parser
from kabinet.wiring import Kabinet, Running
from tests.conftest import SMALL_ROSTER, start_installation
from tests.matrix_helpers import settle, wait_for


def by_key(state: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[Any, Any]]:
    return {(e["type"], e["state_key"]): (e["content"], e["event_id"]) for e in state}


async def cache_matches(kabinet: Kabinet) -> bool:
    """Every managed room is cached whole, as the homeserver has it (event ids included)."""
    rooms = list((await registry.room_map(kabinet.store)).values())
    cached = await roomstate.load(kabinet.store, rooms)
    for room_id in rooms:
        if room_id not in cached or \
                by_key(cached[room_id]) != by_key(await kabinet.hs.room_state(room_id)):
            return False
    return True


async def cached_value(kabinet: Kabinet, room_id: str, etype: str, key: str = "") -> Any:
    state = (await roomstate.load(kabinet.store, [room_id])).get(room_id, [])
    return by_key(state).get((etype, key), (None, None))[0]


@pytest.fixture(scope="module")
async def council(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    running = await start_installation(tmp_path_factory.mktemp("cache"), SMALL_ROSTER)
    await settle(running.kabinet, running.kabinet.roster)
    await wait_for(lambda: cache_matches(running.kabinet), timeout=60,
                   what="the transactions to bring every room's state into the cache")
    yield running
    await running.stop()


@pytest.fixture
def reads(council: Running, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The rooms whose whole state the reconciler reads from the homeserver, in order."""
    hs, seen = council.kabinet.hs, []
    original = hs.room_state

    async def counted(room_id: str) -> list[dict[str, Any]]:
        seen.append(room_id)
        return await original(room_id)

    monkeypatch.setattr(hs, "room_state", counted)
    return seen


async def login(council: Running, user: str, password: str) -> AsyncClient:
    client = AsyncClient(council.kabinet.settings.homeserver.client_url, f"@{user}:localhost")
    assert isinstance(await client.login(password), LoginResponse)
    return client


async def test_a_no_change_reapply_reads_no_room_and_writes_nothing(council, reads):
    report = await council.kabinet.apply_roster()
    assert reads == [] and report.state_reads == 0
    assert report.writes == 0 and report.changes == [] and report.problems == []


async def test_the_bots_own_change_outside_the_reconciler_comes_back_and_is_put_right(
        council, reads):
    kabinet = council.kabinet
    lounge = (await registry.room_map(kabinet.store))[registry.lounge()]
    wanted = (await cached_value(kabinet, lounge, "m.room.topic"))["topic"]
    await kabinet.hs.send_state(lounge, "m.room.topic", {"topic": "not the council's topic"})
    await wait_for(lambda: _is(cached_value(kabinet, lounge, "m.room.topic"),
                               {"topic": "not the council's topic"}), what="the topic's echo")
    report = await kabinet.apply_roster()
    assert reads == [] and report.state_events == 1 and report.writes == 1
    assert report.changes == ["lounge: set m.room.topic"]
    again = await kabinet.apply_roster()  # the write went through to the cache: nothing to do
    assert reads == [] and again.writes == 0
    assert by_key(await kabinet.hs.room_state(lounge))[("m.room.topic", "")][0]["topic"] == wanted
    await wait_for(lambda: cache_matches(kabinet), what="the cache to match again")


async def test_a_deputy_who_leaves_a_room_is_invited_again_without_a_read(council, reads):
    kabinet = council.kabinet
    budget = (await registry.room_map(kabinet.store))[registry.commission("budget")]
    deputy = await login(council, "zvarych", "test-deputy-3")
    try:
        assert isinstance(await deputy.room_leave(budget), RoomLeaveResponse)
    finally:
        await deputy.close()
    await wait_for(lambda: _is(cached_value(kabinet, budget, "m.room.member", "@zvarych:localhost"),
                               {"membership": "leave"}), what="the leave in the cache")
    report = await kabinet.apply_roster()
    assert reads == [] and report.invites == 1 and report.writes == 1
    assert report.changes == ["commission:budget: invited @zvarych:localhost"]
    await settle(kabinet, kabinet.roster)
    await wait_for(lambda: cache_matches(kabinet), what="the cache to match again")


async def test_a_staff_member_renaming_a_room_is_put_right_without_a_read(council, reads):
    kabinet = council.kabinet
    lounge = (await registry.room_map(kabinet.store))[registry.lounge()]
    clerk = await login(council, "clerk", "test-clerk-1")
    try:
        resp = await clerk.room_put_state(lounge, "m.room.name", {"name": "Курилка"})
        assert isinstance(resp, RoomPutStateResponse), resp
    finally:
        await clerk.close()
    await wait_for(lambda: _is(cached_value(kabinet, lounge, "m.room.name"), {"name": "Курилка"}),
                   what="the clerk's rename in the cache")
    report = await kabinet.apply_roster()
    assert reads == [] and report.changes == ["lounge: set m.room.name"]
    await wait_for(lambda: cache_matches(kabinet), what="the cache to match again")


async def test_a_room_the_cache_does_not_hold_is_read_once_then_never_again(council, reads):
    kabinet = council.kabinet  # as after upgrading to the version with the cache
    land = (await registry.room_map(kabinet.store))[registry.commission("land")]
    async with kabinet.store.session() as s:
        await s.execute(delete(RoomStateEntry).where(RoomStateEntry.room_id == land))
        await s.execute(delete(RoomStateRoom).where(RoomStateRoom.room_id == land))
    report = await kabinet.apply_roster()
    assert reads == [land] and report.state_reads == 1 and report.writes == 0
    again = await kabinet.apply_roster()
    assert reads == [land] and again.writes == 0
    assert await cache_matches(kabinet)


async def test_a_cache_that_is_behind_costs_a_read_not_a_failure(council, reads):
    """The cache says a deputy is in a room the roster does not give them (it never heard they
    left): the removal is refused, the room read, and nothing is wrong."""
    kabinet = council.kabinet
    land = (await registry.room_map(kabinet.store))[registry.commission("land")]
    async with kabinet.store.session() as s:
        await roomstate.write_through(s, land, [{"type": "m.room.member", "state_key":
                                                 "@zvarych:localhost", "content": {
                                                     "membership": "join"}}], utcnow())
    report = await kabinet.apply_roster()
    assert reads == [land] and report.removals == 0 and report.problems == []
    assert await cache_matches(kabinet)


async def test_a_transaction_the_cache_cannot_take_leaves_its_rooms_to_be_read(
        council, reads, monkeypatch):
    """One event the cache cannot store must not hold the homeserver's stream: the transaction
    is answered, and the room is read in full by the next apply instead."""
    kabinet = council.kabinet
    lounge = (await registry.room_map(kabinet.store))[registry.lounge()]

    async def broken(*_args: Any, **_kw: Any) -> int:
        raise RuntimeError("the cache cannot take this")

    event = {"event_id": f"$test-{uuid.uuid4().hex}", "room_id": lounge, "type": "ua.test.state",
             "state_key": "", "sender": "@clerk:localhost", "content": {},
             "origin_server_ts": int(time.time() * 1000)}
    with monkeypatch.context() as m:
        m.setattr(roomstate, "apply_events", broken)
        async with aiohttp.ClientSession() as http, http.put(
                f"{council.web_url}/as/_matrix/app/v1/transactions/cache-{uuid.uuid4().hex}",
                json={"events": [event]},
                headers={"Authorization": f"Bearer {kabinet.registration.hs_token}"}) as resp:
            assert resp.status == 200
    assert await roomstate.load(kabinet.store, [lounge]) == {}
    report = await kabinet.apply_roster()
    assert reads == [lounge] and report.writes == 0
    assert lounge in await roomstate.load(kabinet.store, [lounge])


async def test_full_reads_every_room(council, reads):
    kabinet = council.kabinet
    report = await kabinet.apply_roster(full=True)
    rooms = await registry.room_map(kabinet.store)
    assert sorted(reads) == sorted(rooms.values()) and report.state_reads == len(rooms)
    assert report.writes == 0


def test_roster_apply_has_a_full_flag():
    args = parser([]).parse_args(["roster", "apply", "council.yaml", "--full"])
    assert args.full is True
    assert parser([]).parse_args(["roster", "apply", "council.yaml"]).full is False


async def _is(value: Any, expected: Any) -> bool:
    return await value == expected


async def test_a_store_and_homeserver_from_different_moments_are_read_again_then_paired(
        council, reads):
    """One of the two databases restored without the other holds another pairing mark: the next
    apply reads every room (the cache may describe another moment), pairs them again with a
    new mark, and the apply after it trusts the cache."""
    kabinet = council.kabinet
    rooms = await registry.room_map(kabinet.store)
    mark = await pairing.store_mark(kabinet.store)
    assert mark is not None and mark == await pairing.homeserver_mark(kabinet.hs)
    assert (await kabinet.apply_roster()).state_reads == 0 and reads == []

    async with kabinet.store.session() as s:  # what a store from an older backup holds
        await roomstate.set_pairing_mark(s, "from-an-older-backup")
    report = await kabinet.apply_roster()
    assert sorted(reads) == sorted(rooms.values()) and report.state_reads == len(rooms)
    assert report.changes == [] and report.writes == 0
    paired = await pairing.store_mark(kabinet.store)
    assert paired not in (mark, "from-an-older-backup")
    assert paired == await pairing.homeserver_mark(kabinet.hs)

    reads.clear()
    await kabinet.hs.bot.set_account_data(pairing.ACCOUNT_DATA, {"mark": "an-older-homeserver"})
    assert (await kabinet.apply_roster()).state_reads == len(rooms)  # the other way round
    reads.clear()
    again = await kabinet.apply_roster()
    assert reads == [] and again.state_reads == 0 and again.writes == 0
