"""PostgreSQL restarting under load (issue #13): Kabinet recovers by itself, without losing an
appeal or a vote.

One installation on the small roster (the embedded Synapse on SQLite) over a PostgreSQL server
of the test's own (tests/pg_private.py; the machine's shared one is never touched). Ten clients
submit appeals through the JSON API in a loop, each with its Idempotency-Key, and submit a
refused one again (same key) until it is registered, as a careful client does. Meanwhile
PostgreSQL is stopped twice for a few seconds: `pg_ctl -m fast` (sessions ended cleanly), then
`-m immediate` (every process killed: a crash, recovered from the WAL). A registration and a
roll-call vote opened through the staff API before are in progress across both; one deputy
answers the vote while the database is down (the homeserver keeps the event and retries).

While it is down: every answer is a 503 with KB_STORE_UNAVAILABLE and Retry-After, never a 500
nor a 201; /healthz says the database is failing; the leader gives up its lock. After each
start, with no restart of Kabinet: appeals are registered again, /healthz is ok, the leader holds
its advisory lock again, delivery resumes (each is timed and printed). At the end every appeal
answered 201 is stored exactly once, under its number, its room made and delivered, the deputy
in it; the vote kept its answers, the one given during the outage included, and closes with
its result published."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from nio import AsyncClient
from sqlalchemy import text

from council import rooms as registry
from council.store import Store, unavailable
from kabinet.wiring import Running
from tests.conftest import SMALL_ROSTER, Deputies, free_port, start_installation
from tests.matrix_helpers import settle, wait_for
from tests.pg_private import PrivatePostgres, unusable
from tests.restart_support import (
    DEPUTIES,
    PASSWORDS,
    ROSTER,
    TOKEN,
    Load,
    Recovery,
    Sitting,
    all_delivered,
    at_least,
    bot_event,
    first_sent_after,
    health,
    healthy_leader,
    post,
    respond,
    responses,
    stored_once,
    vote_in_progress,
)

pytestmark = pytest.mark.skipif(unusable() is not None, reason=str(unusable()))

CLIENTS = 10
OUTAGE = 4.0  # seconds PostgreSQL stays down


async def restart(pg: PrivatePostgres, mode: str, load: Load, url: str, probe: Store,
                  took_over: int, while_down: Callable[[], Awaitable[None]] | None = None
                  ) -> Recovery:
    flowing = len(load.registered)
    await wait_for(lambda: len(load.registered) >= flowing + 10, timeout=120,
                   what="appeals registered before the restart")
    stopped = time.monotonic()
    await pg.stop(mode)
    gone = time.monotonic()
    await asyncio.sleep(OUTAGE / 2)
    status, body = await health(url)  # while it is down
    assert status == 503 and body.get("database") == "failing", body
    assert body["leader"]["leading"] is False, body  # its lock's session is gone: it stopped
    await _reads_refused(url, load.a_token())
    if while_down is not None:
        await while_down()
    await asyncio.sleep(OUTAGE / 2)
    assert load.refused_between(stopped, time.monotonic()), "no client met the outage"
    down = time.monotonic() - stopped
    assert load.first_201_after(gone + 0.5) is None, "a 201 while PostgreSQL was down"
    await pg.start()
    up, up_at = time.monotonic(), datetime.now(UTC)
    first_201 = await wait_for(lambda: load.first_201_after(up), timeout=60,
                               what="a registered appeal after the start")
    await wait_for(lambda: healthy_leader(url, took_over), timeout=60, interval=0.1,
                   what=f"/healthz ok and the lock re-taken after the {mode} restart")
    healthy = time.monotonic()
    sent = await wait_for(lambda: first_sent_after(probe, up_at), timeout=120, interval=0.2,
                          what=f"a message delivered after the {mode} restart")
    return Recovery(mode, down, len(load.refused_between(stopped, healthy)), first_201 - up,
                    healthy - up, (sent - up_at).total_seconds())


async def _reads_refused(url: str, token: str) -> None:
    """A citizen's status page and the API's status while the store is away: 503, Retry-After."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/appeals/{token}") as r:
            page = await r.text()
            assert (r.status, r.headers.get("Retry-After")) == (503, "5"), page[:300]
            assert "База даних зараз не відповідає" in page, page[:300]
        async with http.get(f"{url}/api/v1/appeals/{token}",
                            headers={"Accept-Language": "en"}) as r:
            body = await r.json()
            assert (r.status, r.headers.get("Retry-After")) == (503, "5"), body
            assert body == {"errcode": "KB_STORE_UNAVAILABLE", "retry_after": 5, "error":
                            "The database is not answering right now. Please try again shortly."}


