"""The outbox reaches Matrix exactly once, even when the process died after sending."""

from __future__ import annotations

import uuid

from mautrix.api import Method, Path
from mautrix.types import EventType, RoomID

from appservice.delivery import MARKER
from council import outbox


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
