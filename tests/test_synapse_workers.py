"""The embedded Synapse with workers (docs/synapse-workers.md), end to end: main process, event
persister, appservice sender and background worker on a fresh PostgreSQL database and the
machine's Redis, started by Kabinet's own launcher on the small roster. The council is
provisioned, a draft reaches a deputy's client, an appeal gets its room; a killed worker comes
back alone; Kabinet stopped and started again on the same data dir and databases loses and
doubles nothing. (Answering an appeal is tested in test_appeals_e2e.py: not repeated here.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from nio import AsyncClient, RoomMessagesResponse

from council import rooms as registry
from council.roster import load_roster
from kabinet.features.sittings_demo import draft_pdf
from kabinet.synapse_workers import (
    APPSERVICE_SENDER,
    EVENT_PERSISTER,
    PORTS,
    WorkerProcess,
    redis_report,
)
from kabinet.wiring import Running
from tests.appeals_support import appeal_fields, appeal_id, joined, room_of, submit
from tests.conftest import PG_ADMIN_URL, SMALL_ROSTER, Deputies, _pg_available, start_installation
from tests.matrix_helpers import kinds_in, resolve, settle, wait_for
from tests.restart_support import health

ROSTER = load_roster(SMALL_ROSTER)
PASSWORDS = {p.id: p.password for p in (*ROSTER.deputies, *ROSTER.secretariat)}
TOKEN = "test-staff-token-" + uuid.uuid4().hex
REDIS = ("127.0.0.1", 6379)


def free_block(n: int) -> int:
    """The first of n consecutive loopback ports that are all free now."""
    for _ in range(200):
        start = random.randrange(20000, 32000)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(start, start + n):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return start
    raise RuntimeError(f"no {n} consecutive free ports")


async def _redis_reason() -> str | None:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(*REDIS), 3)
    except (OSError, TimeoutError) as exc:
        return f"Redis not reachable at {REDIS[0]}:{REDIS[1]}: {exc or type(exc).__name__}"
    writer.close()
    return None


@dataclass
class Topology:
    """The installation under test and what a later test checks again after a restart."""

    data_dir: Path
    overrides: dict[str, Any]
    server_name: str
    running: Running | None = None
    seen: dict[str, Any] = field(default_factory=dict)

    async def start(self) -> float:
        began = time.monotonic()
        self.running = await start_installation(self.data_dir, SMALL_ROSTER, **self.overrides)
        return time.monotonic() - began

    async def stop(self) -> None:
        if self.running is not None:
            running, self.running = self.running, None
            await running.stop()

    @property
    def inst(self) -> Running:
        assert self.running is not None
        return self.running


@contextlib.asynccontextmanager
async def workers_topology(root: Path, **extra: Any) -> AsyncIterator[Topology]:
    """Kabinet with Synapse's workers on a fresh pair of PostgreSQL databases, dropped after;
    `extra` config overrides (a Redis of the test's own, limits)."""
    name = f"kabinet_test_{uuid.uuid4().hex[:12]}"
    # A server name of its own: Synapse's replication channel on Redis is named after it.
    server_name = f"{name.replace('_', '-')}.test"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    overrides = {"homeserver.workers.enabled": True, "homeserver.workers.ports_from":
                 free_block(PORTS), "homeserver.server_name": server_name,
                 "database_url": f"{base}/{name}",  # created by Kabinet, with {name}_synapse
                 "staff_api_token": TOKEN, **extra}
    topology = Topology(root, overrides, server_name)
    try:
        yield topology
    finally:
        await topology.stop()
        admin = await asyncpg.connect(PG_ADMIN_URL)
        for db in (name, f"{name}_synapse"):
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def topo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Topology]:
    reason = await _pg_available() or await _redis_reason()
    if reason:
        pytest.skip(reason)
    async with workers_topology(tmp_path_factory.mktemp("workers")) as topology:
        yield topology