# -- the test -----------------------------------------------------------------------------------


@pytest.fixture
async def pg() -> AsyncIterator[PrivatePostgres]:
    server = PrivatePostgres(free_port())
    try:
        await server.init()
        await server.start()
        admin = await asyncpg.connect(server.url().replace("+asyncpg", ""))
        await admin.execute("CREATE DATABASE kabinet")
        await admin.close()
        yield server
    finally:
        await server.destroy()


async def _error(store: Store, statement: str = "SELECT 1") -> BaseException | None:
    try:
        async with store.session() as s:
            await s.execute(text(statement))
    except Exception as exc:
        return exc
    return None


async def test_a_database_away_is_told_from_other_errors(pg: PrivatePostgres) -> None:
    """`council.store.unavailable`, which web.errors answers with a 503: true for what a stopped,
    crashed or starting server raises through the store, false for a statement's own error and
    for a connection error that did not come from the database driver; the engine's pool
    finds its way back by itself."""
    store = Store(pg.url("kabinet"))
    try:
        assert await _error(store) is None  # a pooled connection, soon to be cut
        division = await _error(store, "SELECT 1/0")
        assert division is not None and not unavailable(division)
        for mode in ("fast", "immediate"):
            cut: BaseException | None = None
            async with store.sessions() as s:  # a unit of work under way when the server goes
                await s.execute(text("SELECT 1"))
                await pg.stop(mode)
                try:
                    await s.execute(text("SELECT 2"))
                except Exception as exc:
                    cut = exc
            assert cut is not None and unavailable(cut), repr(cut)
            for _ in range(2):  # the pooled connection found dead, then a refused connect
                away = await _error(store)
                assert away is not None and unavailable(away), repr(away)
            await pg.start()
            assert await _error(store) is None
        # What a server starting up or shutting down answers a connect (the SQLSTATE says so).
        assert unavailable(asyncpg.CannotConnectNowError("the database system is starting up"))
        assert not unavailable(asyncpg.UniqueViolationError("duplicate key"))
        try:
            raise ConnectionRefusedError(111, "Connect call failed")  # as a homeserver call would
        except ConnectionRefusedError as exc:
            assert not unavailable(exc)
        assert not unavailable(RuntimeError("a bug"))
    finally:
        await store.close()


