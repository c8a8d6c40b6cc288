"""Appeals benchmark: intake latency, delivery latency and a burst, against raw Synapse calls.

    .venv/bin/python -m bench.appeals                      # intake 400, delivery 20, burst 1000
    .venv/bin/python -m bench.appeals --burst 200          # a shorter burst
    .venv/bin/python -m bench.appeals --db postgresql --parts intake --label after

Starts its own installation (small roster, temporary data dir, embedded Synapse) as
`kabinet up` does (its heap settled once started) — on SQLite, or with `--db postgresql` on a
throw-away PostgreSQL database (KABINET_BENCH_PG, default the tests' server) — and in the same
run:
(1) intake: POST /api/v1/appeals (JSON) from `--submitters` (20) concurrent submitters in a
    process of their own (bench/intake_load.py): req/s, p50/p99, with the room worker and the
    sender running (as in production), and how many transactions registered them; raw: the
    same client against a bare aiohttp handler taking the same POST; and, in the store alone
    (no HTTP, bench/intake_store.py), 20 concurrent registrations one transaction each (the
    way intake went before group commit: on SQLite behind one lock) against the batcher;
(2) delivery: one appeal at a time, submit → the citizen's text seen in the deputy's own
    client (matrix-nio /sync); raw: the same homeserver calls made straight with the as_token
    (register the ghost, createRoom with the invites, the ghost's join, the Space link, the
    bot's card, the ghost's text) → the text seen by the same client; ratio of the medians;
(3) burst: N appeals submitted at once until every one is delivered (rooms recorded, outbox
    sent), checked exactly once (one card and one text per room); raw: the same calls for N,
    at the same concurrency; ratio of the totals.
`--parts` picks some of them (default all). Results are printed and written to
bench/results/appeals-<timestamp>[-label].json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from mautrix.api import Method
from mautrix.api import Path as MPath
from nio import AsyncClient, SyncResponse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from appservice.delivery import MARKER  # noqa: E402
from appservice.rooms import FIXED_STATE, RoomSpec  # noqa: E402
from bench.intake_load import bare_app, fields, in_process, pct  # noqa: E402
from bench.intake_store import database  # noqa: E402
from council import rooms as registry  # noqa: E402
from council.appeals import Appeal  # noqa: E402
from council.models import OutboxMessage  # noqa: E402
from council.roster import load_roster  # noqa: E402
from kabinet import event_loop  # noqa: E402
from kabinet.config import load_settings  # noqa: E402
from kabinet.features.appeals import Appeals  # noqa: E402
from kabinet.wiring import Kabinet, Running, settle_heap, start  # noqa: E402
from tests.matrix_helpers import settle  # noqa: E402

ROSTER = REPO / "tests" / "data" / "small-roster.yaml"
RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Watcher:
    """The deputy's client: syncs continuously and records when each text is first seen."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.sync(timeout=0)
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            resp = await self.client.sync(timeout=1000)
            if isinstance(resp, SyncResponse):
                now = time.perf_counter()
                for room in resp.rooms.join.values():
                    for ev in room.timeline.events:
                        body = ev.source.get("content", {}).get("body")
                        if isinstance(body, str):
                            self.seen.setdefault(body, now)

    async def wait(self, body: str, limit: float = 120) -> float:
        async with asyncio.timeout(limit):
            while body not in self.seen:  # noqa: ASYNC110 — the sync loop fills `seen`
                await asyncio.sleep(0.01)
        return self.seen[body]

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class Raw:
    """The same homeserver calls Kabinet makes for an appeal, straight with the as_token."""

    def __init__(self, kabinet: Kabinet, http: aiohttp.ClientSession, run: str) -> None:
        self.k = kabinet
        self.http = http
        self.run = run
        self.hs = kabinet.hs
        self.staff = sorted(kabinet.roster.secretariat_mxids(self.hs.server_name))

    async def _call(self, method: str, path: str, body: Any, user: str | None = None) -> dict:
        params = {"user_id": user} if user else None
        async with self.http.request(method, f"{self.hs.url}{path}", json=body,
                                     params=params) as resp:
            data = await resp.json(content_type=None)
            if resp.status != 200:
                raise RuntimeError(f"{method} {path}: {resp.status} {data}")
            return data

    async def appeal(self, i: int, deputy: str, space_id: str, text: str) -> None:
        server = self.hs.server_name
        ghost_local = f"kabinet_rawcitizen_{self.run}_{i}"
        ghost = f"@{ghost_local}:{server}"
        await self._call("POST", "/_matrix/client/v3/register",
                         {"type": "m.login.application_service", "username": ghost_local})
        spec = RoomSpec(key=f"rawappeal:{i}", kind="appeal", ref=str(i), name=f"Звернення R-{i}",
                        topic="Звернення · зареєстровано", staff=frozenset(self.staff),
                        members=frozenset([deputy, ghost, *self.staff]))
        initial = [{"type": "ua.kabinet.room", "state_key": "", "content": spec.room_state_content()}]
        initial += [{"type": t, "state_key": "", "content": c} for t, c in FIXED_STATE.items()]
        initial.append({"type": "m.space.parent", "state_key": space_id,
                        "content": {"via": [server], "canonical": True}})
        room = (await self._call("POST", "/_matrix/client/v3/createRoom", {
            "preset": "private_chat", "visibility": "private", "name": spec.name,
            "topic": spec.topic, "invite": sorted(spec.members), "initial_state": initial,
            "room_alias_name": f"kabinet_rawappeal_{self.run}_{i}",
            "room_version": self.k.settings.homeserver.room_version,
            "power_level_content_override": spec.power_levels(self.hs.bot_mxid, "12")}))["room_id"]
        await self._call("PUT", f"/_matrix/client/v3/rooms/{room}/state/m.room.member/{ghost}",
                         {"membership": "join", "displayname": f"Громадянин {i}"}, user=ghost)
        await self._call("PUT", f"/_matrix/client/v3/rooms/{space_id}/state/m.space.child/{room}",
                         {"via": [server]})
        await self._call("PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/c{self.run}{i}",
                         {"msgtype": "m.notice", "body": f"Нове звернення R-{i}"})
        await self._call("PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/t{self.run}{i}",
                         {"msgtype": "m.text", "body": text}, user=ghost)


