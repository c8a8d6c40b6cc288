"""Several Kabinet processes for one council over one PostgreSQL store (docs/scaling-out.md):
every process serves the web site and the appservice endpoint, the leader alone does the
background work, and when the leader is killed another takes over with nothing sent twice.

Skipped (visibly, with the reason) when PostgreSQL is not reachable at KABINET_TEST_PG.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy import select

from council import rooms as registry
from council.models import OutboxMessage
from council.outbox import mail as mailqueue
from council.roster import load_roster
from council.store import Store
from council.worker import Worker
from kabinet.config import HomeserverConfig
from kabinet.features.sittings_demo import draft_pdf
from kabinet.launcher import prepare_embedded, register_user
from kabinet.leader import CHECK, CHECK_TIMEOUT, RETRY, SETTLE, Leadership, Lost
from kabinet.secrets import ensure_secrets
from tests.appeals_support import Mailbox, appeal_fields, submit
from tests.conftest import (
    PG_ADMIN_URL,
    REPO,
    SMALL_ROSTER,
    Deputies,
    _pg_available,
    free_port,
    pg_databases,
)
from tests.matrix_helpers import wait_for
from tests.scale_support import Process, all_done, counts, publish_draft, sent_at_least, timeline

ROSTER = load_roster(SMALL_ROSTER)
MARKER = "ua.kabinet.outbox"
DRAFTS, APPEALS, SITTINGS = 200, 200, 3
TOKEN = "scale-out-staff-" + uuid.uuid4().hex


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    reason = await _pg_available()
    if reason:
        pytest.skip(reason)
    async with pg_databases(1) as (url,):
        yield url


# -- the store and the lock, without a homeserver ------------------------------------------------

async def test_an_event_handed_to_two_processes_at_once_is_claimed_once(pg_url: str):
    from council import inbox

    one, two = Store(pg_url), Store(pg_url)
    await one.migrate()
    try:
        async with one.session() as first:
            assert await inbox.claim_event(first, "$both", "!r:x", "m.room.message")
            # The other process's claim waits for this transaction; it must not fail after it.
            other = asyncio.ensure_future(_claim(two, "$both"))
            await asyncio.sleep(0.5)
            assert not other.done()
        assert await other is False  # committed by the first: nothing claimed, nothing raised
        async with one.session() as first:
            assert await inbox.claim_event(first, "$undone", "!r:x", "m.room.message")
            other = asyncio.ensure_future(_claim(two, "$undone"))
            await asyncio.sleep(0.5)
            await first.rollback()  # the first handler failed: the event is the other's to handle
        assert await other is True
    finally:
        await one.close()
        await two.close()


async def _claim(store: Store, event_id: str) -> bool:
    from council import inbox

    async with store.session() as s:
        return await inbox.claim_event(s, event_id, "!r:x", "m.room.message")


async def test_processes_starting_together_migrate_one_after_the_other(pg_url: str):
    child = ("import asyncio, sys\nfrom council.store import Store\nasync def main():\n"
             "    s = Store(sys.argv[1])\n    await s.migrate()\n    await s.close()\n"
             "asyncio.run(main())")
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", child, pg_url, cwd=REPO,
                                                  stderr=asyncio.subprocess.PIPE)
             for _ in range(2)]
    for proc in procs:
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()[-2000:]


class Counted(Worker):
    """A real worker that counts its pokes."""

    def __init__(self) -> None:
        super().__init__(idle=3600)
        self.pokes = 0

    def poke(self) -> None:
        self.pokes += 1
        super().poke()

    async def round(self) -> bool:
        return False


async def test_the_leader_stops_at_once_when_its_lock_goes_and_a_follower_takes_over(pg_url: str):
    one, two = Store(pg_url), Store(pg_url)
    a, b = Leadership(one), Leadership(two)
    a_worker, b_worker = Counted(), Counted()
    a.relay([a_worker])
    b.relay([b_worker])
    stopped: list[float] = []

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append(time.monotonic())

    try:
        assert await a.try_lead() and not await b.try_lead()
        assert (await a.report())["leading"] and not (await b.report())["leading"]
        leading = asyncio.ensure_future(a.while_leading(work()))
        following = asyncio.ensure_future(b.follow())
        await asyncio.sleep(0.2)
        b_worker.poke()  # a follower's poke reaches the leader's worker (NOTIFY)
        await wait_for(lambda: a_worker.pokes == 1, timeout=5, what="the poke passed on")
        # PostgreSQL ends the leader's session (an administrator, a restart, a fail-over would).
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            pid = await admin.fetchval(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = $1)", pg_url.rsplit("/", 1)[1])
            cut = time.monotonic()
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        with pytest.raises(Lost):
            await leading
        assert stopped[0] - cut < CHECK + CHECK_TIMEOUT  # at once (its connection closed)
        await asyncio.wait_for(following, RETRY + 3)  # the follower leads now
        await b.settled()  # its loops would start now: never before the old leader could notice
        assert time.monotonic() - cut >= SETTLE
        assert b.leading and not a.leading
        assert await a.try_lead() is False  # the old leader follows
    finally:
        await a.release()
        await b.release()
        await one.close()
        await two.close()


async def test_on_sqlite_the_one_process_leads_without_a_lock(tmp_path: Path):
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'kabinet.db'}")
    alone = Leadership(store)
    assert await alone.try_lead() and alone.leading
    assert await alone.while_leading(asyncio.sleep(0, "done")) == "done"
    assert await alone.report() == {"leading": True, "alone": True}
    await alone.release()
    assert alone.leading
    await store.close()


# -- two real processes on one homeserver and one database ---------------------------------------

async def test_two_processes_deliver_everything_once_when_the_leader_is_killed(
        tmp_path: Path, pg_url: str):
    """The leader (`kabinet up`, started first) delivers; the homeserver's appservice URL is the
    other process's (`kabinet serve`). 200 drafts and 200 appeals are queued through both web
    sites, the leader is killed with SIGKILL halfway through delivery, the other takes over:
    every message is in its room exactly once, in order, as the secretariat sees it."""
    began = time.monotonic()
    figures: dict[str, float] = {}
    # The homeserver, through the project's launcher; its registration names B's endpoint.
    web_a, web_b = free_port(), free_port()
    hs_dir = tmp_path / "homeserver"
    synapse, _ = prepare_embedded(
        hs_dir, HomeserverConfig(port=free_port(), bcrypt_rounds=4), as_id="kabinet",
        as_url=f"http://127.0.0.1:{web_b}/as", bot_localpart="kabinet", ghost_prefix="kabinet_",
        alias_prefix="kabinet_")
    box = Mailbox()
    box.start()
    store = Store(pg_url)
    a = b = None
    try:
        await synapse.start()
        secret = ensure_secrets(hs_dir)["registration_shared_secret"]
        async with aiohttp.ClientSession() as http:
            for person in (*ROSTER.deputies, *ROSTER.secretariat):
                await register_user(synapse.url, secret, person.id, person.password or "",
                                    person.name, http=http)
        figures["homeserver (s)"] = time.monotonic() - began
        data_dir = tmp_path / "kabinet"  # one data dir for both: the file store and the secrets
        data_dir.mkdir()
        config = data_dir.parent / "kabinet.yaml"
        config.write_text(
            f"staff_api_token: {TOKEN}\nlog_level: INFO\n"
            f"appeals: {{rate_limit_requests: 100000}}\n"
            f"mail: {{host: 127.0.0.1, port: {box.port}, tls: none, from: rada@example.org}}\n",
            encoding="utf-8")
        common = ["--config", str(config), "--data-dir", str(data_dir), "--roster",
                  str(SMALL_ROSTER), "--homeserver-url", synapse.url, "--registration",
                  str(hs_dir / "appservice-registration.yaml"), "--database-url", pg_url]
        a = Process("A (kabinet up)", ["up", *common, "--web-port", str(web_a)],
                    tmp_path / "a.log", web_a)
        b = Process("B (kabinet serve)", ["serve", *common, "--web-port", str(web_b)],
                    tmp_path / "b.log", web_b)
        await a.start()
        await wait_for(a.ready, timeout=120, interval=0.5, what="A ready")
        assert await a.leading()
        await b.start()
        await wait_for(b.ready, timeout=120, interval=0.5, what="B ready")
        assert not await b.leading()
        figures["both started (s)"] = time.monotonic() - began

        # Queue: drafts one after another per sitting (their numbers are their order), appeals
        # eight at a time; each request to A or B in turn.
        procs = (a, b)
        pdf = draft_pdf("1", "Про питання", "Виконком", ["Текст проєкту рішення."], pages=1)
        queued = time.monotonic()
        async with aiohttp.ClientSession() as http:
            sittings = []
            for i in range(SITTINGS):
                body = {"kind": "plenary", "number": str(40 + i), "title": f"Сесія {i + 1}",
                        "place": "Сесійна зала", "starts_at": "2030-03-01T10:00:00"}
                async with http.post(f"{procs[i % 2].url}/api/v1/sittings", json=body,
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                    assert r.status == 201, await r.text()
                    sittings.append((await r.json())["id"])
            per_sitting = [len(range(i, DRAFTS, SITTINGS)) for i in range(SITTINGS)]  # 67, 67, 66

            async def drafts(sid: int, count: int) -> None:
                for number in range(1, count + 1):
                    await publish_draft(procs[number % 2], http, sid, number, pdf, TOKEN)

            gate = asyncio.Semaphore(8)

            async def appeal(i: int) -> None:
                async with gate:
                    await submit(procs[i % 2], appeal_fields(email=f"citizen{i}@example.org",
                                                             subject=f"Звернення {i}"))

            await asyncio.gather(*(drafts(sid, nums) for sid, nums in zip(sittings, per_sitting,
                                                                          strict=True)),
                                 *(appeal(i) for i in range(APPEALS)))
        figures["queueing (s)"] = time.monotonic() - queued
        total = sum((await counts(store)).values())

        # Kill the leader halfway through delivery.
        await wait_for(lambda: sent_at_least(store, total // 3), timeout=180, interval=0.1,
                       what="a third delivered")
        sent_at_kill = (await counts(store)).get("sent", 0)
        assert sent_at_kill < total, "delivery was over before the kill: raise DRAFTS/APPEALS"
        assert a.proc is not None
        a.proc.kill()
        killed = time.monotonic()
        await a.proc.wait()
        await wait_for(b.leading, timeout=60, interval=0.1, what="B took over")
        figures["take-over: lock (s)"] = time.monotonic() - killed
        await wait_for(lambda: sent_at_least(store, sent_at_kill + 1), timeout=60, interval=0.1,
                       what="delivery resumed")
        figures["take-over: next message (s)"] = time.monotonic() - killed
        await wait_for(lambda: all_done(store), timeout=240, interval=0.5, what="all delivered")
        await asyncio.sleep(2)  # a mail's outcome is told in its appeal's room after it is sent
        await wait_for(lambda: all_done(store), timeout=60, interval=0.5, what="all delivered")
        done = time.monotonic()
        total = sum((await counts(store)).values())
        figures.update({"messages": total, "sent by A": sent_at_kill,
                        "A's rate (msg/s)": sent_at_kill / (killed - queued),
                        "B's rate (msg/s)": (total - sent_at_kill) / (done - killed),
                        "all delivered after the kill (s)": done - killed})
        print("\nscale-out figures:", {k: round(v, 1) for k, v in figures.items()}, flush=True)
        assert figures["take-over: lock (s)"] < RETRY + 3
        b_leader = (await b.health() or {}).get("leader", {})
        assert b_leader.get("took_over") == 1 and "took over as the leader" in b.log.read_text()

        await _check_rooms(store, synapse.url, DRAFTS, APPEALS)
        await _check_mail(store, box)
    except BaseException:
        for p in (a, b):
            if p is not None:
                print(f"--- {p.name}, last lines:\n{p.tail()}", file=sys.stderr)
        raise
    finally:
        for p in (a, b):
            if p is not None:
                await p.stop()
        await store.close()
        await synapse.stop()
        box.stop()


async def _check_rooms(store: Store, homeserver: str, drafts: int, appeals: int) -> None:
    """The secretariat's client reads every room the outbox wrote to that it is in (every
    sitting and appeal room): each message's marker once, in the outbox's order; each
    sitting's drafts in their numbers' order."""
    async with store.session() as s:
        rows = (await s.execute(
            select(OutboxMessage.key, OutboxMessage.room_id, OutboxMessage.event_id)
            .where(OutboxMessage.state_key.is_(None)).order_by(OutboxMessage.id))).all()
    rooms = await registry.room_map(store)
    expected: dict[str, list[tuple[str, str]]] = {}
    for key, room, event_id in rows:
        real = rooms[room.removeprefix("$room:")] if room.startswith("$room:") else room
        expected.setdefault(real, []).append((key, event_id))
    sittings = await registry.rooms_by_kind(store, "sitting")
    appeal_rooms = await registry.rooms_by_kind(store, "appeal")
    assert len(sittings) == SITTINGS and len(appeal_rooms) == appeals
    people = Deputies(homeserver)
    try:
        clerk = await people.login("clerk", ROSTER.secretariat[0].password or "")

        async def joined() -> set[str]:
            return set((await clerk.joined_rooms()).rooms)  # type: ignore[union-attr]

        async def in_all() -> bool:
            return {*sittings.values(), *appeal_rooms.values()} <= await joined()
        await wait_for(in_all, timeout=60, what="the secretariat in every sitting and appeal room")
        draft_numbers = 0
        mine = await joined()
        for room_id, messages in expected.items():
            if room_id not in mine:
                continue
            events = [e for e in await timeline(clerk, room_id) if isinstance(e.get("content"), dict)]
            seen = [(e["content"][MARKER], e["event_id"]) for e in events if MARKER in e["content"]]
            assert seen == messages, f"{room_id}: {len(seen)} events for {len(messages)} messages"
            if room_id in sittings.values():
                numbers = [int(e["content"]["ua.kabinet.draft"]["number"]) for e in events
                           if "ua.kabinet.draft" in e["content"]]
                assert numbers == sorted(numbers) == list(range(1, len(numbers) + 1))
                draft_numbers += len(numbers)
        assert draft_numbers == drafts
    finally:
        await people.close()


async def _check_mail(store: Store, box: Mailbox) -> None:
    """Every receipt went out; a second copy only of a job that was on the wire at the kill
    (mail has no transaction id: docs/scaling-out.md)."""
    async with store.session() as s:
        jobs = (await s.execute(select(mailqueue.MailJob.to_addr, mailqueue.MailJob.attempts)
                                )).all()
    copies = {to: len(box.to(to)) for to, _ in jobs}
    assert all(n >= 1 for n in copies.values())
    twice = [(to, attempts) for to, attempts in jobs if copies[to] > 1]
    assert len(twice) <= 1 and all(attempts >= 2 for _, attempts in twice), twice
