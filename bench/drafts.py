"""Drafts benchmark: publishing drafts through Kabinet against the same uploads and sends made
directly to Synapse, in the same run.

    .venv/bin/python -m bench.drafts                      # 100 drafts of 1 MiB, 120 deputies
    .venv/bin/python -m bench.drafts --drafts 10 --deputies 10 --commissions 3   # smoke run

K: `domain.add_draft` per draft (its own transaction, as `kabinet drafts add` or the API does);
Kabinet's workers run as under `kabinet up` (the media pre-upload among them); each file is
posted to the sitting room and the responsible commission's room, then the agenda edit.
Timed until every message is recorded as sent in the outbox.
R: the same work straight to Synapse with the as_token: per draft one upload of the same bytes
(4 in flight), an m.file in a sitting room and in the commission's room and an agenda edit of
the same size as Kabinet's, sends in order per room (one after the other, as a room must keep
order).
The drafts are split in two halves, run K, R, R, K, so that a load drifting during the run
weighs on both sides alike; CPU seconds (Synapse's and this process's, where Kabinet and the raw
client both run) are reported beside the wall times, being steadier on a shared machine.
Latency: from the domain call to the moment a deputy's client (matrix-nio, long-polling sync)
sees the draft's event in the sitting room. Results: bench/results/drafts-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import bindparam, func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nio import AsyncClient, LoginResponse, SyncResponse  # noqa: E402
from pypdf import PdfReader, PdfWriter  # noqa: E402

from bench.provision import create_accounts, free_port, make_roster  # noqa: E402
from bench.region import cpu_s  # noqa: E402
from council import outbox  # noqa: E402
from council import rooms as registry  # noqa: E402
from council import sittings as domain  # noqa: E402
from council.models import OutboxMessage  # noqa: E402
from council.sittings import agenda  # noqa: E402
from kabinet import event_loop  # noqa: E402
from kabinet.config import load_settings  # noqa: E402
from kabinet.features.sittings import Sittings  # noqa: E402
from kabinet.features.sittings import context as sittings_context  # noqa: E402
from kabinet.features.sittings_demo import draft_pdf  # noqa: E402
from kabinet.wiring import Kabinet  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024 * 1024
GOAL = 0.9  # K/R (issue 13): delivery's bookkeeping costs at most a tenth of the raw rate


def make_file(n: int, size: int) -> bytes:
    """A real PDF (one page of Ukrainian text) padded to `size` with an embedded attachment."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(draft_pdf(
        str(n), f"Про тестове питання {n}", "Бенчмарк", ["Текст проєкту рішення."]))))
    base = io.BytesIO()
    writer.write(base)
    writer.add_attachment("dodatok.bin", os.urandom(max(size - len(base.getvalue()) - 600, 0)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class Observer:
    """A deputy's client: long-polls sync and notes when each draft (by number) first shows up."""

    def __init__(self, client: AsyncClient, room_ids: set[str]) -> None:
        self.client, self.room_ids = client, room_ids
        self.seen: dict[tuple[str, str], float] = {}  # (room, number) -> perf_counter
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        resp = await self.client.sync(timeout=0, full_state=False)
        assert isinstance(resp, SyncResponse), resp
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            resp = await self.client.sync(timeout=5000, full_state=False)
            now = time.perf_counter()
            if not isinstance(resp, SyncResponse):
                continue
            for rid, room in resp.rooms.join.items():
                if rid not in self.room_ids:
                    continue
                for ev in room.timeline.events:
                    c = ev.source.get("content", {})
                    number = (c.get("ua.kabinet.draft") or c.get("ua.kabinet.bench") or {}).get("number")
                    if number is not None:
                        self.seen.setdefault((rid, str(number)), now)

    async def wait(self, room_id: str, numbers: list[str], limit: float) -> None:
        async with asyncio.timeout(limit):
            while True:
                if all((room_id, n) in self.seen for n in numbers):
                    return
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def joined(kabinet: Kabinet, room_id: str, user: str, limit: float = 120) -> None:
    async with asyncio.timeout(limit):
        while True:
            state = await kabinet.hs.room_state(room_id)
            if any(e["type"] == "m.room.member" and e["state_key"] == user
                   and e["content"].get("membership") == "join" for e in state):
                return
            await asyncio.sleep(0.5)


async def settled_members(kabinet: Kabinet, room_id: str, limit: float = 180) -> int:
    """Wait until no invite to the room is pending (the auto-accepted joins are done, so neither
    phase pays for another room's joins), at most `limit` s; the number of joined members."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit):
            while True:
                state = await kabinet.hs.room_state(room_id)
                if not any(e["type"] == "m.room.member" and e["content"].get("membership") == "invite"
                           for e in state):
                    break
                await asyncio.sleep(1)
    state = await kabinet.hs.room_state(room_id)
    return sum(e["type"] == "m.room.member" and e["content"].get("membership") == "join"
               for e in state)


def cpu_now(kabinet: Kabinet) -> float:
    """CPU seconds used so far by Synapse and by this process (Kabinet and the raw client
    both run here): steadier than wall time while other work shares the machine."""
    synapse = kabinet.synapse.process if kabinet.synapse is not None else None
    own = resource.getrusage(resource.RUSAGE_SELF)
    return (cpu_s([synapse.pid]) if synapse is not None else 0.0) + own.ru_utime + own.ru_stime


def merged(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two halves of a phase as one: times and counts add up, latencies join."""
    return {k: a[k] + b[k] for k in a}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def phase_kabinet(kabinet: Kabinet, sitting_id: int, files: list[bytes], commission: str,
                        observer: Observer, room_id: str, first: int = 1) -> dict[str, Any]:
    ctx = sittings_context(kabinet)
    started: dict[str, float] = {}
    keys: list[str] = []
    cpu0 = cpu_now(kabinet)
    t0 = time.perf_counter()
    for n, data in enumerate(files, first):
        number = str(n)
        started[number] = time.perf_counter()
        async with kabinet.store.session() as s:
            item = await domain.add_draft(
                s, ctx, sitting_id, domain.NewDraft(number=number, title=f"Про тестове питання {n}",
                                                    initiator="Бенчмарк", commission=commission),
                domain.prepare_file(ctx, data, f"proekt-{n}.pdf"), source="cli")
            rev = (await domain.get_sitting(s, sitting_id)).agenda_rev
        kabinet.delivery.poke()
        keys += [f"draft:{item.id}:v1:sitting", f"draft:{item.id}:v1:commission",
                 f"agenda:{sitting_id}:rev:{rev}"]
    t_added = time.perf_counter() - t0
    # The measuring costs K little CPU: each room's last message is watched with the store's
    # read for hot paths (order per room: it is recorded with or after the room's others),
    # then every key is checked once.
    lasts = {"a": keys[-1], "b": keys[-2]}  # the sitting room's last (the agenda), the commission's
    watch = (select(func.count()).select_from(OutboxMessage)
             .where(OutboxMessage.key.in_([bindparam("a"), bindparam("b")]),
                    OutboxMessage.event_id.is_not(None)))
    while True:
        if (await kabinet.store.read_one(watch, lasts))[0] == 2 and \
                len(await outbox.sent_event_ids(kabinet.store, keys)) == len(keys):
            break
        await asyncio.sleep(0.05)
    t_sent = time.perf_counter() - t0
    cpu = cpu_now(kabinet) - cpu0
    await observer.wait(room_id, list(started), 300)
    latency = [observer.seen[(room_id, n)] - started[n] for n in started]
    return {"s": t_sent, "cpu": cpu, "added_s": t_added, "latency": latency, "messages": len(keys)}


async def phase_raw(kabinet: Kabinet, room_id: str, commission_room: str, files: list[bytes],
                    observer: Observer, first: int = 1) -> dict[str, Any]:
    hs = kabinet.hs
    headers = {"Authorization": f"Bearer {hs.as_token}"}
    uploads = asyncio.Semaphore(4)
    queues: dict[str, asyncio.Queue[tuple[str, dict[str, Any]] | None]] = {
        room_id: asyncio.Queue(), commission_room: asyncio.Queue()}
    started: dict[str, float] = {}
    run = os.urandom(4).hex()
    async with aiohttp.ClientSession(headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        async def upload(n: int, data: bytes) -> str:
            async with uploads, http.post(f"{hs.url}/_matrix/media/v3/upload",
                                          params={"filename": f"proekt-{n}.pdf"}, data=data,
                                          headers={"Content-Type": "application/pdf"}) as r:
                return (await r.json())["content_uri"]

        async def sender(room: str) -> None:
            q, count = queues[room], 0
            while (item := await q.get()) is not None:
                _kind, content = item
                count += 1
                async with http.put(f"{hs.url}/_matrix/client/v3/rooms/{room}/send/m.room.message/"
                                    f"raw-{run}-{count}", json=content) as r:
                    assert r.status == 200, await r.text()

        def agenda_of(n: int) -> dict[str, Any]:
            """The same agenda Kabinet sends after n drafts (same size on the wire)."""
            items = [agenda.ItemView(i, str(i), f"Про тестове питання {i}", "Бенчмарк", None,
                                     "active", 1, f"proekt-{i}.pdf", "$" + "x" * 43)
                     for i in range(1, n + 1)]
            return agenda.agenda_message(0, "Бенчмарк", "01.01.2027 10:00", "Зала", n, items, [])

        async with http.put(f"{hs.url}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/"
                            f"raw-{run}-agenda", json=agenda_of(0)) as r:
            agenda_id = (await r.json())["event_id"]
        senders = [asyncio.create_task(sender(r)) for r in queues]
        cpu0 = cpu_now(kabinet)
        t0 = time.perf_counter()

        async def one(n: int, data: bytes) -> None:
            number = str(n)
            started[number] = time.perf_counter()
            mxc = await upload(n, data)
            file = {"msgtype": "m.file", "body": f"Проєкт рішення № {n}", "filename": f"proekt-{n}.pdf",
                    "url": mxc, "info": {"mimetype": "application/pdf", "size": len(data)},
                    "ua.kabinet.bench": {"number": number}}
            return file

        contents = await asyncio.gather(*(one(n, d) for n, d in enumerate(files, first)))
        for n, content in enumerate(contents, first):
            await queues[room_id].put(("file", content))
            await queues[commission_room].put(("file", content))
            edit = agenda.agenda_edit("x", agenda_of(n))
            edit["m.relates_to"]["event_id"] = agenda_id
            await queues[room_id].put(("edit", edit))
        for q in queues.values():
            await q.put(None)
        await asyncio.gather(*senders)
        t_sent = time.perf_counter() - t0
        cpu = cpu_now(kabinet) - cpu0
    await observer.wait(room_id, list(started), 300)
    return {"s": t_sent, "cpu": cpu,
            "latency": [observer.seen[(room_id, n)] - started[n] for n in started]}


async def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    roster = make_roster(args.deputies, args.commissions, args.staff)
    settings = load_settings(None, **{
        "data_dir": data_dir, "web.port": free_port(), "homeserver.port": free_port(),
        "homeserver.bcrypt_rounds": 4, "homeserver.max_upload_size": "100M",
        "sittings.max_file_bytes": 50 * MIB})
    kabinet = Kabinet(settings, roster)
    files = [make_file(n, args.size) for n in range(1, args.drafts + 1)]
    commission = roster.commissions[0].id
    observer_person = next(d for d in roster.deputies if commission in d.commissions)
    r: dict[str, Any] = {"drafts": args.drafts, "size": len(files[0]), "deputies": args.deputies,
                         "load_start": os.getloadavg()[0]}
    async with asynccontextmanager(kabinet.store_ctx)(), \
            asynccontextmanager(kabinet.homeserver_ctx)():
        app = web.Application()
        app.add_subapp("/as", kabinet.transactions.web_app())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.web.host, settings.web.port).start()
        client = AsyncClient(kabinet.hs.url, observer_person.mxid(kabinet.hs.server_name))
        observer = None
        workers: list[asyncio.Task[None]] = []
        try:
            await create_accounts(kabinet, roster)
            await kabinet.apply_roster(roster)
            ctx = sittings_context(kabinet)
            async with kabinet.store.session() as s:
                sitting, _ = await domain.create_sitting(s, ctx, domain.NewSitting(
                    kind="plenary", title="Бенчмарк", place="Зала",
                    starts_at=datetime.now(ctx.tz) + timedelta(days=30)))
            await kabinet.feature(Sittings).rooms.create_missing()
            rooms = await registry.room_map(kabinet.store)
            room_id = rooms[registry.sitting(sitting.id)]
            commission_room = rooms[registry.commission(commission)]
            spec = (await kabinet.hs.room_state(room_id))
            members = sorted(e["state_key"] for e in spec if e["type"] == "m.room.member")
            raw_room = str(await kabinet.hs.bot.create_room(name="Бенчмарк (raw)",
                                                            invitees=[m for m in members
                                                                      if m != kabinet.hs.bot_mxid]))
            login = await client.login(observer_person.password)
            assert isinstance(login, LoginResponse), login
            for rid in (room_id, raw_room, commission_room):
                await joined(kabinet, rid, client.user_id)
            r["joined"] = {"sitting": await settled_members(kabinet, room_id),
                           "raw": await settled_members(kabinet, raw_room),
                           "commission": await settled_members(kabinet, commission_room)}
            kabinet.delivery.start()
            workers += [asyncio.create_task(w()) for w in kabinet.workers]  # as `kabinet up`
            while True:  # the announcement, agenda and pin go first
                if not (await outbox.counts(kabinet.store)).get("pending"):
                    break
                await asyncio.sleep(0.1)
            observer = Observer(client, {room_id, raw_room})
            await observer.start()
            r["members"] = len(members)
            # K, R, R, K over the two halves of the drafts: a load that drifts during the run
            # (other work on the machine) weighs on both sides alike.
            half = len(files) // 2
            k1 = await phase_kabinet(kabinet, sitting.id, files[:half], commission, observer,
                                     room_id)
            r1 = await phase_raw(kabinet, raw_room, commission_room, files[:half], observer)
            r2 = await phase_raw(kabinet, raw_room, commission_room, files[half:], observer,
                                 first=half + 1)
            k2 = await phase_kabinet(kabinet, sitting.id, files[half:], commission, observer,
                                     room_id, first=half + 1)
            k, raw = merged(k1, k2), merged(r1, r2)
        finally:
            if observer:
                await observer.stop()
            await client.close()
            for task in workers:
                task.cancel()
            await kabinet.delivery.stop()
            await runner.cleanup()
    n = args.drafts
    r.update(k_s=k["s"], k_added_s=k["added_s"], raw_s=raw["s"], k_rate=n / k["s"], raw_rate=n / raw["s"],
             ratio=(n / k["s"]) / (n / raw["s"]), messages=k["messages"],
             k_msg_rate=k["messages"] / k["s"], raw_msg_rate=k["messages"] / raw["s"],
             k_cpu=k["cpu"], raw_cpu=raw["cpu"], cpu_ratio=raw["cpu"] / k["cpu"],
             k_p50=statistics.median(k["latency"]), k_p99=pct(k["latency"], 0.99),
             raw_p50=statistics.median(raw["latency"]), raw_p99=pct(raw["latency"], 0.99),
             load_end=os.getloadavg()[0])
    return r


def table(r: dict[str, Any]) -> str:
    rows = [
        ("setup", f"{r['drafts']} drafts of {r['size'] / MIB:.2f} MiB, sitting room of "
                  f"{r['members']} members ({r['deputies']} deputies + staff + bot)"),
        ("joined before timing", f"sitting room {r['joined']['sitting']}, raw room "
                                 f"{r['joined']['raw']}, commission room {r['joined']['commission']}"),
        ("K kabinet", f"{r['k_s']:.2f} s  {r['k_rate']:.1f} drafts/s, {r['k_msg_rate']:.1f} msgs/s  "
                      f"(domain calls took {r['k_added_s']:.2f} s)"),
        ("R raw synapse", f"{r['raw_s']:.2f} s  {r['raw_rate']:.1f} drafts/s, "
                          f"{r['raw_msg_rate']:.1f} msgs/s"),
        ("ratio K/R", f"{r['ratio']:.2f}  (goal >= {GOAL}: {'ok' if r['ratio'] >= GOAL else 'MISSED'})"),
        ("CPU s (Synapse + this)", f"K {r['k_cpu']:.1f} s, R {r['raw_cpu']:.1f} s: R/K "
                                   f"{r['cpu_ratio']:.2f} (rate per CPU second, K against R)"),
        ("K add -> deputy sees", f"p50 {r['k_p50']:.2f} s, p99 {r['k_p99']:.2f} s"),
        ("R upload -> deputy sees", f"p50 {r['raw_p50']:.2f} s, p99 {r['raw_p99']:.2f} s"),
        ("load average (1 min)", f"{r['load_start']:.2f} at start, {r['load_end']:.2f} at end "
                                 f"({os.cpu_count()} CPUs)"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--drafts", type=int, default=100)
    p.add_argument("--size", type=int, default=MIB, help="bytes per draft file")
    p.add_argument("--deputies", type=int, default=120)
    p.add_argument("--commissions", type=int, default=15)
    p.add_argument("--staff", type=int, default=5)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="kabinet-bench-drafts-"))
    try:
        r = event_loop.run(run(args, data_dir))
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(table(r))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"drafts-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(r, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"results: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