async def submit(http: aiohttp.ClientSession, url: str, body: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    async with http.post(f"{url}/api/v1/appeals", json=body) as resp:
        data = await resp.json()
        if resp.status != 201:
            raise RuntimeError(f"intake answered {resp.status}: {data}")
    return time.perf_counter() - t0, data


async def delivered(kabinet: Kabinet, numbers: list[str]) -> bool:
    from sqlalchemy import func, select

    async with kabinet.store.session() as s:
        ids = list(await s.scalars(select(Appeal.id).where(Appeal.number.in_(numbers))))
        pending = await s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.room_id.in_([registry.placeholder(registry.appeal(i)) for i in ids]),
            OutboxMessage.status != "sent"))
        ready = await s.scalar(select(func.count()).select_from(Appeal).where(
            Appeal.id.in_(ids), Appeal.room_ready.is_(True)))
    return pending == 0 and ready == len(numbers)


async def exactly_once(kabinet: Kabinet, numbers: list[str]) -> tuple[int, int]:
    """(appeals delivered exactly once, appeals with a problem)."""
    from sqlalchemy import select

    async with kabinet.store.session() as s:
        ids = list(await s.scalars(select(Appeal.id).where(Appeal.number.in_(numbers))))
    rooms = await registry.room_map(kabinet.store)
    good = bad = 0
    for i in ids:
        room = rooms[registry.appeal(i)]
        resp = await kabinet.hs.request(Method.GET, MPath.v3.rooms[room].messages,
                                        query={"dir": "b", "limit": "50"})
        keys = Counter(e["content"].get(MARKER) for e in resp["chunk"])
        alias = await kabinet.hs.resolve_alias(f"#kabinet_appeal_{i}:{kabinet.hs.server_name}")
        ok = keys[f"appeal:{i}:card"] == 1 and keys[f"appeal:{i}:text"] == 1 and alias == room
        good, bad = good + ok, bad + (not ok)
    return good, bad


async def main(args: argparse.Namespace) -> int:
    async with database(args.db) as db_url:
        return await run(args, db_url.replace('postgresql://', 'postgresql+asyncpg://')
                               if db_url else None)


