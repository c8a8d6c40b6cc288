"""The directory's store on SQLite and PostgreSQL: the pinned directory is posted and pinned
once, edited once per change of its text and never when nothing changed; `!dm` requests and
the direct chats that answer them, found by either person of the pair."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from council import directory, rooms
from council.models import OutboxMessage
from council.roster import parse_roster
from council.store import Store
from tests.test_directory_search import DATA, SERVER

LOUNGE = rooms.placeholder(rooms.lounge())


async def directory_rows(store: Store) -> list[OutboxMessage]:
    async with store.session() as s:
        rows = await s.scalars(select(OutboxMessage).where(OutboxMessage.key.like("directory:%"))
                               .order_by(OutboxMessage.id))
        return list(rows)


async def refresh(store: Store, data: dict[str, Any]) -> int | None:
    async with store.session() as s:
        return await directory.refresh_directory(s, parse_roster(data), SERVER)


async def test_the_directory_is_posted_and_pinned_once_then_edited_once_per_change(store: Store):
    assert await refresh(store, DATA) == 1
    first = await directory_rows(store)
    assert [(r.key, r.room_id, r.event_type) for r in first] == [
        ("directory:lounge", LOUNGE, "m.room.message"),
        ("directory:lounge:pin", LOUNGE, "m.room.pinned_events")]
    assert first[1].content == {"pinned": ["$outbox:directory:lounge"]} and first[1].state_key == ""

    assert await refresh(store, DATA) is None  # unchanged: nothing at all is written
    assert len(await directory_rows(store)) == 2

    moved = {**DATA, "deputies": [{**DATA["deputies"][0], "faction": "Рух за розвиток"},
                                  *DATA["deputies"][1:]]}
    assert await refresh(store, moved) == 2
    assert await refresh(store, moved) is None
    rows = await directory_rows(store)
    assert [r.key for r in rows] == ["directory:lounge", "directory:lounge:pin", "directory:lounge:v2"]
    edit = rows[2].content
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$outbox:directory:lounge"}
    assert "Фракція «Рух за розвиток» (3)" in edit["m.new_content"]["body"]

    assert await refresh(store, DATA) == 3  # and back: another change, another edit
    assert [r.key for r in await directory_rows(store)][-1] == "directory:lounge:v3"


async def test_a_direct_chat_is_found_by_either_person_and_a_request_is_answered_once(store: Store):
    a, b = "@tkachuk:localhost", "@melnyk-o:localhost"
    async with store.session() as s:
        assert await directory.request_direct(s, "$ask1", "!lounge:x", a, b, "Мельник Оксана")
        assert not await directory.request_direct(s, "$ask1", "!lounge:x", a, b, "Мельник Оксана")
    async with store.session() as s:
        [request] = await directory.pending_requests(s)
        assert await directory.latest_chat(s, a, b) is None
        chat = await directory.record_chat(s, a, b, 1, "!dm1:x")
        await directory.answer_request(s, request, chat, directory.Answer(created=True))
    async with store.session() as s:
        assert await directory.pending_requests(s) == []
        found = await directory.latest_chat(s, b, a)  # the other way round: the same pair
        assert found is not None and found.room_id == "!dm1:x"
        await directory.record_chat(s, b, a, 2, "!dm2:x")  # one of them left: a new generation
    async with store.session() as s:
        newest = await directory.latest_chat(s, a, b)
        assert newest is not None and (newest.generation, newest.room_id) == (2, "!dm2:x")
        reply = await s.scalar(select(OutboxMessage).where(OutboxMessage.key == "reply:$ask1"))
    assert reply is not None and reply.room_id == "!lounge:x"
    assert "https://matrix.to/#/!dm1:x" in reply.content["body"]
    assert reply.content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$ask1"}}
