"""Group commit of appeal intake (issue #13), on SQLite and PostgreSQL: appeals submitted at
once are registered in one transaction with consecutive numbers; a bad submission is refused
alone; a batch whose transaction fails tells every submitter so and stores nothing of it."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from council import appeals
from council.appeals import AppealEvent, AppealMessage, Idempotency, KeyReused, NewAppeal
from council.appeals.intake import Intake, IntakeStopped, Registered
from council.files.blobs import BlobStore
from council.law import deadlines
from council.models import OutboxMessage, utcnow
from council.outbox import mail as mailqueue
from council.roster import load_roster
from council.store import Store, unavailable
from tests.appeals_support import appeal_fields
from tests.conftest import DEMO_ROSTER
from web import appeals as web_appeals
from web.app import SiteInfo, create_app
from web.appeals import Limits
from web.security import RateLimiter

CTX = appeals.Context(server_name="localhost", ghost_prefix="kabinet_",
                      base_url="http://127.0.0.1:8080")


def sample(i: int = 0, **over: Any) -> NewAppeal:
    base = dict(name=f"Іваненко Іван {i}", residence="м. Тестове, вул. Перша, 1",
                email=f"ivan{i}@example.org", subject=f"Тема {i}", text=f"Текст звернення {i}.",
                addressee_kind="deputy", addressee_deputy="bondar")
    return NewAppeal(**{**base, **over})  # type: ignore[arg-type]


def key(name: str, request: str = "request") -> Idempotency:
    return Idempotency(f"{name:0>64}", f"{request:0>64}", f"token-{name}")


def numbers(first: int, last: int) -> list[str]:
    year = deadlines.local_date(utcnow(), CTX.tz).year
    return [appeals.format_number(year, n) for n in range(first, last + 1)]


@pytest.fixture
async def intake(store: Store) -> AsyncIterator[Intake]:
    batcher = Intake(store, CTX)
    await batcher.start()
    yield batcher
    await batcher.stop()


async def stored(store: Store) -> dict[str, int]:
    async with store.session() as s:
        return {t.__tablename__: await s.scalar(select(func.count()).select_from(t)) or 0
                for t in (appeals.Appeal, AppealMessage, AppealEvent, OutboxMessage,
                          mailqueue.MailJob, appeals.IntakeKey)}


def rows(n: int, keys: int = 0) -> dict[str, int]:
    """What n registered appeals leave: a text, an event, a card and a text for the room, a receipt."""
    return {"appeals": n, "appeal_messages": n, "appeal_events": n, "outbox": 2 * n,
            "mail_jobs": n, "intake_keys": keys}


async def test_fifty_concurrent_registrations_are_stored_with_unique_consecutive_numbers(
        store, intake):
    done = await asyncio.gather(*(intake.register(sample(i)) for i in range(50)))
    assert [d.appeal.subject for d in done] == [f"Тема {i}" for i in range(50)]  # each its own
    assert sorted(d.appeal.number for d in done) == numbers(1, 50)
    assert not any(d.replayed for d in done) and len({d.token for d in done}) == 50
    assert sum(intake.batches.values()) < 50  # group commit: fewer transactions than appeals
    assert sum(size * n for size, n in intake.batches.items()) == 50
    assert await stored(store) == rows(50)
    async with store.session() as s:
        for d in done:  # the token given back opens that appeal and no other
            assert (await appeals.by_token(s, d.token)).number == d.appeal.number
        by_id = (await s.scalars(select(appeals.Appeal.number).order_by(appeals.Appeal.id))).all()
    assert list(by_id) == numbers(1, 50)  # numbered in the order they were stored
    more = await asyncio.gather(*(intake.register(sample(i)) for i in range(3)))
    assert sorted(d.appeal.number for d in more) == numbers(51, 53)  # no gap after a batch


async def test_a_reused_key_in_a_batch_is_refused_alone_and_the_others_are_registered(
        store, intake):
    first = await intake.register(sample(0), key("k1", "first request"))
    results = await asyncio.gather(
        *(intake.register(sample(i)) for i in range(1, 6)),
        intake.register(sample(99, text="Зовсім інше звернення."), key("k1", "another request")),
        intake.register(sample(0), key("k1", "first request")),  # a retry of the first
        intake.register(sample(6), key("k2")),  # a double click: twins in one batch
        intake.register(sample(6), key("k2")),
        intake.register(sample(7), key("k2", "edited")),  # the same form, edited
        *(intake.register(sample(i)) for i in range(8, 12)),
        return_exceptions=True)
    assert Counter(intake.batches) == Counter({1: 1, 14: 1})  # the bad ones were in the batch
    assert isinstance(results[5], KeyReused) and isinstance(results[9], KeyReused)
    replay, twin_a, twin_b = results[6], results[7], results[8]
    assert isinstance(replay, Registered) and replay.replayed
    assert (replay.appeal.number, replay.token) == (first.appeal.number, first.token)
    assert isinstance(twin_a, Registered) and isinstance(twin_b, Registered)
    assert not twin_a.replayed and twin_b.replayed and twin_a.appeal.number == twin_b.appeal.number
    new = [r for i, r in enumerate(results) if i not in (5, 6, 8, 9)]
    assert all(isinstance(r, Registered) and not r.replayed for r in new)
    assert sorted(r.appeal.number for r in new) == numbers(2, 11)  # type: ignore[union-attr]
    assert await stored(store) == rows(11, keys=2)
    async with store.session() as s:
        names = set(await s.scalars(select(appeals.Appeal.name)))
    assert "Іваненко Іван 99" not in names and "Іваненко Іван 7" not in names


@asynccontextmanager
async def faulty(store: Store, name: str) -> AsyncIterator[None]:
    """A real constraint that an appeal from `name` breaks only at the commit: a deferred foreign
    key (SQLite) or a deferred constraint trigger (PostgreSQL)."""
    statements = {
        "sqlite": [
            "CREATE TABLE allowed (id INTEGER PRIMARY KEY)",
            "CREATE TABLE flagged (appeal_id INTEGER REFERENCES allowed(id) "
            "DEFERRABLE INITIALLY DEFERRED)",
            f"CREATE TRIGGER flag AFTER INSERT ON appeals WHEN NEW.name = '{name}' "
            "BEGIN INSERT INTO flagged VALUES (NEW.id); END"],
        "postgresql": [
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'check_violation'; END $$",
            "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON appeals DEFERRABLE INITIALLY "
            f"DEFERRED FOR EACH ROW WHEN (NEW.name = '{name}') EXECUTE FUNCTION refuse()"]}
    async with store.engine.begin() as conn:
        for sql in statements[store.engine.dialect.name]:
            await conn.execute(text(sql))
    yield


async def test_an_appeal_refused_at_the_commit_fails_alone_and_leaves_no_gap(store, intake):
    async with faulty(store, "Відмова"):
        results = await asyncio.gather(
            *(intake.register(sample(i)) for i in range(4)),
            intake.register(sample(4, name="Відмова")),
            *(intake.register(sample(i)) for i in range(5, 10)), return_exceptions=True)
    assert isinstance(results[4], IntegrityError)
    good = [r for i, r in enumerate(results) if i != 4]
    assert all(isinstance(r, Registered) for r in good), good
    # The batch of 10 was rolled back and its appeals registered again one by one.
    assert sorted(r.appeal.number for r in good) == numbers(1, 9)  # type: ignore[union-attr]
    assert await stored(store) == rows(9)


@asynccontextmanager
async def writers_held(store: Store) -> AsyncIterator[None]:
    """Another client holds the write lock (SQLite) or the year's counter row (PostgreSQL)."""
    if store.is_sqlite:
        conn = sqlite3.connect(make_url(store.url).database or "", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    conn = await asyncpg.connect(pg_dsn(store))
    tx = conn.transaction()
    await tx.start()
    await conn.execute("SELECT * FROM appeal_counters FOR UPDATE")
    try:
        yield
    finally:
        await tx.rollback()
        await conn.close()


def pg_dsn(store: Store) -> str:
    return make_url(store.url).set(drivername="postgresql").render_as_string(hide_password=False)


def short_busy_timeout(store: Store, ms: int) -> None:
    """SQLite: writers give up after `ms` instead of the store's 10 s (new connections, and the
    intake's writer at its next transaction)."""
    store.busy_timeout = ms / 1000


async def waiting_backend(store: Store) -> int:
    """PostgreSQL: the pid of the intake's connection, once it waits for the counter's row."""
    conn = await asyncpg.connect(pg_dsn(store))
    try:
        async with asyncio.timeout(10):
            while True:
                pid = await conn.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE '%INTO appeal_counters%'")
                if pid is not None:
                    return int(pid)
                await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def test_a_batch_whose_connection_fails_tells_every_submitter_and_stores_nothing(store):
    if store.is_sqlite:
        short_busy_timeout(store, 300)
        await store.engine.dispose()
    intake = Intake(store, CTX)
    await intake.start()
    try:
        first = await intake.register(sample(0))  # the year's counter row exists
        async with writers_held(store):
            pending = asyncio.gather(*(intake.register(sample(i)) for i in range(1, 6)),
                                     return_exceptions=True)
            if not store.is_sqlite:  # the database drops the intake's connection mid-batch
                admin = await asyncpg.connect(pg_dsn(store))
                await admin.fetchval("SELECT pg_terminate_backend($1)",
                                     await waiting_backend(store))
                await admin.close()
            results = await pending  # SQLite: "database is locked" once the timeout passes
        assert all(isinstance(r, DBAPIError) for r in results), results
        # a known condition, answered 503 with Retry-After by the web's error map (not a 500)
        assert all(unavailable(r) for r in results), results
        assert Counter(intake.batches) == Counter({1: 1})  # the failed batch was not retried
        assert await stored(store) == rows(1)
        after = await intake.register(sample(6))
        assert [first.appeal.number, after.appeal.number] == numbers(1, 2)  # no gap
    finally:
        await intake.stop()


async def test_a_refused_commit_tells_every_submitter_of_the_batch_and_stores_nothing(store):
    if store.is_sqlite:
        pytest.skip("SQLite refuses a commit only for a constraint (the test above)")
    async with store.engine.begin() as conn:
        await conn.execute(text(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'no space left on device'; END $$"))
        await conn.execute(text(
            "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON appeals DEFERRABLE INITIALLY "
            "DEFERRED FOR EACH ROW WHEN (NEW.name = 'Збій') EXECUTE FUNCTION refuse()"))
    intake = Intake(store, CTX)
    await intake.start()
    try:
        results = await asyncio.gather(
            *(intake.register(sample(i)) for i in range(3)), intake.register(sample(3, name="Збій")),
            return_exceptions=True)
        assert all(isinstance(r, DBAPIError) and not isinstance(r, IntegrityError)
                   for r in results), results
        assert await stored(store) == rows(0)
        done = await intake.register(sample(4))
        assert done.appeal.number == numbers(1, 1)[0]
    finally:
        await intake.stop()


async def test_a_batch_cut_off_before_its_commit_tells_nobody_it_was_registered(store):
    if store.is_sqlite:
        short_busy_timeout(store, 1000)
        await store.engine.dispose()
    intake = Intake(store, CTX)
    await intake.start()
    await intake.register(sample(0))
    async with writers_held(store):
        pending = asyncio.gather(*(intake.register(sample(i)) for i in range(1, 4)),
                                 return_exceptions=True)
        await asyncio.sleep(0.3)  # the batch waits for the lock
        await intake.stop(grace=0.1)  # the site stops: the batch is cancelled
        results = await pending
    assert all(isinstance(r, IntakeStopped) for r in results), results
    assert await stored(store) == rows(1)
    with pytest.raises(IntakeStopped):
        await intake.register(sample(5))


async def test_the_site_runs_the_batcher_from_start_to_stop(store: Store, tmp_path: Path):
    roster = load_roster(DEMO_ROSTER)
    app = create_app(SiteInfo("Тестова рада", "localhost", "http://127.0.0.1:1", "#c:localhost"),
                     roster, {})
    cfg = web_appeals.AppealsWeb(store, BlobStore(tmp_path / "blobs"), CTX, secrets.token_hex(16),
                                 Limits(), RateLimiter(10_000, 60))
    web_appeals.setup(app, cfg)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/api/v1/appeals"))
    deputy = roster.deputies[0].id
    async with aiohttp.ClientSession() as http:
        async def post(i: int) -> tuple[int, dict[str, Any]]:
            async with http.post(url, json=appeal_fields(subject=f"Тема {i}",
                                                         addressee_deputy=deputy)) as resp:
                return resp.status, await resp.json()
        answers = await asyncio.gather(*(post(i) for i in range(20)))
    await server.close()
    assert {status for status, _ in answers} == {201}
    assert sorted(body["number"] for _, body in answers) == numbers(1, 20)
    assert await stored(store) == rows(20)
    with pytest.raises(IntakeStopped):  # stopped with the site
        await cfg.intake.register(sample(0))