async def run(args: argparse.Namespace, db_url: str | None) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="kabinet-bench-appeals-"))
    settings = load_settings(None, **{
        "data_dir": tmp, "roster": ROSTER, "web.port": free_port(), "homeserver.port": free_port(),
        "homeserver.bcrypt_rounds": 4, "appeals.rate_limit_requests": 10**9, "log_level": "WARNING",
        "appservice.concurrency": args.concurrency,
        **({"database_url": db_url} if db_url else {})})
    roster = load_roster(ROSTER)
    running: Running = await start(Kabinet(settings, roster))
    k = running.kabinet
    results: dict[str, Any] = {"label": args.label, "db": args.db, "loop": args.loop,
                               "concurrency": args.concurrency, "cpus": os.cpu_count(),
                               "load_start": os.getloadavg()[0]}
    run_id = uuid.uuid4().hex[:6]
    deputy = roster.deputies[0]
    deputy_mxid = deputy.mxid(settings.homeserver.server_name)
    client = AsyncClient(settings.homeserver.client_url, deputy_mxid)
    parts = set(args.parts.split(","))
    try:
        await settle(k, roster)
        settle_heap()  # as `kabinet up` does once started
        await client.login(deputy.password)
        space_id = (await registry.room_map(k.store))[registry.cabinet_space(deputy.id)]
        url = running.web_url
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {k.hs.as_token}"}
                                         ) as ashttp, aiohttp.ClientSession() as http:
            raw = Raw(k, ashttp, run_id)
            if "intake" in parts:
                results["intake"] = await intake(args, k, url, [d.id for d in roster.deputies])
                if parts & {"delivery", "burst"}:  # their rooms made first
                    await wait_until(lambda: outbox_idle(k), 3600)

            # (2) delivery, one at a time, alternating Kabinet and raw
            if "delivery" in parts:
                watcher = Watcher(client)
                await watcher.start()
                kab, rawlat = [], []
                for i in range(args.delivery):
                    body = f"deliv-{run_id}-{i}: прошу розглянути."
                    t0 = time.perf_counter()
                    await submit(http, url, {**fields(i, "deliv", deputy.id), "text": body})
                    kab.append(await watcher.wait(body) - t0)
                    body = f"rawdeliv-{run_id}-{i}"
                    t0 = time.perf_counter()
                    await raw.appeal(10_000 + i, deputy_mxid, space_id, body)
                    rawlat.append(await watcher.wait(body) - t0)
                await watcher.stop()
                results["delivery"] = {
                    "n": args.delivery, "kabinet_p50_ms": pct(kab, 50) * 1e3,
                    "kabinet_p99_ms": pct(kab, 99) * 1e3, "raw_p50_ms": pct(rawlat, 50) * 1e3,
                    "raw_p99_ms": pct(rawlat, 99) * 1e3,
                    "ratio_p50": statistics.median(kab) / statistics.median(rawlat)}

            if "burst" in parts:
                results["burst"] = await burst(args, k, http, raw, url, run_id)
    finally:
        await client.close()
        await running.stop()
    results["load_end"] = os.getloadavg()[0]
    report(results)
    RESULTS.mkdir(exist_ok=True)
    label = f"-{args.label}" if args.label else ""
    out = RESULTS / f"appeals-{time.strftime('%Y%m%d-%H%M%S')}-{args.db}{label}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out}")
    return 0 if results.get("burst", {}).get("problems", 0) == 0 else 1


async def intake(args: argparse.Namespace, k: Kabinet, url: str, deputies: list[str]
                 ) -> dict[str, Any]:
    """(1): the bare handler and the web intake from the load process, the store alone; the
    web last, so that the rooms its appeals start making disturb neither of the others."""
    load = ["--n", str(args.intake), "--submitters", str(args.submitters),
            "--deputies", ",".join(deputies), "--warmup", str(2 * args.submitters)]
    port = free_port()
    bare = await bare_app(port)
    cpu0 = time.process_time()
    try:
        r: dict[str, Any] = {"raw": await in_process([f"http://127.0.0.1:{port}", *load])}
    finally:
        await bare.cleanup()
    r["raw"]["cpu_ms"] = per_request(cpu0, args)
    r["store"] = await in_process([*load[:4], "--db", args.db, "--deputies", ",".join(deputies)],
                                  "bench.intake_store")
    site = k.feature(Appeals).web
    assert site is not None  # the web site is up
    batches = site.intake.batches  # committed transactions by size
    before = Counter(batches)
    r["load"] = os.getloadavg()[0]
    cpu0 = time.process_time()
    r["web"] = await in_process([url, *load, "--tag", "intake"])
    r["web"]["cpu_ms"] = per_request(cpu0, args)
    sizes = Counter(batches) - before
    r["web"]["transactions"] = sum(sizes.values())
    r["web"]["mean_batch"] = sum(n * c for n, c in sizes.items()) / max(sum(sizes.values()), 1)
    return r


def per_request(cpu0: float, args: argparse.Namespace) -> float:
    """This process's CPU ms per counted request since cpu0 (warm-up included: a ceiling).
    Unlike a latency, it hardly moves with the machine's load: changes are compared on it."""
    return (time.process_time() - cpu0) * 1e3 / args.intake