async def synapse_db(topo: Topology) -> asyncpg.Connection:
    name = topo.overrides["database_url"].rsplit("/", 1)[1]
    return await asyncpg.connect(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}_synapse")


def workers_of(inst: Running) -> list[WorkerProcess]:
    synapse = inst.kabinet.synapse
    assert synapse is not None and synapse.workers is not None
    return synapse.workers.processes


def running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


async def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, await resp.text()


async def draft_events(client: AsyncClient, room_id: str, item_id: int) -> list[dict]:
    """Every message in the room carrying this draft, as the deputy's client reads them."""
    resp = await client.room_messages(room_id, start="", limit=200)
    assert isinstance(resp, RoomMessagesResponse), resp
    return [e.source for e in resp.chunk
            if e.source["content"].get("ua.kabinet.draft", {}).get("id") == item_id]


async def publish_draft(inst: Running, sitting: int, number: str) -> int:
    data = draft_pdf(number, f"Про питання {number}", "Виконком", ["Текст."])
    form = aiohttp.FormData()
    for key, value in {"number": number, "title": f"Про питання {number}",
                       "initiator": "Виконком"}.items():
        form.add_field(key, value)
    form.add_field("file", data, filename=f"proekt-{number}.pdf",
                   content_type="application/octet-stream")
    async with aiohttp.ClientSession() as http, http.post(
            f"{inst.web_url}/api/v1/sittings/{sitting}/drafts", data=form,
            headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 201, await resp.text()
        return int((await resp.json())["id"])


async def delivered_once(client: AsyncClient, room_id: str, item_id: int) -> dict:
    async def arrived() -> list[dict]:
        return await draft_events(client, room_id, item_id)
    [event] = await wait_for(arrived, timeout=90, what=f"draft {item_id} in the sitting room")
    return event


async def test_the_council_runs_on_synapse_workers(topo: Topology):
    took = await topo.start()
    print(f"\nworkers topology: Kabinet started in {took:.1f} s (Synapse main + 3 workers, "
          f"roster applied)")
    inst = topo.inst
    synapse = inst.kabinet.synapse
    assert synapse is not None and synapse.process is not None
    # The workers run as Kabinet's children, each its own generic_worker process.
    for p in workers_of(inst):
        assert p.process is not None and p.alive
        assert "synapse.app.generic_worker" in cmdline(p.process.pid)
        assert str(p.config_path) in cmdline(p.process.pid)
        assert (await http_get(f"http://127.0.0.1:{p.worker.http_port}/health"))[0] == 200
        status, metrics = await http_get(f"http://127.0.0.1:{p.worker.metrics_port}/metrics")
        assert status == 200 and "synapse_" in metrics
    first = topo.overrides["homeserver.workers.ports_from"]
    assert "synapse_" in (await http_get(f"http://127.0.0.1:{first + 1}/metrics"))[1]
    secrets = (topo.data_dir / "secrets.yaml")
    assert "worker_replication_secret" in secrets.read_text()
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert (topo.data_dir / "worker-appservice1.yaml").stat().st_mode & 0o777 == 0o600
    assert not (topo.data_dir / "homeserver.db").exists()  # Synapse is on PostgreSQL
    # Kabinet's /healthz shows the Redis of Synapse's replication (a figure, not a check).
    status, body = await health(inst.web_url)
    assert status == 200 and body["redis"] == {"answering": True}, body

    await settle(inst.kabinet, ROSTER)
    people = Deputies(inst.kabinet.settings.homeserver.client_url)
    try:
        deputy = await people.login("bondar", PASSWORDS["bondar"], topo.server_name)
        space = await resolve(deputy, f"#kabinet_council:{topo.server_name}")

        # A sitting and a draft through the staff API, into the deputy's client.
        async with aiohttp.ClientSession() as http, http.post(
                f"{inst.web_url}/api/v1/sittings", headers={"Authorization": f"Bearer {TOKEN}"},
                json={"kind": "plenary", "number": "7", "title": "Сесія на воркерах",
                      "place": "Сесійна зала", "starts_at": "2031-05-20T10:00:00"}) as r:
            assert r.status == 201, await r.text()
            sitting = (await r.json())["id"]

        async def sitting_room() -> str | None:
            return (await registry.room_map(inst.kabinet.store)).get(f"sitting:{sitting}")
        room = await wait_for(sitting_room, timeout=60, what="the sitting room")
        await wait_for(lambda: joined(deputy, room), timeout=60, what="the deputy in the room")
        item = await publish_draft(inst, sitting, "1")
        draft = await delivered_once(deputy, room, item)
        assert draft["content"]["msgtype"] == "m.file"

        # A citizen's appeal through the web API: its room, in the deputy's client.
        created = await submit(inst, appeal_fields(addressee_deputy="bondar"))
        aid = await appeal_id(inst.kabinet, created["number"])
        appeal_room = await room_of(inst.kabinet, aid)
        await wait_for(lambda: joined(deputy, appeal_room), timeout=60,
                       what="the deputy in the appeal room")
    finally:
        await people.close()

    # Every event was written by the event persister, none by the main process; appservice
    # transactions went out from the appservice worker, not from the main process.
    db = await synapse_db(topo)
    try:
        writers = {r["instance_name"] for r in await db.fetch("SELECT DISTINCT instance_name "
                                                                "FROM events")}
        assert writers == {EVENT_PERSISTER}
        assert await db.fetchval("SELECT instance_name FROM events WHERE event_id = $1",
                                 draft["event_id"]) == EVENT_PERSISTER
    finally:
        await db.close()
    sender_log = (topo.data_dir / f"worker-{APPSERVICE_SENDER}.log").read_text()
    assert "/_matrix/app/v1/transactions/" in sender_log
    assert "/_matrix/app/v1/transactions/" not in (topo.data_dir / "homeserver.log").read_text()
    topo.seen.update(space=space, sitting=sitting, room=room, item=item, aid=aid,
                     appeal_room=appeal_room, number=created["number"])


async def test_a_killed_worker_is_restarted_alone(topo: Topology):
    inst = topo.inst
    synapse = inst.kabinet.synapse
    assert synapse is not None and synapse.process is not None
    main_pid = synapse.process.pid
    persister = next(p for p in workers_of(inst) if p.name == EVENT_PERSISTER)
    assert persister.process is not None
    old = persister.process.pid
    os.kill(old, signal.SIGKILL)  # as the OOM killer would

    async def back() -> bool:
        proc = persister.process
        if proc is None or proc.pid == old or proc.returncode is not None:
            return False
        with contextlib.suppress(aiohttp.ClientError):
            url = f"http://127.0.0.1:{persister.worker.http_port}/health"
            return (await http_get(url))[0] == 200
        return False
    await wait_for(back, timeout=90, interval=0.5, what="the event persister restarted")
    assert synapse.process.pid == main_pid  # the main process was left alone
    # Events are written again (the bot's message goes through the restarted persister).
    people = Deputies(inst.kabinet.settings.homeserver.client_url)
    try:
        deputy = await people.login("bondar", PASSWORDS["bondar"], topo.server_name)
        item = await publish_draft(inst, topo.seen["sitting"], "2")
        await delivered_once(deputy, topo.seen["room"], item)
        topo.seen["item2"] = item
    finally:
        await people.close()


async def test_a_restart_of_kabinet_loses_and_doubles_nothing(topo: Topology):
    seen = topo.seen
    synapse = topo.inst.kabinet.synapse
    assert synapse is not None and synapse.process is not None
    pids = [synapse.process.pid] + [p.process.pid for p in workers_of(topo.inst)
                                    if p.process is not None]
    assert len(pids) == 4
    await topo.stop()
    assert not [pid for pid in pids if running(pid)]  # all stopped
    took = await topo.start()
    print(f"\nworkers topology: Kabinet restarted in {took:.1f} s")
    inst = topo.inst
    assert not inst.report.changes  # the same roster: nothing to create again
    people = Deputies(inst.kabinet.settings.homeserver.client_url)
    try:
        deputy = await people.login("bondar", PASSWORDS["bondar"], topo.server_name)
        assert await resolve(deputy, f"#kabinet_council:{topo.server_name}") == seen["space"]
        # A draft published after the restart arrives, and each draft is in the room once.
        item = await publish_draft(inst, seen["sitting"], "3")
        await delivered_once(deputy, seen["room"], item)
        await asyncio.sleep(3)  # time for a doubled delivery to show
        for draft in (seen["item"], seen["item2"], item):
            assert len(await draft_events(deputy, seen["room"], draft)) == 1, draft
        # The appeal has one room, still the deputy's, with its card once.
        assert await registry.rooms_by_kind(inst.kabinet.store, "appeal") == \
            {str(seen["aid"]): seen["appeal_room"]}
        joined_rooms = (await deputy.joined_rooms()).rooms
        appeal_rooms = [r for r, kind in (await kinds_in(deputy, joined_rooms)).items()
                        if kind == {"kind": "appeal", "ref": str(seen["aid"])}]
        assert appeal_rooms == [seen["appeal_room"]]
        resp = await deputy.room_messages(seen["appeal_room"], start="", limit=100)
        assert isinstance(resp, RoomMessagesResponse)
        cards = [e for e in resp.chunk if e.source["sender"] == inst.kabinet.hs.bot_mxid
                 and seen["number"] in e.source["content"].get("body", "")]
        assert len(cards) == 1
    finally:
        await people.close()


# -- without a homeserver: what is refused, and why ------------------------------------------------

def test_workers_need_postgresql_and_accept_libpq_urls():
    from kabinet.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="PostgreSQL"):
        load_settings(None, **{"homeserver.workers.enabled": True})  # SQLite in the data dir
    settings = load_settings(None, **{"homeserver.workers.enabled": True,
                                      "database_url": "postgresql://kabinet@db.example/kabinet"})
    assert settings.db_url == "postgresql+asyncpg://kabinet@db.example/kabinet"


