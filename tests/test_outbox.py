"""The outbox as one mechanism (issue 8): one retry policy for Matrix messages and mail, one
failing row holds back nothing but itself, and a poke during a delivery round is never lost.
Delivery's bookkeeping in batches (issue 13): one commit for a round's attempts, one per room for
its results. Against a stand-in homeserver, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from mautrix.errors import MUnknown
from sqlalchemy import select, update

from appservice.delivery import Delivery
from council import outbox
from council.files.blobs import BlobStore
from council.models import OutboxMessage, aware, utcnow
from council.outbox import mail, policy
from council.store import Store

T = TypeVar("T")


class FakeBot:
    """Takes every message event at once and remembers it; answers 500 to a body in `fail`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.fail: set[str] = set()
        self.uploads: list[bytes] = []

    async def send_message_event(self, room_id: str, event_type: Any, content: dict[str, Any],
                                 **_: Any) -> str:
        if content.get("body") in self.fail:
            raise MUnknown(500, "boom")
        self.sent.append((str(room_id), content))
        return f"$event{len(self.sent)}"

    async def upload_media(self, data: bytes, **_: Any) -> str:
        self.uploads.append(data)
        return f"mxc://localhost/file{len(self.uploads)}"


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

    async def request(self, *_: Any, **__: Any) -> dict[str, Any]:
        """GET …/messages for the marker lookup: what the bot sent, newest first."""
        return {"chunk": [{"event_id": f"$event{n}", "content": content} for n, (_, content)
                          in reversed(list(enumerate(self.bot.sent, 1)))]}


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


async def test_a_round_records_its_attempts_in_one_commit_and_each_rooms_results_in_one(store):
    """Two commits per message before (attempt, result); now one for the round's attempts and
    one per room, however many messages the rooms have."""
    hs = FakeHomeserver()
    delivery = Delivery(hs, store)  # type: ignore[arg-type]
    keys = [await add_message(store, room, f"{room} {n}") for n in range(5)
            for room in ("!a:localhost", "!b:localhost")]
    sessions = 0
    real_session = store.session

    def counted() -> Any:
        nonlocal sessions
        sessions += 1
        return real_session()

    store.session = counted  # type: ignore[method-assign]
    try:
        assert await delivery.drain_once()
    finally:
        store.session = real_session  # type: ignore[method-assign]
    assert sessions == 1 + 1 + 2  # due, the attempts, the results of each of the two rooms
    assert [(await row(store, k)).status for k in keys] == [policy.SENT] * 10
    assert [c["body"] for r, c in hs.bot.sent if r == "!a:localhost"] == [
        f"!a:localhost {n}" for n in range(5)]


async def test_a_reference_to_an_earlier_message_of_the_same_round_is_resolved_in_it(store):
    """A draft's file and the agenda edit that links it go in one round: the edit takes the
    file's event id from memory (it is not recorded yet when the edit is sent)."""
    hs = FakeHomeserver()
    delivery = Delivery(hs, store)  # type: ignore[arg-type]
    first = await add_message(store, "!a:localhost", "Проєкт рішення № 1")
    async with store.session() as s:
        await outbox.enqueue(s, "edit", "!a:localhost", "m.room.message",
                             {"msgtype": "m.notice", "body": "Порядок денний",
                              "ua.kabinet.file": f"$outbox:{first}"})
    assert await delivery.drain_once()
    assert [c["body"] for _, c in hs.bot.sent] == ["Проєкт рішення № 1", "Порядок денний"]
    assert hs.bot.sent[1][1]["ua.kabinet.file"] == (await row(store, first)).event_id == "$event1"
    assert (await row(store, "edit")).status == policy.SENT