async def burst(args: argparse.Namespace, k: Kabinet, http: aiohttp.ClientSession, raw: Raw,
                url: str, run_id: str) -> dict[str, Any]:
    """(3): N appeals at once until all are delivered, against the raw calls for N."""
    n = args.burst
    settings, roster = k.settings, k.roster
    t0 = time.perf_counter()
    sem = asyncio.Semaphore(20)

    async def one(i: int) -> str:
        async with sem:
            return (await submit(http, url, fields(i, f"burst{run_id}",
                                                   roster.deputies[i % 4].id)))[1]["number"]
    numbers = await asyncio.gather(*(one(i) for i in range(n)))
    t_intake = time.perf_counter() - t0
    await wait_until(lambda: delivered(k, numbers), 3600)
    t_kab = time.perf_counter() - t0
    good, bad = await exactly_once(k, numbers)
    sem_raw = asyncio.Semaphore(args.concurrency)
    deputies = [d.mxid(settings.homeserver.server_name) for d in roster.deputies]
    spaces = [(await registry.room_map(k.store))[registry.cabinet_space(d.id)]
              for d in roster.deputies]

    async def raw_one(i: int) -> None:
        async with sem_raw:
            await raw.appeal(20_000 + i, deputies[i % 4], spaces[i % 4], f"rawburst-{i}")
    t0 = time.perf_counter()
    await asyncio.gather(*(raw_one(i) for i in range(n)))
    t_raw = time.perf_counter() - t0
    return {"n": n, "intake_s": t_intake, "kabinet_total_s": t_kab, "raw_total_s": t_raw,
            "ratio": t_kab / t_raw, "exactly_once": good, "problems": bad}


async def outbox_idle(k: Kabinet) -> bool:
    from sqlalchemy import select

    async with k.store.session() as s:
        pending = await s.scalar(select(OutboxMessage.id).where(
            OutboxMessage.status == "pending").limit(1))
        new = await s.scalar(select(Appeal.id).where(Appeal.room_ready.is_(False)).limit(1))
    return pending is None and new is None


async def wait_until(check: Any, limit: float) -> None:
    async with asyncio.timeout(limit):
        while not await check():  # noqa: ASYNC110 — polling the store
            await asyncio.sleep(0.2)


def report(r: dict[str, Any]) -> None:
    print(f"\nAppeals benchmark on {r['db']}, {r['loop']} (same Synapse, same run) {r['label']}")
    if "intake" in r:
        w, raw, st = r["intake"]["web"], r["intake"]["raw"], r["intake"]["store"]
        print(f"(1) intake n={w['n']} at {w['submitters']} concurrent submitters: "
              f"{w['transactions']} transactions, {w['mean_batch']:.1f} appeals each; load "
              f"average {r['intake']['load']:.2f}   (goal p99 <= 50 ms)")
        rows = [("web intake (POST /api/v1/appeals)", w), ("raw: bare aiohttp POST", raw),
                *((f"store: {name}", m) for name, m in st.items())]
        print(f"    {'':<44} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11}")
        for name, m in rows:
            bad = f"  errors {m['errors']}" if m.get("errors") else ""
            cpu = f"{m['cpu_ms']:>11.2f}" if "cpu_ms" in m else f"{'':>11}"
            print(f"    {name:<44} {m['per_s']:>7.0f} {m['p50_ms']:>8.1f} {m['p99_ms']:>8.1f}"
                  f"{cpu}{bad}")
    if "delivery" in r:
        d = r["delivery"]
        print(f"(2) delivery n={d['n']}: Kabinet p50 {d['kabinet_p50_ms']:.0f} ms p99 "
              f"{d['kabinet_p99_ms']:.0f} ms; raw p50 {d['raw_p50_ms']:.0f} ms p99 "
              f"{d['raw_p99_ms']:.0f} ms; ratio {d['ratio_p50']:.2f}   (goal <= 1.5)")
    if "burst" in r:
        b = r["burst"]
        print(f"(3) burst n={b['n']}: intake {b['intake_s']:.1f} s, all delivered in "
              f"{b['kabinet_total_s']:.1f} s; raw {b['raw_total_s']:.1f} s; ratio "
              f"{b['ratio']:.2f}; exactly once: {b['exactly_once']}/{b['n']} "
              f"({b['problems']} problems)")
    print(f"load average {r['load_start']:.2f} -> {r['load_end']:.2f} ({r['cpus']} CPUs)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--parts", default="intake,delivery,burst")
    p.add_argument("--label", default="", help="a tag for the JSON (e.g. before, after)")
    p.add_argument("--intake", type=int, default=400)
    p.add_argument("--submitters", type=int, default=20)
    p.add_argument("--delivery", type=int, default=20)
    p.add_argument("--burst", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                   help="asyncio: the loop kabinet ran on before (the comparison's baseline)")
    args = p.parse_args()
    run_on = event_loop.run if args.loop == "uvloop" else asyncio.run
    sys.exit(run_on(main(args)))
