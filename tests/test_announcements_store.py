"""Announcements in the store, on SQLite and PostgreSQL: a post and its outbox rows, pins kept
whole, expiry (edited, unpinned, once), a command handled twice, and the inputs."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from council import announcements as domain
from council import outbox
from council.models import OutboxMessage, utcnow
from council.store import Store

TZ = ZoneInfo("Europe/Kyiv")
CLERK = "@clerk:localhost"
ROOM = "$room:announcements"


async def rows(store: Store) -> list[OutboxMessage]:
    async with store.session() as s:
        return list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_an_announcement_is_posted_into_the_announcements_room(store: Store) -> None:
    async with store.session() as s:
        a = await domain.post(s, domain.NewAnnouncement(text="Завтра прийом громадян"), CLERK,
                              "desk", TZ)
    [msg] = await rows(store)
    assert (msg.key, msg.room_id, msg.event_type) == (f"announcement:{a.id}", ROOM, "m.room.message")
    assert "Завтра прийом громадян" in msg.content["body"] and msg.state_key is None
    assert msg.content[domain.ANNOUNCEMENT_KEY] == {"id": a.id, "pinned": False, "expires": None}


async def test_pins_are_the_whole_list_and_expiry_edits_and_unpins_once(store: Store) -> None:
    now = utcnow()
    async with store.session() as s:
        first = await domain.post(s, domain.NewAnnouncement(
            text="Сесія переноситься", pinned=True, expires_at=now + timedelta(hours=1)), CLERK, "desk", TZ)
        second = await domain.post(s, domain.NewAnnouncement(text="Графік прийому", pinned=True),
                                   CLERK, "matrix", TZ)
    pins = [m for m in await rows(store) if m.event_type == "m.room.pinned_events"]
    assert [p.state_key for p in pins] == ["", ""]
    assert pins[-1].content == {"pinned": [f"{outbox.EVENT_REF}announcement:{second.id}",
                                           f"{outbox.EVENT_REF}announcement:{first.id}"]}

    async with store.session() as s:
        assert await domain.expire_due(s, TZ, now + timedelta(minutes=30)) == 0
    async with store.session() as s:
        assert await domain.expire_due(s, TZ, now + timedelta(hours=2)) == 1
    async with store.session() as s:
        assert await domain.expire_due(s, TZ, now + timedelta(hours=3)) == 0  # once
        assert await domain.pinned_ids(s) == [second.id]
    after = await rows(store)
    edit = next(m for m in after if m.key == f"announcement:{first.id}:expired")
    assert edit.content["m.relates_to"] == {"rel_type": "m.replace",
                                            "event_id": f"{outbox.EVENT_REF}announcement:{first.id}"}
    assert "минув" in edit.content["m.new_content"]["body"]
    assert after[-1].event_type == "m.room.pinned_events"
    assert after[-1].content == {"pinned": [f"{outbox.EVENT_REF}announcement:{second.id}"]}


async def test_a_command_handled_twice_posts_once(store: Store) -> None:
    spec = domain.NewAnnouncement(text="Увага: зміна місця засідання")
    async with store.session() as s:
        a = await domain.post(s, spec, CLERK, "matrix", TZ, command_event_id="$cmd1")
    async with store.session() as s:
        b = await domain.post(s, spec, CLERK, "matrix", TZ, command_event_id="$cmd1")
    assert a.id == b.id and len(await rows(store)) == 1


async def test_an_expiry_in_the_past_or_beyond_a_year_is_refused(store: Store) -> None:
    now = utcnow()
    for when, code in ((now - timedelta(minutes=1), "KB_EXPIRY_PAST"),
                       (now + timedelta(days=400), "KB_EXPIRY_FAR")):
        with pytest.raises(domain.AnnouncementError) as refused:
            async with store.session() as s:
                await domain.post(s, domain.NewAnnouncement(text="x", pinned=True, expires_at=when),
                                  CLERK, "desk", TZ)
        assert refused.value.code == code
    assert await rows(store) == []


def test_terms_and_inputs() -> None:
    assert domain.term("7d") == timedelta(days=7) and domain.term("12h") == timedelta(hours=12)
    assert domain.term("3д") == timedelta(days=3) and domain.term("5г") == timedelta(hours=5)
    assert domain.term("²d") is None and domain.term("week") is None and domain.term("7") is None
    with pytest.raises(ValueError):
        domain.NewAnnouncement(text="   ")
    with pytest.raises(ValueError):
        domain.NewAnnouncement(text="x" * (domain.MAX_TEXT + 1))


def test_an_english_council_announces_in_english() -> None:
    from datetime import datetime

    from council import language

    until = datetime(2026, 12, 1, 12, 0, tzinfo=TZ)
    language.use("en")
    try:
        assert domain.messages.text("Office hours moved", pinned=True, expires_at=until, tz=TZ) == (
            "📢 Announcement (pinned)\nOffice hours moved\nValid until 01.12.2026 12:00")
        with pytest.raises(domain.AnnouncementError) as refused:
            domain.check_expiry(until, until)
        assert str(refused.value) == "the expiry is in the past"
    finally:
        language.use("uk")
    assert refused.value.text() == "строк дії вже минув" and refused.value.code == "KB_EXPIRY_PAST"
    assert domain.messages.text("Прийом", pinned=False, expires_at=None, tz=TZ, expired=True) == (
        "📢 Оголошення (строк дії минув)\nПрийом")
