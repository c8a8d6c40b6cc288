"""The store on SQLite and PostgreSQL: migrations, the inbox, the outbox, the registry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect, update

from council import inbox, outbox
from council import rooms as registry
from council.models import Base, CouncilAccount, FailedEvent, OutboxMessage, utcnow
from council.store import Store


async def test_migrations_create_every_table_and_can_run_twice(store: Store):
    await store.migrate()  # already at head: a no-op, not an error
    async with store.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    # Every table the models declare, and nothing the models no longer know.
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert {"as_events", "as_failed_events", "outbox", "appeals", "sittings", "mail_jobs"} <= tables


async def test_an_event_is_claimed_once(store: Store):
    async with store.session() as s:
        assert await inbox.claim_event(s, "$e1", "!r:x", "m.room.message")
    async with store.session() as s:
        assert not await inbox.claim_event(s, "$e1", "!r:x", "m.room.message")


async def test_a_claim_rolled_back_with_its_handler_can_be_handled_again(store: Store):
    with pytest.raises(RuntimeError):
        async with store.session() as s:
            await inbox.claim_event(s, "$e2", "!r:x", "m.room.message")
            raise RuntimeError("handler failed")
    async with store.session() as s:
        assert await inbox.claim_event(s, "$e2", "!r:x", "m.room.message")


def _raw(event_id: str) -> dict:
    return {"event_id": event_id, "room_id": "!r:x", "type": "m.room.message", "sender": "@a:x",
            "content": {"msgtype": "m.text", "body": "!ping"}}


async def test_a_failed_event_is_retried_with_backoff_then_parked(store: Store):
    async with store.session() as s:
        first = await inbox.record_failure(s, _raw("$f1"), "RuntimeError: boom")
    assert first == inbox.Failure(attempts=1, parked=False, first=True)
    assert await inbox.due_failures(store) == []  # the first retry waits its backoff
    assert await inbox.failure_counts(store) == {"waiting": 1, "parked": 0}
    async with store.session() as s:
        await s.execute(update(FailedEvent).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    [due] = await inbox.due_failures(store)
    assert due["event_id"] == "$f1" and due["content"]["body"] == "!ping"
    for attempt in range(2, inbox.MAX_ATTEMPTS + 1):
        async with store.session() as s:
            failure = await inbox.record_failure(s, _raw("$f1"), "RuntimeError: boom")
        assert failure.attempts == attempt and not failure.first
        assert failure.parked == (attempt == inbox.MAX_ATTEMPTS)
    assert await inbox.failure_counts(store) == {"waiting": 0, "parked": 1}
    async with store.session() as s:
        await s.execute(update(FailedEvent).values(next_attempt_at=utcnow() - timedelta(days=1)))
    assert await inbox.due_failures(store) == []  # parked: never tried again


async def test_a_failure_handled_later_is_forgotten_and_old_parked_ones_pruned(store: Store):
    async with store.session() as s:
        await inbox.record_failure(s, _raw("$f2"), "x")
        await inbox.record_failure(s, _raw("$f3"), "x")
        await s.execute(update(FailedEvent).where(FailedEvent.event_id == "$f3").values(
            status="parked", first_failed_at=utcnow() - timedelta(days=8)))
    async with store.session() as s:
        await inbox.forget_failure(s, "$f2")
    assert await inbox.prune(store) == 1
    assert await inbox.failure_counts(store) == {"waiting": 0, "parked": 0}


async def test_enqueueing_the_same_key_twice_stores_one_message(store: Store):
    async with store.session() as s:
        assert await outbox.enqueue(s, "k1", "!a:x", "m.room.message", {"body": "1"})
        assert not await outbox.enqueue(s, "k1", "!a:x", "m.room.message", {"body": "other"})
    assert await outbox.counts(store) == {"pending": 1}
    [msg] = await outbox.due(store)
    assert msg.content == {"body": "1"} and msg.txn_id == outbox.txn_id_for("k1")


async def test_a_waiting_message_holds_back_later_ones_in_the_same_room_only(store: Store):
    async with store.session() as s:
        for key, room in (("a1", "!a:x"), ("a2", "!a:x"), ("b1", "!b:x")):
            await outbox.enqueue(s, key, room, "m.room.message", {"body": key})
        await s.execute(update(OutboxMessage).where(OutboxMessage.key == "a1")
                        .values(next_attempt_at=utcnow() + timedelta(minutes=1)))
    assert [m.key for m in await outbox.due(store)] == ["b1"]


async def test_failures_back_off_and_permanent_ones_are_parked(store: Store):
    async with store.session() as s:
        await outbox.enqueue(s, "f1", "!a:x", "m.room.message", {})
    [msg] = await outbox.due(store)
    await outbox.mark_attempt(store, msg.id)
    await outbox.mark_failed(store, msg, "homeserver unreachable", permanent=False)
    assert await outbox.due(store) == []  # backing off
    assert await outbox.due(store, now=utcnow() + timedelta(minutes=6)) != []
    await outbox.mark_failed(store, msg, "403 M_FORBIDDEN", permanent=True)
    assert await outbox.counts(store) == {"failed": 1}


async def test_sent_messages_keep_their_event_id(store: Store):
    async with store.session() as s:
        await outbox.enqueue(s, "s1", "!a:x", "m.room.message", {})
    [msg] = await outbox.due(store)
    await outbox.mark_sent(store, msg.id, "$sent")
    assert await outbox.sent_event_id(store, "s1") == "$sent"
    assert await outbox.due(store) == []


async def test_the_registry_maps_keys_to_rooms_and_remembers_accounts(store: Store):
    await registry.save_room(store, "commission:budget", "commission", "budget", "!b:x")
    await registry.save_room(store, "commission:budget", "commission", "budget", "!b:x")
    assert await registry.room_map(store) == {"commission:budget": "!b:x"}
    assert await registry.rooms_by_kind(store, "commission") == {"budget": "!b:x"}
    async with store.session() as s:
        await registry.remember_accounts(s, [CouncilAccount(mxid="@a:x", roster_id="a",
                                                            role="deputy")])
    assert set(await registry.known_accounts(store)) == {"@a:x"}


async def test_the_store_answers_its_health_ping(store: Store):
    assert await store.ping()


async def test_old_handled_ids_are_pruned_and_recent_ones_kept(store: Store):
    from datetime import timedelta

    from council.models import HandledEvent

    async with store.session() as s:
        await inbox.claim_event(s, "$old", "!r:x", "m.room.message")
        await inbox.claim_event(s, "$new", "!r:x", "m.room.message")
        await s.execute(update(HandledEvent).where(HandledEvent.event_id == "$old")
                        .values(handled_at=utcnow() - timedelta(days=8)))
    assert await inbox.prune(store) == 1
    async with store.session() as s:
        assert await inbox.claim_event(s, "$old", "!r:x", "m.room.message")  # forgotten
        assert not await inbox.claim_event(s, "$new", "!r:x", "m.room.message")  # kept


async def test_a_round_takes_a_run_of_messages_per_room_in_order(store: Store):
    async with store.session() as s:
        for n in range(5):
            await outbox.enqueue(s, f"a{n}", "!a:x", "m.room.message", {})
        await outbox.enqueue(s, "b0", "!b:x", "m.room.message", {})
    batch = await outbox.due(store, per_room=3)
    assert [m.key for m in batch] == ["a0", "a1", "a2", "b0"]


async def test_moments_come_back_aware_in_utc_on_every_database(store: Store):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from council.models import HandledEvent

    kyiv = datetime(2026, 11, 26, 10, 30, tzinfo=ZoneInfo("Europe/Kyiv"))
    async with store.session() as s:
        s.add(HandledEvent(event_id="$aware", room_id="!r:x", event_type="m.room.message",
                           handled_at=kyiv))
    async with store.session() as s:
        back = await s.get(HandledEvent, "$aware")
    # SQLite keeps no zone: read back naive, this moment would be off by two hours or unusable.
    assert back is not None and back.handled_at.tzinfo is not None
    assert back.handled_at == kyiv and back.handled_at.utcoffset() == UTC.utcoffset(None)


async def test_a_hot_read_sees_every_commit_at_once_on_each_database(store: Store):
    """`read_one` (on SQLite: on the loop's thread, no snapshot kept between reads) answers
    like the pool and sees a change committed by another unit of work on the next read."""
    from sqlalchemy import bindparam, func, select

    from council.models import ManagedRoom

    statement = select(select(func.count()).select_from(ManagedRoom)
                       .where(ManagedRoom.kind == bindparam("kind")).scalar_subquery(),
                       select(func.max(ManagedRoom.key)).scalar_subquery())
    assert await store.read_one(statement, {"kind": "lounge"}) == (0, None)
    async with store.session() as s:
        s.add(ManagedRoom(key="lounge", kind="lounge", ref="council", room_id="!l:x"))
    assert await store.read_one(statement, {"kind": "lounge"}) == (1, "lounge")
    assert await store.read_one(statement, {"kind": "council"}) == (0, "lounge")


async def test_run_sync_is_one_unit_of_work_and_on_sqlite_one_hop(store: Store):
    """Store.run_sync (the intake's batch): committed when the function returns, nothing kept
    when it raises; on SQLite the whole function runs on the writer's thread (one hop, not one
    per statement through the event loop), on PostgreSQL through the async session."""
    import threading

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    loop_thread = threading.get_ident()
    threads: list[int] = []

    def add(session: Session, key: str, fail: bool = False) -> int:
        threads.append(threading.get_ident())
        session.add(OutboxMessage(**outbox.message_values(key, "!r:x", "m.room.message", {})))
        session.flush()
        threads.append(threading.get_ident())
        if fail:
            raise RuntimeError("the function failed")
        return len(session.scalars(select(OutboxMessage.id)).all())

    assert await store.run_sync(add, "kept") == 1
    with pytest.raises(RuntimeError):
        await store.run_sync(add, "dropped", fail=True)
    async with store.session() as s:
        keys = list(await s.scalars(select(OutboxMessage.key)))
    assert keys == ["kept"]
    if store.is_sqlite:
        assert set(threads) != {loop_thread} and len(set(threads)) == 1
    else:
        assert set(threads) == {loop_thread}  # the greenlet runs on the loop's thread
