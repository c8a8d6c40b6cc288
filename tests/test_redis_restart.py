"""Redis restarting under load (issue #13): Kabinet and the embedded Synapse with workers
(docs/synapse-workers.md) recover by themselves, without losing or doubling an appeal.

Kabinet with `homeserver.workers` on a fresh PostgreSQL database, its Synapse replicating through
a Redis of the test's own (tests/redis_private.py; the machine's shared one is never touched).
Citizens' clients submit appeals through the JSON API in a loop (tests/restart_support.Load, each
appeal again with its Idempotency-Key until it is registered). Meanwhile Redis is stopped twice
for a few seconds and started again, empty, on the same port: SIGTERM (it closes its clients),
then SIGKILL (gone at once). A draft is published through the staff API during each outage and
another one right after.

While Redis is down: Kabinet's web answers every appeal (its store is PostgreSQL), never a 500.
After each start: every Synapse process is back on Redis, the same processes (or ones the
launcher restarted), and the drafts reach a deputy's client (times printed). At the end every
appeal answered 201 is stored once, its room made, the deputy in it, its opening message there
exactly once (the outbox's event ids, read through the deputy's matrix-nio client)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from nio import AsyncClient, RoomMessagesResponse
from sqlalchemy import func, select

from council import appeals
from council import rooms as registry
from council.models import OutboxMessage
from council.store import Store
from kabinet.synapse_workers import APPSERVICE_SENDER, EVENT_PERSISTER
from kabinet.wiring import Running
from tests.conftest import Deputies, _pg_available, free_port
from tests.matrix_helpers import settle, wait_for
from tests.redis_private import PrivateRedis, unusable
from tests.restart_support import PASSWORDS, Load, all_delivered, health, stored_once
from tests.test_synapse_workers import (
    ROSTER,
    TOKEN,
    Topology,
    draft_events,
    http_get,
    publish_draft,
    synapse_db,
    workers_of,
    workers_topology,
)

pytestmark = pytest.mark.skipif(unusable() is not None, reason=str(unusable()))

CLIENTS = 2  # about one appeal a second: each is a room of its own, on a 2-core machine
OUTAGE = 5.0  # seconds Redis stays down
DEPUTY = "bondar"  # every appeal of the load is addressed to him (appeal_fields)


@dataclass
class Round:
    mode: str
    down: float  # seconds Redis was away
    registered_while_down: int  # appeals answered 201 while it was away
    health_while_down: tuple[int, dict]
    reconnected: float  # seconds after the start until every process is subscribed again
    # outbox rows sent a second: 15 s before the stop, during the outage, 15 s once reconnected
    rates: tuple[float, float, float]
    room_rates: tuple[float, float, float]  # appeal rooms made a second: the same
    backlog: tuple[int, int]  # outbox rows waiting when Redis stopped, when it started
    first_sent: float  # seconds after the start until an outbox row is sent
    first_room: float  # seconds after the start until an appeal room is made
    drained: float  # seconds after the start until the outage's backlog is gone
    draft_during: float  # the draft published during the outage: seen by the deputy, after start
    draft_after: float  # the draft published once Redis is back: seen, after its publication
    appeal_after: float  # the first appeal registered after the start: its room joined
    restarted: list[str]  # Synapse processes the launcher restarted


@pytest.fixture
async def redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(free_port())
    try:
        await server.start()
        yield server
    finally:
        await server.destroy()


@pytest.fixture
async def topology(redis: PrivateRedis, tmp_path: Path) -> AsyncIterator[Topology]:
    reason = await _pg_available()
    if reason:
        pytest.skip(reason)
    async with workers_topology(tmp_path / "var", **{
            "homeserver.workers.redis_port": redis.port,
            "appeals.rate_limit_requests": 1_000_000}) as topo:
        yield topo


def synapse_pids(inst: Running) -> dict[str, int]:
    synapse = inst.kabinet.synapse
    assert synapse is not None and synapse.process is not None
    pids = {"main": synapse.process.pid}
    for p in workers_of(inst):
        assert p.process is not None and p.alive, p.name
        pids[p.name] = p.process.pid
    return pids


async def all_healthy(inst: Running) -> bool:
    """Every worker answers /health, the main process its client API."""
    urls = [f"http://127.0.0.1:{p.worker.http_port}/health" for p in workers_of(inst)]
    urls.append(f"{inst.kabinet.settings.homeserver.client_url}/_matrix/client/versions")
    for url in urls:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
            if (await http_get(url))[0] == 200:
                continue
        return False
    return True


async def seen(deputy: AsyncClient, room: str, item: int) -> bool:
    return bool(await draft_events(deputy, room, item))


async def joined(deputy: AsyncClient, room_id: str) -> bool:
    return room_id in getattr(await deputy.joined_rooms(), "rooms", [])


@dataclass
class Outbox:
    """Matrix delivery as Kabinet sees it: its outbox sampled a few times a second."""

    store: Store
    # when, rows sent, rows waiting, appeal rooms made
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)

    async def sample(self) -> tuple[float, int, int, int]:
        async with self.store.session() as s:
            sent, total = (await s.execute(select(
                func.count().filter(OutboxMessage.status == "sent"), func.count())
                .select_from(OutboxMessage))).one()
            rooms = await s.scalar(select(func.count()).select_from(appeals.Appeal)
                                   .where(appeals.Appeal.room_ready.is_(True)))
        self.samples.append((time.monotonic(), int(sent), int(total) - int(sent), int(rooms or 0)))
        return self.samples[-1]

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sample()
            await asyncio.sleep(0.25)

    async def newest(self) -> int:
        async with self.store.session() as s:
            return int(await s.scalar(select(func.max(OutboxMessage.id))) or 0)

    async def unsent_up_to(self, last: int) -> int:
        """Rows up to id `last` not sent yet (later ones, from the ongoing load, not counted)."""
        async with self.store.session() as s:
            return int(await s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.id <= last, OutboxMessage.status != "sent")) or 0)

    def at(self, moment: float) -> tuple[float, int, int, int]:
        return min(self.samples, key=lambda x: abs(x[0] - moment))

    def rate(self, start: float, end: float, column: int = 1) -> float:
        """Rows sent (column 1) or rooms made (column 3) a second between the two moments."""
        first, last = self.at(start), self.at(end)
        return (last[column] - first[column]) / max(last[0] - first[0], 0.1)

    def first_after(self, moment: float, column: int = 1) -> float | None:
        base = self.at(moment)[column]
        return next((x[0] for x in self.samples if x[0] > moment and x[column] > base), None)


@dataclass
class Scene:
    redis: PrivateRedis
    inst: Running
    load: Load
    deputy: AsyncClient
    sitting: int
    room: str  # the sitting's, where the drafts go
    subscribed: int  # Redis connections of Synapse's processes before any outage
    outbox: Outbox


async def outage(scene: Scene, sig: signal.Signals, n: int) -> Round:
    redis, inst, load, deputy, room = (scene.redis, scene.inst, scene.load, scene.deputy,
                                       scene.room)
    flowing = len(load.registered)
    await wait_for(lambda: len(load.registered) >= flowing + 6, timeout=120,
                   what="appeals registered before the outage")
    before = synapse_pids(inst)
    waiting_before = (await scene.outbox.sample())[2]
    stopped = time.monotonic()
    await redis.stop(sig)
    gone = time.monotonic()
    during = await publish_draft(inst, scene.sitting, str(2 * n))  # 201: Kabinet's store is up
    await asyncio.sleep(OUTAGE / 2)
    healthz = await health(inst.web_url)
    await asyncio.sleep(OUTAGE / 2)
    registered_while_down = sum(1 for a in load.answers if a.status == 201 and a.at > gone)
    await redis.start()
    up = time.monotonic()
    down = up - stopped
    waiting_at_up = (await scene.outbox.sample())[2]
    backlog_last = await scene.outbox.newest()  # the rows the outage held back end here

    async def resubscribed() -> bool:
        return await redis.clients() >= scene.subscribed
    await wait_for(resubscribed, timeout=120, interval=0.1,
                   what=f"Synapse's processes connected to Redis again after {sig.name}")
    reconnected = time.monotonic() - up
    await wait_for(lambda: seen(deputy, room, during), timeout=120, interval=0.25,
                   what=f"the draft published while Redis was down ({sig.name})")
    draft_during = time.monotonic() - up
    published = time.monotonic()
    after = await publish_draft(inst, scene.sitting, str(2 * n + 1))
    await wait_for(lambda: seen(deputy, room, after), timeout=120, interval=0.25,
                   what=f"the draft published after Redis came back ({sig.name})")
    draft_after = time.monotonic() - published
    first = await wait_for(lambda: next((a for a in load.answers if a.status == 201
                                         and a.at > up), None), timeout=60,
                           what="an appeal registered after the start")
    room_id = await wait_for(lambda: appeal_room(inst, first.number), timeout=120, interval=0.25,
                             what=f"the room of appeal {first.number}")
    await wait_for(lambda: joined(deputy, room_id), timeout=120, interval=0.25,
                   what=f"the deputy in the room of appeal {first.number}")
    appeal_after = time.monotonic() - up
    first_sent = await wait_for(lambda: scene.outbox.first_after(up), timeout=60,
                                what="an outbox row sent after the start") - up
    first_room = await wait_for(lambda: scene.outbox.first_after(up, 3), timeout=60,
                                what="an appeal room made after the start") - up

    async def drained() -> float | None:
        # Every row that waited when Redis came back is sent. Not "as few waiting as before the
        # stop": the load goes on at about the rate a busy machine makes rooms, so that count
        # may never come back down although the outage's own rows are all delivered.
        return time.monotonic() if await scene.outbox.unsent_up_to(backlog_last) == 0 else None
    drained_after = await wait_for(drained, timeout=180, interval=0.25,
                                   what=f"the backlog of the {sig.name} outage sent") - up
    back = up + reconnected
    await asyncio.sleep(max(0.0, back + 15 - time.monotonic()))
    rates, room_rates = ((scene.outbox.rate(stopped - 15, stopped, c), scene.outbox.rate(
        gone, up, c), scene.outbox.rate(back, back + 15, c)) for c in (1, 3))
    await wait_for(lambda: all_healthy(inst), timeout=60, what="every Synapse process healthy")
    status, body = await health(inst.web_url)
    assert status == 200 and body["redis"] == {"answering": True}, body
    now = synapse_pids(inst)
    restarted = [name for name, pid in now.items() if pid != before[name]]
    assert "main" not in restarted  # the launcher restarts only workers on its own
    return Round(sig.name, down, registered_while_down, healthz, reconnected, rates, room_rates,
                 (waiting_before, waiting_at_up), first_sent, first_room, drained_after,
                 draft_during, draft_after, appeal_after, restarted)


async def appeal_room(inst: Running, number: str | None) -> str | None:
    async with inst.kabinet.store.session() as s:
        aid = await s.scalar(select(appeals.Appeal.id).where(appeals.Appeal.number == number))
    return (await registry.room_map(inst.kabinet.store)).get(f"appeal:{aid}")


async def test_redis_restarting_under_load_loses_and_doubles_nothing(
        redis: PrivateRedis, topology: Topology, caplog: pytest.LogCaptureFixture) -> None:
    took = await topology.start()
    inst = topology.inst
    await settle(inst.kabinet, ROSTER)
    people = Deputies(inst.kabinet.settings.homeserver.client_url)
    load = Load(inst.web_url)
    try:
        deputy = await people.login(DEPUTY, PASSWORDS[DEPUTY], topology.server_name)
        sitting, room = await a_sitting_room(inst, deputy)
        published = time.monotonic()
        first = await publish_draft(inst, sitting, "1")
        await wait_for(lambda: seen(deputy, room, first), timeout=90, interval=0.25,
                       what="the first draft")
        baseline = time.monotonic() - published
        subscribed = await redis.clients()
        assert subscribed >= 4, subscribed  # each of the four processes, at least
        print(f"\nKabinet with Synapse's workers started in {took:.1f} s; {subscribed} Redis "
              f"connections; a draft reaches the deputy in {baseline:.2f} s with Redis up")
        outbox = Outbox(inst.kabinet.store)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            clients = [asyncio.create_task(load.client(i, http)) for i in range(CLIENTS)]
            clients.append(asyncio.create_task(outbox.run(load.stop)))
            try:
                scene = Scene(redis, inst, load, deputy, sitting, room, subscribed, outbox)
                rounds = [await outage(scene, sig, n)
                          for n, sig in enumerate((signal.SIGTERM, signal.SIGKILL), start=1)]
                await asyncio.sleep(2)  # the load goes on a little after the recovery
            finally:
                load.stop.set()
                await asyncio.wait_for(asyncio.gather(*clients), 120)
        for r in rounds:
            print(f"Redis {r.mode}: down {r.down:.1f} s, {r.registered_while_down} appeals "
                  f"registered meanwhile, /healthz then {r.health_while_down[0]}; outbox rows "
                  f"sent a second before/during/after reconnecting: {r.rates[0]:.1f}/{r.rates[1]:.1f}/"
                  f"{r.rates[2]:.1f}, appeal rooms made a second: {r.room_rates[0]:.1f}/"
                  f"{r.room_rates[1]:.1f}/{r.room_rates[2]:.1f}, rows waiting at the stop/start: "
                  f"{r.backlog[0]}/{r.backlog[1]}; after the start: a row sent in "
                  f"{r.first_sent:.2f} s, a room made in {r.first_room:.2f} s, the outage's backlog "
                  f"gone in {r.drained:.2f} s, every process on Redis again in "
                  f"{r.reconnected:.2f} s, the draft "
                  f"published during the outage seen by the deputy in {r.draft_during:.2f} s, "
                  f"a new draft in {r.draft_after:.2f} s, the first new appeal's room joined in "
                  f"{r.appeal_after:.2f} s; restarted by the launcher: {r.restarted or 'none'}")
        statuses = Counter(a.status for a in load.answers)
        assert set(statuses) <= {201, 503}, [a for a in load.answers
                                             if a.status not in (201, 503)][:5]
        for r in rounds:
            assert r.registered_while_down > 0, r  # the web does not need Redis
            # Kabinet is alive without Redis (200), and says that Redis does not answer.
            assert r.health_while_down[0] == 200, r.health_while_down
            assert r.health_while_down[1]["redis"]["answering"] is False, r.health_while_down
        await check_appeals(inst, load, deputy, statuses)
        for name, text in synapse_logs(topology.data_dir).items():
            print(f"{name}: {text.count('Lost connection to redis')} Redis connection(s) lost, "
                  f"{text.count('Successfully subscribed to redis stream')} subscriptions, "
                  f"{text.count('Timed out waiting for repl stream')} waits for replication "
                  f"timed out (5 s each)")
        await check_the_workers(topology, room)
        assert not [r for r in caplog.records if r.getMessage().startswith("unhandled error")]
        said = Counter(str(r.msg)[:90] for r in caplog.records if r.levelno >= 30)
        print("Kabinet's warnings:", said.most_common(8))
    finally:
        await people.close()


async def a_sitting_room(inst: Running, deputy: AsyncClient) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{inst.web_url}/api/v1/sittings", headers={"Authorization": f"Bearer {TOKEN}"},
            json={"kind": "plenary", "number": "11", "title": "Сесія під час перезапуску Redis",
                  "place": "Сесійна зала", "starts_at": "2031-05-20T10:00:00"}) as r:
        assert r.status == 201, await r.text()
        sitting = int((await r.json())["id"])

    async def found() -> str | None:
        return (await registry.room_map(inst.kabinet.store)).get(f"sitting:{sitting}")
    room = await wait_for(found, timeout=60, what="the sitting room")
    await wait_for(lambda: joined(deputy, room), timeout=60, what="the deputy in the sitting room")
    return sitting, room


async def check_appeals(inst: Running, load: Load, deputy: AsyncClient,
                        statuses: Counter[int]) -> None:
    """Every appeal answered 201 stored once under its number; its room made, the deputy in it,
    each of its outbox messages sent and in the room exactly once."""
    store = inst.kabinet.store
    ids = await stored_once(store, load)
    began = time.monotonic()
    await wait_for(lambda: all_delivered(inst, ids), timeout=300, interval=1,
                   what=f"the rooms of {len(ids)} appeals delivered")
    rooms = await registry.room_map(store)
    theirs = {i: rooms[f"appeal:{i}"] for i in ids}
    assert len(set(theirs.values())) == len(ids)  # one room each

    async def deputy_in_all() -> bool:
        return set(theirs.values()) <= set(getattr(await deputy.joined_rooms(), "rooms", []))
    await wait_for(deputy_in_all, timeout=180, interval=1, what="the deputy in every appeal room")
    drained = time.monotonic() - began
    async with store.session() as s:
        sent = (await s.execute(select(OutboxMessage.room_id, OutboxMessage.event_id).where(
            OutboxMessage.room_id.in_([f"$room:appeal:{i}" for i in ids])))).all()
    expected: dict[str, set[str]] = {}
    for placeholder, event_id in sent:
        assert event_id, placeholder
        expected.setdefault(theirs[int(placeholder.rsplit(":", 1)[1])], set()).add(event_id)
    assert set(expected) == set(theirs.values())  # each room has its opening message(s)
    for room_id, event_ids in expected.items():
        resp = await deputy.room_messages(room_id, start="", limit=200)
        assert isinstance(resp, RoomMessagesResponse), resp
        in_room = Counter(e.event_id for e in resp.chunk)
        assert all(in_room[e] == 1 for e in event_ids), (room_id, event_ids, in_room)
        bodies = Counter(e.source["content"].get("body") for e in resp.chunk
                         if e.source["sender"] == inst.kabinet.hs.bot_mxid
                         and e.source["type"] == "m.room.message")
        assert all(n == 1 for n in bodies.values()), (room_id, bodies)  # nothing sent twice
    print(f"{len(ids)} appeals registered, each once; answers {dict(statuses)}; every room "
          f"delivered and joined by the deputy {drained:.0f} s after the load stopped; "
          f"{len(sent)} opening messages, each in its room once")


async def check_the_workers(topo: Topology, room: str) -> None:
    """After the last restart too, the event persister wrote every event (the last draft's
    included) and the appservice sender sent transactions to Kabinet."""
    db = await synapse_db(topo)
    try:
        writers = {r["instance_name"] for r in await db.fetch("SELECT DISTINCT instance_name "
                                                                "FROM events")}
        last = await db.fetchval("SELECT instance_name FROM events WHERE room_id = $1 ORDER BY "
                                 "stream_ordering DESC LIMIT 1", room)
    finally:
        await db.close()
    assert writers == {EVENT_PERSISTER} and last == EVENT_PERSISTER, (writers, last)
    sender = (topo.data_dir / f"worker-{APPSERVICE_SENDER}.log").read_text(errors="replace")
    since = sender.rsplit("REPLICATE successfully sent", 1)
    assert len(since) == 2 and "/_matrix/app/v1/transactions/" in since[1]


def synapse_logs(data_dir: Path) -> dict[str, str]:
    logs = {"main": data_dir / "homeserver.log"}
    logs.update({p.stem.removeprefix("worker-"): p for p in data_dir.glob("worker-*.log")})
    return {name: path.read_text(errors="replace") for name, path in logs.items()}
