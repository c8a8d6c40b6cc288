"""The outbox reaches Matrix exactly once, even when the process died after sending (one message,
or a batch whose attempts were recorded together and whose results never were)."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
from mautrix.api import Method, Path
from mautrix.types import EventType, RoomID

from appservice.delivery import MARKER, Delivery
from council import outbox
from council import rooms as registry
from council.outbox import matrix


async def _messages_with_key(kabinet, room: str, key: str) -> list[dict]:
    resp = await kabinet.hs.request(Method.GET, Path.v3.rooms[room].messages,
                                    query={"dir": "b", "limit": "100"})
    return [e for e in resp["chunk"] if e["content"].get(MARKER) == key]


async def test_a_message_sent_just_before_a_crash_is_not_sent_again(settled):
    kabinet = settled.kabinet
    room = await kabinet.hs.resolve_alias("#kabinet_lounge:localhost")
    key = f"test:crash:{uuid.uuid4().hex}"
    content = {"msgtype": "m.notice", "body": "Нагадування: засідання о 10:00"}
    async with kabinet.store.session() as s:
        assert await outbox.enqueue(s, key, room, "m.room.message", content)
        assert not await outbox.enqueue(s, key, room, "m.room.message", content)  # idempotent
    await kabinet.delivery.stop()  # the running sender must not race the simulated crash
    try:
        [pending] = [m for m in await outbox.due(kabinet.store, limit=500) if m.key == key]
        # The crashed process: attempt recorded, event sent, but never marked as sent.
        await outbox.mark_attempt(kabinet.store, pending.id)
        first = await kabinet.hs.bot.send_message_event(
            RoomID(room), EventType.ROOM_MESSAGE, {**content, MARKER: key},
            txn_id=f"lost-{uuid.uuid4().hex}", ensure_joined=False)
        # The restarted sender delivers the backlog.
        pending_again = [m for m in await outbox.due(kabinet.store, limit=500) if m.key == key]
        assert pending_again and pending_again[0].attempts == 1
        await kabinet.delivery.drain_once()
    finally:
        kabinet.delivery.start()
    assert await outbox.sent_event_id(kabinet.store, key) == first
    assert len(await _messages_with_key(kabinet, room, key)) == 1


async def test_messages_for_one_room_arrive_in_the_order_they_were_written(settled):
    kabinet = settled.kabinet
    room = await kabinet.hs.resolve_alias("#kabinet_lounge:localhost")
    run = uuid.uuid4().hex
    keys = [f"test:order:{run}:{n}" for n in range(5)]
    async with kabinet.store.session() as s:
        for n, key in enumerate(keys):
            await outbox.enqueue(s, key, room, "m.room.message", {"msgtype": "m.notice",
                                                                  "body": f"#{n}"})
    kabinet.delivery.poke()
    for _ in range(50):
        if all([await outbox.sent_event_id(kabinet.store, k) for k in keys]):
            break
        await kabinet.delivery.drain_once()
    resp = await kabinet.hs.request(Method.GET, Path.v3.rooms[room].messages,
                                    query={"dir": "b", "limit": "50"})
    ours = [e["content"][MARKER] for e in reversed(resp["chunk"])
            if str(e["content"].get(MARKER, "")).startswith(f"test:order:{run}")]
    assert ours == keys


async def _new_room(kabinet) -> str:
    return str(await kabinet.hs.bot.create_room(name="Тестова кімната"))


async def _drain_until_sent(kabinet, keys: list[str], rounds: int = 50,
                            delivery: Delivery | None = None) -> dict[str, str]:
    for _ in range(rounds):
        sent = await outbox.sent_event_ids(kabinet.store, keys)
        if len(sent) == len(keys):
            return sent
        await (delivery or kabinet.delivery).drain_once()
        await asyncio.sleep(0.1)
    raise AssertionError(f"not delivered: {set(keys) - set(sent)}")


async def test_a_file_is_uploaded_once_and_a_deputy_downloads_the_same_bytes(settled, people,
                                                                             demo_roster):
    kabinet = settled.kabinet
    deputy = demo_roster.deputies[0]
    client = await people.login(deputy.id, deputy.password)
    room = await kabinet.hs.resolve_alias("#kabinet_lounge:localhost")
    data = "Проєкт рішення №1\n".encode() * 1000
    sha = kabinet.blobs.put(data)
    key = f"test:file:{uuid.uuid4().hex}"
    async with kabinet.store.session() as s:
        await outbox.enqueue(s, key, room, "m.room.message",
                             {"msgtype": "m.file", "body": "proekt.txt",
                              "info": {"mimetype": "text/plain", "size": len(data)}},
                             media=outbox.Media(sha, "proekt.txt", "text/plain"))
    event_id = (await _drain_until_sent(kabinet, [key]))[key]
    event = await client.room_get_event(room, event_id)
    mxc = event.event.source["content"]["url"]
    server, media_id = mxc.removeprefix("mxc://").split("/")
    async with aiohttp.ClientSession() as http, http.get(
            f"{kabinet.hs.url}/_matrix/client/v1/media/download/{server}/{media_id}",
            headers={"Authorization": f"Bearer {client.access_token}"}) as resp:
        assert resp.status == 200
        assert await resp.read() == data


async def test_a_reply_waits_for_the_message_it_refers_to_and_points_at_it(settled):
    kabinet = settled.kabinet
    lounge = await kabinet.hs.resolve_alias("#kabinet_lounge:localhost")
    run = uuid.uuid4().hex
    first, reply = f"test:ref:{run}:first", f"test:ref:{run}:reply"
    room_key = f"test-later:{run[:8]}"
    async with kabinet.store.session() as s:
        # The first message goes to a room that does not exist yet; the reply, elsewhere,
        # must wait for it.
        await outbox.enqueue(s, first, f"$room:{room_key}", "m.room.message",
                             {"msgtype": "m.notice", "body": "Версія 1"})
        await outbox.enqueue(s, reply, lounge, "m.room.message", {
            "msgtype": "m.notice", "body": "Див. версію 1",
            "ua.kabinet.see": f"$outbox:{first}"})
    await kabinet.delivery.drain_once()
    assert await outbox.sent_event_ids(kabinet.store, [first, reply]) == {}
    await registry.save_room(kabinet.store, room_key, "test", "x", await _new_room(kabinet))
    await asyncio.sleep(1.1)  # the deferral
    sent = await _drain_until_sent(kabinet, [first, reply])
    [delivered] = await _messages_with_key(kabinet, lounge, reply)
    assert delivered["content"]["ua.kabinet.see"] == sent[first]


async def test_a_message_for_a_room_not_created_yet_waits_for_it(settled):
    kabinet = settled.kabinet
    key = f"test:room:{uuid.uuid4().hex}"
    room_key = f"test-room:{uuid.uuid4().hex[:8]}"
    async with kabinet.store.session() as s:
        await outbox.enqueue(s, key, f"$room:{room_key}", "m.room.message",
                             {"msgtype": "m.notice", "body": "Кімнату створено"})
    await kabinet.delivery.drain_once()
    assert await outbox.sent_event_id(kabinet.store, key) is None
    room = await _new_room(kabinet)
    await registry.save_room(kabinet.store, room_key, "test", "x", room)
    await asyncio.sleep(1.1)  # the deferral
    sent = await _drain_until_sent(kabinet, [key])
    assert (await _messages_with_key(kabinet, room, key))[0]["event_id"] == sent[key]


class ProcessDied(BaseException):
    """The process stops (kill -9, a lost leader lock): nothing after this point runs."""


@pytest.mark.parametrize(("total", "crash_after"), [(6, 3), (40, 20)])
async def test_messages_attempted_and_partly_sent_before_a_crash_go_out_once_each_in_order(
        settled, monkeypatch, total: int, crash_after: int):
    """Delivery records a batch's attempts in one commit, sends the room's messages one after
    another and records their results in one commit later (with the attempts of the batch after:
    40 messages are batches of 16, 16 and 8). The process dies part-way, and the homeserver has
    lost its transaction cache too (a restart). Every message in the room is recorded as sent or
    attempted; the next process finds the unrecorded ones by their marker and sends the rest,
    each once, in order."""
    kabinet = settled.kabinet
    room = await _new_room(kabinet)
    run = uuid.uuid4().hex
    keys = [f"test:batch:{run}:{n}" for n in range(total)]
    async with kabinet.store.session() as s:
        for n, key in enumerate(keys):
            await outbox.enqueue(s, key, room, "m.room.message", {"msgtype": "m.notice",
                                                                  "body": f"#{n}"})

    class Crashing(Delivery):
        async def due(self) -> list[outbox.Pending]:
            return [m for m in await super().due() if m.room_id == room]

        async def send(self, msg: outbox.Pending) -> bool:
            if self.delivered == crash_after:
                raise ProcessDied
            return await super().send(msg)

    await kabinet.delivery.stop()  # the running sender must not race the simulated crash
    try:
        with monkeypatch.context() as patch:
            # Transaction ids the homeserver will not know again: as after its restart.
            patch.setattr(matrix, "txn_id_for", lambda key: f"lost-{run}-{key}")
            with pytest.raises(ProcessDied):
                await Crashing(kabinet.hs, kabinet.store, kabinet.blobs).drain_once()
        pending = {m.key: m for m in await outbox.due(kabinet.store, limit=500, per_room=100)
                   if m.room_id == room}
        recorded = await outbox.sent_event_ids(kabinet.store, keys)
        landed = {k: [e["event_id"] for e in await _messages_with_key(kabinet, room, k)]
                  for k in keys}
        assert [k for k in keys if landed[k]] == keys[:crash_after]
        for k in keys[:crash_after]:  # in the room: recorded with its event id, or attempted
            assert [recorded[k]] == landed[k] if k in recorded else pending[k].attempts == 1
        assert set(recorded) <= set(keys[:crash_after])
        if total <= 16:  # one batch: its attempts recorded before, its results never
            assert recorded == {} and [pending[k].attempts for k in keys] == [1] * total
        # The next process (or the next leader), with nothing in memory.
        sent = await _drain_until_sent(kabinet, keys, delivery=Delivery(kabinet.hs, kabinet.store,
                                                                        kabinet.blobs))
    finally:
        kabinet.delivery.start()
    assert [[sent[k]] for k in keys[:crash_after]] == [landed[k] for k in keys[:crash_after]]
    resp = await kabinet.hs.request(Method.GET, Path.v3.rooms[room].messages,
                                    query={"dir": "b", "limit": "100"})
    ours = [(e["content"][MARKER], e["event_id"]) for e in reversed(resp["chunk"])
            if str(e["content"].get(MARKER, "")).startswith(f"test:batch:{run}")]
    assert ours == [(k, sent[k]) for k in keys]  # each once, in order