async def test_a_homeserver_of_the_same_name_on_the_redis_is_refused(tmp_path: Path):
    from kabinet.config import load_settings
    from kabinet.synapse_process import HomeserverError
    from kabinet.synapse_workers import SynapseWorkers

    reason = await _redis_reason()
    if reason:
        pytest.skip(reason)
    name = f"other-{uuid.uuid4().hex[:8]}.test"
    settings = load_settings(None, **{
        "homeserver.workers.enabled": True, "homeserver.server_name": name,
        "homeserver.workers.ports_from": free_block(PORTS),
        "database_url": "postgresql://kabinet@127.0.0.1/kabinet"})
    workers = SynapseWorkers(tmp_path, settings.homeserver, settings.db_url)
    await workers.before_main()  # nobody else: fine
    reader, writer = await asyncio.open_connection(*REDIS)  # as another homeserver's process
    try:
        channel = name.encode()
        writer.write(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(channel), channel))
        await writer.drain()
        await reader.readline()  # the subscription's confirmation has begun
        with pytest.raises(HomeserverError, match=f"another homeserver named {name}"):
            await workers.before_main()
    finally:
        writer.close()


async def test_the_redis_report_says_whether_redis_answers():
    """/healthz's "redis" figure (kabinet/synapse_workers.py): the real Redis answers PING; a
    port nobody listens on, or a server that is not Redis, does not."""
    if (reason := await _redis_reason()) is not None:
        pytest.skip(reason)
    assert await redis_report(*REDIS) == {"answering": True}
    with socket.socket() as s:  # a port free now: nobody answers there
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    gone = await redis_report("127.0.0.1", free)
    assert gone["answering"] is False and "delivery to Matrix waits" in gone["effect"]

    async def not_redis(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"-ERR unknown command\r\n")
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(not_redis, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        assert (await redis_report("127.0.0.1", port))["answering"] is False
