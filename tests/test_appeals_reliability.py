"""Nothing is lost, nothing is doubled: intake while the homeserver is down, and an appservice
killed in the middle of delivery. Its own installation, so Synapse can be stopped and started."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest
from mautrix.types import EventType, RoomID
from sqlalchemy import select, update

from appservice.appeals.rooms import AppealRooms
from appservice.delivery import MARKER, Delivery
from appservice.homeserver import Homeserver
from appservice.rooms import ensure_room
from council import appeals, outbox
from council import rooms as registry
from council.models import OutboxMessage
from council.roster import load_roster
from kabinet.features.appeals import Appeals
from kabinet.wiring import Running
from tests.appeals_support import appeal_fields, form, timeline
from tests.conftest import SMALL_ROSTER, start_installation
from tests.matrix_helpers import settle, wait_for
from tests.restart_support import all_delivered

ROSTER = load_roster(SMALL_ROSTER)
N = 50


@pytest.fixture(scope="module")
async def inst(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    running = await start_installation(tmp_path_factory.mktemp("appeals-rel"), SMALL_ROSTER,
                                       **{"appeals.rate_limit_requests": 10_000})
    await settle(running.kabinet, ROSTER)
    yield running
    await running.stop()


async def submit_many(inst: Running, n: int, tag: str) -> list[dict]:
    limit = asyncio.Semaphore(10)
    async with aiohttp.ClientSession() as http:
        async def one(i: int) -> dict:
            fields = appeal_fields(text=f"{tag} звернення № {i}", addressee_deputy=
                                   ROSTER.deputies[i % len(ROSTER.deputies)].id)
            async with limit, http.post(f"{inst.web_url}/api/v1/appeals",
                                        data=form(fields)) as resp:
                assert resp.status == 201, await resp.text()
                return await resp.json()
        return await asyncio.gather(*(one(i) for i in range(n)))


async def ids_of(inst: Running, created: list[dict]) -> list[int]:
    numbers = [c["number"] for c in created]
    async with inst.kabinet.store.session() as s:
        return list(await s.scalars(select(appeals.Appeal.id)
                                    .where(appeals.Appeal.number.in_(numbers))))


async def assert_exactly_once(inst: Running, ids: list[int]) -> None:
    kabinet = inst.kabinet
    rooms = await registry.room_map(kabinet.store)
    assert len({rooms[f"appeal:{i}"] for i in ids}) == len(ids)
    for i in ids:
        room = rooms[f"appeal:{i}"]
        # One room per appeal: the alias names the recorded room (a second room would have
        # failed to take the alias and would be reachable from nowhere).
        assert await kabinet.hs.resolve_alias(f"#kabinet_appeal_{i}:localhost") == room
        keys = Counter(e["content"].get(MARKER) for e in await timeline(kabinet, room)
                       if e["type"] == "m.room.message")
        assert keys[f"appeal:{i}:card"] == 1 and keys[f"appeal:{i}:text"] == 1, (i, keys)
        assert all(v == 1 for k, v in keys.items() if k), (i, keys)
    joined = await kabinet.hs.joined_rooms()
    kinds = Counter()
    for room in joined:
        try:
            content = await kabinet.hs.bot.get_state_event(room, "ua.kabinet.room")
        except Exception:
            continue
        if content.get("kind") == "appeal" and int(content.get("ref", 0)) in ids:
            kinds[content["ref"]] += 1
    assert len(kinds) == len(ids) and set(kinds.values()) == {1}


async def test_intake_keeps_answering_while_the_homeserver_is_down_and_all_arrive_once(inst):
    synapse = inst.kabinet.synapse
    assert synapse is not None
    await synapse.stop()
    try:
        created = await submit_many(inst, N, "outage")  # every one answered 201
        assert len({c["number"] for c in created}) == N
        ids = await ids_of(inst, created)
        await asyncio.sleep(2)  # the workers try, fail and keep the work
        assert not await all_delivered(inst, ids)
    finally:
        await synapse.start()
    await wait_for(lambda: all_delivered(inst, ids), timeout=240, interval=1,
                   what="50 appeal rooms after the outage")
    await assert_exactly_once(inst, ids)


async def test_an_appservice_killed_mid_delivery_and_restarted_delivers_each_appeal_once(inst):
    kabinet = inst.kabinet
    created = await submit_many(inst, N, "crash")
    ids = await ids_of(inst, created)

    async def some_rooms() -> bool:
        rooms = await registry.room_map(kabinet.store)
        return sum(f"appeal:{i}" in rooms for i in ids) >= 5
    await wait_for(some_rooms, timeout=120, interval=0.05, what="delivery under way")
    # Kill: the workers and the sender stop wherever they are, mid-request included.
    for task in inst.tasks:
        task.cancel()
    await asyncio.gather(*inst.tasks, return_exceptions=True)
    await kabinet.delivery.stop()
    assert not await all_delivered(inst, ids), "too late to kill: everything was delivered"

    # The worst moments, made certain: a room created but never recorded, and a message
    # sent but never marked as sent.
    rooms = await registry.room_map(kabinet.store)
    fresh = Homeserver(kabinet.hs.url, kabinet.hs.as_token, "kabinet", "localhost")
    await fresh.open()
    try:
        ctx = kabinet.feature(Appeals).rooms.ctx
        worker = AppealRooms(fresh, kabinet.store, ctx, lambda: kabinet.roster)
        orphan = next(i for i in ids if f"appeal:{i}" not in rooms)
        async with kabinet.store.session() as s:
            a = await appeals.by_id(s, orphan)
        await fresh.ghost(ctx.ghost(orphan)).ensure_registered()
        await ensure_room(fresh, worker._spec(orphan, a.number, "t", [ctx.ghost(orphan)]),
                          alias_prefix="kabinet_", room_version=worker.room_version)
        done = next(i for i in ids if f"appeal:{i}" in rooms)
        async with kabinet.store.session() as s:
            card = await s.scalar(select(OutboxMessage).where(
                OutboxMessage.key == f"appeal:{done}:card"))
        await asyncio.sleep(2)  # a request cut on our side still finishes on the homeserver's
        already = [e for e in await timeline(kabinet, rooms[f"appeal:{done}"])
                   if e["content"].get(MARKER) == card.key]
        if card.status == "sent":
            # Already out: the row forgets it, as if the process had died between the send
            # and marking it sent.
            async with kabinet.store.session() as s:
                await s.execute(update(OutboxMessage).where(OutboxMessage.id == card.id).values(
                    status="pending", event_id=None, sent_at=None))
        elif not already:  # else the kill itself cut a send that had reached the homeserver
            await fresh.bot.send_message_event(
                RoomID(rooms[f"appeal:{done}"]), EventType.ROOM_MESSAGE,
                {**card.content, MARKER: card.key}, txn_id="lost-before-commit", ensure_joined=False)
        await outbox.mark_attempt(kabinet.store, card.id)
        # Either way the step ran: the card is in the room once and its row is not sent.
        in_room = [e for e in await timeline(kabinet, rooms[f"appeal:{done}"])
                   if e["content"].get(MARKER) == card.key]
        assert len(in_room) == 1
        async with kabinet.store.session() as s:
            assert (await s.get(OutboxMessage, card.id)).status != "sent"

        # Restart: new clients (nothing remembered in memory), same store.
        delivery = Delivery(fresh, kabinet.store, kabinet.blobs)
        worker = AppealRooms(fresh, kabinet.store, ctx, lambda: kabinet.roster,
                             on_ready=delivery.poke)
        delivery.start()
        task = asyncio.create_task(worker.run())
        try:
            await wait_for(lambda: all_delivered(inst, ids), timeout=240, interval=1,
                           what="50 appeal rooms after the restart")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await delivery.stop()
        await assert_exactly_once(inst, ids)
    finally:
        await fresh.close()