async def test_postgresql_restarting_under_load_loses_no_appeal_and_no_vote(
        pg: PrivatePostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    running = await start_installation(
        tmp_path / "var", SMALL_ROSTER, database_url=pg.url("kabinet"), staff_api_token=TOKEN,
        **{"appeals.rate_limit_requests": 1_000_000})
    probe = Store(pg.url("kabinet"))
    deputies = Deputies(running.kabinet.settings.homeserver.client_url)
    load = Load(running.web_url)
    try:
        await settle(running.kabinet, ROSTER)
        people = {who: await deputies.login(who, password) for who, password in PASSWORDS.items()}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            sitting = await vote_in_progress(running, http, people)
            clients = [asyncio.create_task(load.client(i, http)) for i in range(CLIENTS)]
            try:
                fast = await restart(pg, "fast", load, running.web_url, probe, took_over=1)
                crash = await restart(pg, "immediate", load, running.web_url, probe, took_over=2,
                                      while_down=partial(_answer_during_outage, people, sitting))
                await asyncio.sleep(3)  # the load goes on a little after the recovery
            finally:
                load.stop.set()
                await asyncio.wait_for(asyncio.gather(*clients), 120)
            for r in (fast, crash):
                print(f"\nPostgreSQL stop -m {r.mode}: down {r.down:.1f} s, {r.refused} answers "
                      f"503; after the start: first 201 in {r.first_201:.2f} s, /healthz ok and "
                      f"the leader lock re-taken in {r.healthy:.2f} s, first message delivered "
                      f"in {r.first_delivered:.2f} s")
            await wait_for(lambda: at_least(running, sitting.vote_id, 3), timeout=120,
                           what="the answer given while PostgreSQL was down")
            await _check_appeals(running, load, people["bondar"])
            await _close_and_check_the_vote(running, http, sitting)
        await _check_the_leader(running, pg)
        _check_the_log(caplog)
    finally:
        await deputies.close()
        await probe.close()
        await running.stop()


async def _answer_during_outage(people: dict[str, AsyncClient], sitting: Sitting) -> None:
    """The vote's third answer, from the fourth deputy, while PostgreSQL is down (the
    homeserver is up: it keeps the event and retries the appservice's transaction)."""
    await respond(people[DEPUTIES[3]], sitting.room_id, sitting.poll, "for")


async def _close_and_check_the_vote(running: Running, http: aiohttp.ClientSession,
                                    sitting: Sitting) -> None:
    url = f"{running.web_url}/api/v1/sittings/{sitting.id}"
    async with http.get(f"{url}/votes") as r:
        [vote] = (await r.json())["votes"]
    assert vote["status"] == "open", vote  # kept across both restarts
    await post(http, f"{url}/votes/current/close", status=202)
    published = await bot_event(running, sitting.room_id, {"result": sitting.number},
                                "the published result")
    async with http.get(f"{url}/votes") as r:
        [vote] = (await r.json())["votes"]
    assert vote["status"] == "closed" and vote["outcome"] == "adopted", vote
    results = {line["member_id"]: line["result"] for line in vote["roll_call"]}
    for who in (DEPUTIES[0], DEPUTIES[1], DEPUTIES[3]):
        assert results[who] == "for", results
    assert results[DEPUTIES[2]] != "for", results
    assert "ПРИЙНЯТО" in published["content"]["body"], published
    assert await responses(running, sitting.vote_id) == 3  # each answer once


async def _check_appeals(running: Running, load: Load, deputy: AsyncClient) -> None:
    # Every answer was a 201 or a clear 503; never a 500, never a connection the site dropped.
    statuses = Counter(a.status for a in load.answers)
    assert set(statuses) <= {201, 503}, [a for a in load.answers if a.status not in (201, 503)][:5]
    refused = [a for a in load.answers if a.status == 503]
    assert all(a.errcode == "KB_STORE_UNAVAILABLE" and a.retry_after == "5" for a in refused), \
        refused[:5]
    ids = await stored_once(running.kabinet.store, load)
    replayed = sum(a.replayed for a in load.answers)
    print(f"{len(ids)} appeals registered, each once; answers: {dict(statuses)}, of the 201s "
          f"{replayed} replayed (a commit made although its answer was a 503)")
    began = time.monotonic()
    await wait_for(lambda: all_delivered(running, ids), timeout=600, interval=1,
                   what=f"the rooms of {len(ids)} appeals delivered")
    rooms = await registry.room_map(running.kabinet.store)
    theirs = {rooms[f"appeal:{i}"] for i in ids}

    async def deputy_in_all() -> bool:
        return theirs <= set(getattr(await deputy.joined_rooms(), "rooms", []))
    await wait_for(deputy_in_all, timeout=180, interval=1, what="the deputy in every appeal room")
    print(f"every appeal room delivered and joined by the deputy "
          f"{time.monotonic() - began:.0f} s after the load stopped")


def _check_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """Said, not shouted: no 500 logged; the web's and the leader's lines about the outage once
    per outage at most, not per request or per try."""
    said = Counter(r.getMessage().split(" (")[0] for r in caplog.records)
    assert not [r for r in caplog.records if r.getMessage().startswith("unhandled error")]
    assert 1 <= said["the database does not answer"] <= 2, said
    assert 1 <= said["cannot ask PostgreSQL for the leader lock"] <= 2, said
    assert said["lost the leader lock"] == 2, said


async def _check_the_leader(running: Running, pg: PrivatePostgres) -> None:
    """The advisory lock is held again, by the leader's own session."""
    admin = await asyncpg.connect(pg.url("kabinet").replace("+asyncpg", ""))
    try:
        held = await admin.fetch(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted")
    finally:
        await admin.close()
    assert [r["application_name"] for r in held] == ["kabinet leader lock"], held
    status, body = await health(running.web_url)
    assert status == 200 and body["leader"]["leading"] and body["leader"]["took_over"] == 2, body
