"""The outbox as one mechanism (issue 8): one retry policy for Matrix messages and mail, one
failing row holds back nothing but itself, and a poke during a delivery round is never lost.
Against a stand-in homeserver, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update

from appservice.delivery import Delivery
from council import outbox
from council.files.blobs import BlobStore
from council.models import OutboxMessage, aware, utcnow
from council.outbox import mail, policy
from council.store import Store

T = TypeVar("T")


class FakeBot:
    """Takes every message event at once and remembers it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send_message_event(self, room_id: str, event_type: Any, content: dict[str, Any],
                                 **_: Any) -> str:
        self.sent.append((str(room_id), content))
        return f"$event{len(self.sent)}"


class FakeHomeserver:
    """What Delivery uses of appservice.homeserver.Homeserver, always reachable."""

    concurrency = 4
    bot_mxid = "@kabinet:localhost"

    def __init__(self) -> None:
        self.bot = FakeBot()

    async def limited(self, coro: Coroutine[Any, Any, T]) -> T:
        return await coro

    async def reachable(self) -> bool:
        return True


async def add_message(store: Store, room: str, body: str, **kwargs: Any) -> str:
    key = f"test:{uuid.uuid4().hex}"
    async with store.session() as s:
        await outbox.enqueue(s, key, room, "m.room.message", {"msgtype": "m.notice", "body": body},
                             **kwargs)
    return key


async def row(store: Store, key: str) -> OutboxMessage:
    async with store.session() as s:
        return await s.scalar(select(OutboxMessage).where(OutboxMessage.key == key))


async def test_a_poke_during_a_delivery_round_starts_the_next_round_at_once(store, monkeypatch):
    """The message is written (and the sender poked) while a round that found nothing is still
    running: it must go out at once, not after the 30 s idle timeout."""
    hs = FakeHomeserver()
    delivery = Delivery(hs, store, None, idle=30)  # type: ignore[arg-type]
    real_due = outbox.due
    in_round, go_on = asyncio.Event(), asyncio.Event()

    async def due_then_linger(*args: Any, **kwargs: Any) -> list[outbox.Pending]:
        batch = await real_due(*args, **kwargs)
        if not in_round.is_set():  # the first round: looked, found nothing, not over yet
            in_round.set()
            await go_on.wait()
        return batch

    monkeypatch.setattr(outbox, "due", due_then_linger)
    delivery.start()
    try:
        await asyncio.wait_for(in_round.wait(), 10)
        await add_message(store, "!room:localhost", "Написано під час обходу")
        delivery.poke()  # after the commit, as the writers do
        go_on.set()
        for _ in range(100):
            if hs.bot.sent:
                break
            await asyncio.sleep(0.05)
    finally:
        await delivery.stop()
    assert [c["body"] for _, c in hs.bot.sent] == ["Написано під час обходу"]


async def test_a_missing_file_fails_its_message_only_and_is_no_outage(store, tmp_path: Path):
    hs = FakeHomeserver()
    delivery = Delivery(hs, store, BlobStore(tmp_path / "blobs"))  # type: ignore[arg-type]
    broken = await add_message(store, "!a:localhost", "file", media=outbox.Media(
        "0" * 64, "proekt.pdf", "application/pdf"))
    fine = await add_message(store, "!b:localhost", "text")
    assert await delivery.drain_once()
    assert [c["body"] for _, c in hs.bot.sent] == ["text"]
    assert (await row(store, fine)).status == policy.SENT
    failed = await row(store, broken)
    assert failed.status == policy.PENDING and failed.attempts == 1
    assert "FileNotFoundError" in failed.last_error and aware(failed.next_attempt_at) > utcnow()
    assert not delivery._outage  # the homeserver was never the problem: nothing else paused


async def test_rooms_whose_queue_waits_never_hide_another_rooms_message(store):
    async with store.session() as s:
        for n in range(300):  # a sitting's drafts, all waiting for its room to be created
            await outbox.enqueue(s, f"waiting:{n}", "$room:sitting:1", "m.room.message", {"n": n})
        await s.execute(update(OutboxMessage).values(next_attempt_at=utcnow() + timedelta(seconds=5)))
        await outbox.enqueue(s, "lounge", "!lounge:localhost", "m.room.message", {"n": -1})
    assert [m.key for m in await outbox.due(store, limit=32, per_room=16)] == ["lounge"]


async def test_order_in_a_room_stops_at_its_first_waiting_message(store):
    async with store.session() as s:
        for key in ("a1", "a2", "a3", "a4", "b1", "b2"):
            await outbox.enqueue(s, key, f"!{key[0]}:x", "m.room.message", {})
        await s.execute(update(OutboxMessage).where(OutboxMessage.key == "a3")
                        .values(next_attempt_at=utcnow() + timedelta(minutes=1)))
    assert [m.key for m in await outbox.due(store, per_room=16)] == ["a1", "a2", "b1", "b2"]
    assert [m.key for m in await outbox.due(store, per_room=1)] == ["a1", "b1"]


async def _fail_both(store: Store, attempts_before: int) -> tuple[OutboxMessage, mail.MailJob]:
    """One failed attempt of a Matrix message and of a mail job that had `attempts_before`."""
    key = await add_message(store, "!a:x", "text")
    async with store.session() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.key == key)
                        .values(attempts=attempts_before))
        await mail.enqueue(s, key, "ivan@example.org", "Тема", "Текст")
        await s.execute(update(mail.MailJob).where(mail.MailJob.key == key)
                        .values(attempts=attempts_before))
    [msg] = [m for m in await outbox.due(store, limit=500) if m.key == key]
    [job] = [j for j in await mail.due(store, limit=500) if j.key == key]
    await outbox.mark_failed(store, msg, "500 M_UNKNOWN: boom", permanent=False)
    await mail.mark_failed(store, job, "SMTPServerDisconnected")
    async with store.session() as s:
        return (await s.scalar(select(OutboxMessage).where(OutboxMessage.key == key)),
                await s.scalar(select(mail.MailJob).where(mail.MailJob.key == key)))


@pytest.mark.parametrize(("attempts_before", "wait"), [(0, 1), (3, 8), (40, 300)])
async def test_both_channels_back_off_alike(store, attempts_before: int, wait: int):
    before = utcnow()
    message, job = await _fail_both(store, attempts_before)
    for r in (message, job):
        assert r.status == policy.PENDING
        delay = aware(r.next_attempt_at) - before
        assert timedelta(seconds=wait) <= delay < timedelta(seconds=wait + 5), delay


async def test_both_channels_park_a_row_after_about_a_day_of_failures(store):
    message, job = await _fail_both(store, policy.MAX_ATTEMPTS - 1)
    assert message.status == job.status == policy.PARKED
    assert await outbox.counts(store) == {"failed": 1} and await mail.counts(store) == {"failed": 1}
    # 1 s, 2 s … 5 min, then every 5 min: at least a day before a row is given up.
    total = sum((policy.backoff(n) for n in range(1, policy.MAX_ATTEMPTS)), timedelta())
    assert timedelta(hours=24) <= total < timedelta(hours=26)
