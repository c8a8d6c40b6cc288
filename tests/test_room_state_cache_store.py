"""The room-state cache's store (council/roomstate.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from council import roomstate
from council.models import RoomStateSeen, utcnow
from council.store import Store


def ev(room: str, etype: str, key: str, content: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {"room_id": room, "type": etype, "state_key": key, "content": content,
            "event_id": event_id, "sender": "@someone:localhost"}


def by_key(state: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[dict[str, Any], str | None]]:
    return {(e["type"], e["state_key"]): (e["content"], e["event_id"]) for e in state}


async def feed(store: Store, events: list[Any]) -> int:
    async with store.session() as s:
        return await roomstate.apply_events(s, events)


async def test_the_stream_upserts_by_key_and_a_create_makes_the_room_complete(store: Store):
    assert await feed(store, [ev("!a:x", "m.room.topic", "", {"topic": "one"}, "$1")]) == 1
    assert await roomstate.load(store, ["!a:x"]) == {}  # not complete: no create seen, no read
    n = await feed(store, [
        ev("!b:x", "m.room.create", "", {"room_version": "12"}, "$2"),
        ev("!b:x", "m.room.member", "@u:x", {"membership": "invite"}, "$3"),
        {"room_id": "!b:x", "type": "m.room.message", "event_id": "$4", "content": {"body": "hi"}},
        ev("!b:x", "m.room.member", "@u:x", {"membership": "join"}, "$5"),  # same key, later
        ev("!a:x", "m.room.topic", "", {"topic": "two"}, "$6"),
    ])
    assert n == 4
    cached = await roomstate.load(store, ["!a:x", "!b:x", "!c:x"])
    assert set(cached) == {"!b:x"}
    assert by_key(cached["!b:x"]) == {
        ("m.room.create", ""): ({"room_version": "12"}, "$2"),
        ("m.room.member", "@u:x"): ({"membership": "join"}, "$5")}


async def test_a_redelivered_event_does_not_put_an_older_state_back(store: Store):
    old = ev("!r:x", "m.room.topic", "", {"topic": "old"}, "$old")
    await feed(store, [ev("!r:x", "m.room.create", "", {}, "$c"), old])
    await feed(store, [ev("!r:x", "m.room.topic", "", {"topic": "new"}, "$new")])
    assert await feed(store, [old]) == 0  # the homeserver sent it again, in a new transaction
    assert by_key((await roomstate.load(store, ["!r:x"]))["!r:x"])[("m.room.topic", "")] == (
        {"topic": "new"}, "$new")


async def test_a_full_read_keeps_what_the_stream_wrote_after_it_began(store: Store):
    room = "!f:x"
    await feed(store, [ev(room, "m.room.name", "", {"name": "cached long ago"}, "$n0")])
    began = utcnow()
    # While the read is under way, a transaction brings a newer topic.
    await feed(store, [ev(room, "m.room.topic", "", {"topic": "newer"}, "$t2")])
    read = [ev(room, "m.room.create", "", {"room_version": "12"}, "$c"),
            ev(room, "m.room.name", "", {"name": "as read"}, "$n1"),
            ev(room, "m.room.topic", "", {"topic": "older, as read"}, "$t1")]
    async with store.session() as s:
        await roomstate.replace(s, room, read, began)
    state = by_key((await roomstate.load(store, [room]))[room])
    assert state == {("m.room.create", ""): ({"room_version": "12"}, "$c"),
                     ("m.room.name", ""): ({"name": "as read"}, "$n1"),  # older row replaced
                     ("m.room.topic", ""): ({"topic": "newer"}, "$t2")}  # newer row kept


async def test_write_through_yields_to_the_stream_and_the_echo_writes_the_same(store: Store):
    room = "!w:x"
    async with store.session() as s:
        await roomstate.replace(s, room, [ev(room, "m.room.create", "", {}, "$c")], utcnow())
    began = utcnow()
    await feed(store, [ev(room, "m.room.member", "@u:x", {"membership": "join"}, "$j")])
    async with store.session() as s:  # the invite we sent, written through after the join came
        await roomstate.write_through(s, room, [
            {"type": "m.room.member", "state_key": "@u:x", "content": {"membership": "invite"}},
            {"type": "m.room.topic", "state_key": "", "content": {"topic": "t"}, "event_id": "$t"},
        ], began)
    state = by_key((await roomstate.load(store, [room]))[room])
    assert state[("m.room.member", "@u:x")] == ({"membership": "join"}, "$j")
    assert state[("m.room.topic", "")] == ({"topic": "t"}, "$t")
    await feed(store, [ev(room, "m.room.topic", "", {"topic": "t"}, "$t")])  # the echo
    assert by_key((await roomstate.load(store, [room]))[room])[("m.room.topic", "")] == (
        {"topic": "t"}, "$t")


async def test_many_rooms_load_at_once_and_incomplete_rooms_are_left_out(store: Store):
    rooms = [f"!m{i}:x" for i in range(1200)]  # more than one statement's worth
    await feed(store, [ev(r, "m.room.create", "", {"n": i}, f"$c{i}") for i, r in
                       enumerate(rooms[:60])])
    async with store.session() as s:
        for i, r in enumerate(rooms[60:]):
            await roomstate.replace(s, r, [ev(r, "m.room.create", "", {"n": i}, f"$r{i}"),
                                           ev(r, "m.room.member", "@u:x", {"membership": "join"},
                                              f"$m{i}")], utcnow())
        await roomstate.mark_incomplete(s, [rooms[0], rooms[700]])
    cached = await roomstate.load(store, rooms)
    assert len(cached) == 1198 and rooms[0] not in cached and rooms[700] not in cached
    assert len(cached[rooms[800]]) == 2 and len(cached[rooms[5]]) == 1


async def test_a_redacted_cached_event_makes_its_room_incomplete(store: Store):
    await feed(store, [ev("!d:x", "m.room.create", "", {}, "$c"),
                       ev("!d:x", "m.room.topic", "", {"topic": "t"}, "$t")])
    await feed(store, [{"room_id": "!d:x", "type": "m.room.redaction", "redacts": "$elsewhere",
                        "event_id": "$x1", "content": {}}])
    assert "!d:x" in await roomstate.load(store, ["!d:x"])  # not one of the room's state events
    await feed(store, [{"room_id": "!d:x", "type": "m.room.redaction", "event_id": "$x2",
                        "content": {"redacts": "$t"}}])
    assert await roomstate.load(store, ["!d:x"]) == {}


async def test_seen_ids_are_pruned_after_a_week(store: Store):
    await feed(store, [ev("!p:x", "m.room.topic", "", {}, "$p")])
    async with store.session() as s:
        await roomstate.prune_seen(s, timedelta(0))
        assert (await s.scalars(select(RoomStateSeen.event_id))).all() == []