async def test_a_room_stopped_by_a_failure_gives_its_untried_messages_their_attempts_back(store):
    """The batch's attempts are recorded before its sends; the messages after the failed one
    were never tried, so they are not counted (no lookup, no backoff), and other rooms go on."""
    hs = FakeHomeserver()
    delivery = Delivery(hs, store)  # type: ignore[arg-type]
    a = [await add_message(store, "!a:localhost", f"a{n}") for n in range(4)]
    b = await add_message(store, "!b:localhost", "b0")
    hs.bot.fail.add("a1")
    assert await delivery.drain_once()
    assert [c["body"] for _, c in hs.bot.sent] == ["a0", "b0"]
    sent, failed, *untried = [await row(store, k) for k in a]
    assert sent.status == policy.SENT and sent.attempts == 1 and sent.event_id == "$event1"
    assert failed.status == policy.PENDING and failed.attempts == 1
    assert "500 M_UNKNOWN: boom" in failed.last_error and aware(failed.next_attempt_at) > utcnow()
    assert [(r.status, r.attempts, r.last_error) for r in untried] == [(policy.PENDING, 0, None)] * 2
    assert (await row(store, b)).status == policy.SENT
    # Order holds: nothing of room a goes before a1 does.
    assert [m.key for m in await outbox.due(store, per_room=16)] == []
    hs.bot.fail.clear()
    assert not await delivery.drain_once()
    assert [c["body"] for _, c in hs.bot.sent] == ["a0", "b0"]


async def test_a_busy_room_goes_batch_after_batch_in_order_and_stops_at_its_first_failure(store):
    """40 messages in one room, each referring to the one before (as agenda edits refer to the
    drafts' files): batches of 16, the next one's attempts recorded while the one before is
    sent. A failure in the second batch stops the room; what was never tried, in that batch or
    in the third one already recorded, is not counted as attempted."""
    hs = FakeHomeserver()
    delivery = Delivery(hs, store)  # type: ignore[arg-type]
    keys = [f"chain:{n}" for n in range(40)]
    async with store.session() as s:
        for n, key in enumerate(keys):
            content = {"msgtype": "m.notice", "body": f"#{n}"}
            await outbox.enqueue(s, key, "!a:localhost", "m.room.message",
                                 {**content, "prev": f"$outbox:{keys[n - 1]}"} if n else content)
    hs.bot.fail.add("#25")
    assert await delivery.drain_once()
    assert [c["body"] for _, c in hs.bot.sent] == [f"#{n}" for n in range(25)]
    rows = [await row(store, k) for k in keys]
    assert all(r.status == policy.SENT and r.attempts == 1 for r in rows[:25])
    assert [c.get("prev") for _, c in hs.bot.sent[1:]] == [r.event_id for r in rows[:24]]
    assert (rows[25].status, rows[25].attempts) == (policy.PENDING, 1)
    assert [(r.status, r.attempts) for r in rows[26:]] == [(policy.PENDING, 0)] * 14
    hs.bot.fail.clear()
    async with store.session() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.key == keys[25])
                        .values(next_attempt_at=utcnow()))
    assert await delivery.drain_once()
    assert [c["body"] for _, c in hs.bot.sent] == [f"#{n}" for n in range(40)]
    assert [r.status for r in [await row(store, k) for k in keys]] == [policy.SENT] * 40


async def test_a_file_bound_for_several_rooms_goes_up_once_and_is_remembered_for_each(
        store, tmp_path: Path):
    """A draft goes to the sitting room and the commission's: one upload, the same mxc in both,
    and stored on a third message with the file whose room waits, so nothing uploads it again."""
    hs = FakeHomeserver()
    blobs = BlobStore(tmp_path / "blobs")
    delivery = Delivery(hs, store, blobs)  # type: ignore[arg-type]
    data = "Проєкт рішення".encode() * 1000
    media = outbox.Media(blobs.put(data), "proekt.pdf", "application/pdf")
    keys = [await add_message(store, room, "Проєкт", media=media)
            for room in ("!sitting:localhost", "!commission:localhost", "!later:localhost")]
    async with store.session() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.key == keys[2])
                        .values(next_attempt_at=utcnow() + timedelta(minutes=1)))
    assert await delivery.drain_once()
    assert hs.bot.uploads == [data]
    assert [c["url"] for _, c in hs.bot.sent] == ["mxc://localhost/file1"] * 2
    assert [(await row(store, k)).media_mxc for k in keys] == ["mxc://localhost/file1"] * 3


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
