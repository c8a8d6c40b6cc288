"""Region benchmark: N councils x M deputies on ONE Synapse, each council its own Kabinet.

    .venv/bin/python -m bench.region --councils 5 --deputies 40             # Synapse on SQLite
    .venv/bin/python -m bench.region --councils 5 --deputies 40 --workers   # workers, PostgreSQL
    .venv/bin/python -m bench.region --councils 2 --deputies 5 --processes  # smoke, + processes

A region file is generated (rosters from bench.provision.make_roster, ids prefixed per
council) and the shared Synapse started by `kabinet region up`'s own code (registrations of
every council). Accounts are created first, untimed (as bench/provision.py). Then, on the same
homeserver: A `region apply` from empty (councils `--concurrency` at a time, sharing the region's
`--requests` homeserver requests in flight); B the same rooms made with raw createRoom calls
(bench.provision.create_body, the council's own as_token and alias namespace, same
concurrencies); C a no-change `region apply` of the whole region, with where its time goes.
After A and B: until every invite is auto-accepted (joins counted in Synapse's database).
`--processes`: then one `kabinet up` per council (as `region up` runs them), their RSS, and
the no-change re-apply through their control endpoints (C2). Results: bench/results/region-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from appservice.homeserver import Homeserver  # noqa: E402
from appservice.rooms import CREATE_INVITES, RoomSpec  # noqa: E402
from appservice.roster.desired import desired_rooms  # noqa: E402
from bench.provision import create_body, free_port, make_roster  # noqa: E402
from council import rooms as registry  # noqa: E402
from council.models import CouncilAccount  # noqa: E402
from council.store import Store  # noqa: E402
from kabinet import event_loop, region_apply, region_up  # noqa: E402
from kabinet.launcher import EmbeddedSynapse, register_user  # noqa: E402
from kabinet.region import Council, Plan, plan  # noqa: E402
from kabinet.secrets import read_secrets  # noqa: E402

RESULTS = REPO / "bench" / "results"
PG = os.environ.get("KABINET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def council_roster(cid: str, args: argparse.Namespace) -> dict[str, Any]:
    """make_roster's council, its people's ids prefixed with the council's (one homeserver)."""
    data = make_roster(args.deputies, args.commissions, args.staff).model_dump(
        mode="json", exclude_defaults=True)
    for person in (*data["deputies"], *data["secretariat"]):
        person["id"] = f"{cid}-{person['id']}"
    # Roster fields, not room keys (.get: tests/test_rooms.py reads ["commissions"] as one).
    for commission in data.get("commissions", []):
        commission["chair"] = f"{cid}-{commission['chair']}"
    data.get("council", {})["name"] = f"Рада {cid}"
    return data


def write_region(base: Path, args: argparse.Namespace) -> Path:
    ids = [f"r{i:02d}" for i in range(1, args.councils + 1)]
    for cid in ids:
        (base / f"{cid}.yaml").write_text(yaml.safe_dump(council_roster(cid, args),
                                                         allow_unicode=True), encoding="utf-8")
    hs: dict[str, Any] = {"server_name": "localhost", "port": free_port(), "bcrypt_rounds": 4}
    if args.workers:
        from tests.test_synapse_workers import free_block  # 8 consecutive free loopback ports
        hs["workers"] = {"enabled": True, "ports_from": free_block(8)}
    tag = os.urandom(3).hex()
    data = {"name": f"bench-{tag}", "data_root": "data", "concurrency": args.concurrency,
            "requests": args.requests,
            "database_url": PG if args.workers or args.postgresql else None, "homeserver": hs,
            "defaults": {"log_level": "WARNING", "appservice": {"concurrency": 8}},
            "councils": [{"id": cid, "roster": f"{cid}.yaml", "web_port": free_port(),
                          "database": f"kabinet_bench_{tag}_{cid}"} for cid in ids]}
    path = base / "region.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def pids(synapse: EmbeddedSynapse) -> list[int]:
    main = [synapse.process.pid] if synapse.process else []
    return main + [w.process.pid for w in (synapse.workers.processes if synapse.workers else [])
                   if w.process]


def private_mib(pid: int | None) -> float | None:
    """Memory only this process holds (Private_Clean + Private_Dirty): what one more costs."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text() if pid else ""
    except OSError:
        return None
    kib = [int(line.split()[1]) for line in rollup.splitlines()
           if line.startswith(("Private_Clean:", "Private_Dirty:"))]
    return sum(kib) / 1024 if kib else None


def cpu_s(pid_list: list[int]) -> float:
    total = 0.0
    for pid in pid_list:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def idle(pid_list: list[int], limit: float = 600) -> float:
    t0 = time.perf_counter()
    quiet = 0
    while quiet < 3 and time.perf_counter() - t0 < limit:
        before = cpu_s(pid_list)
        await asyncio.sleep(1)
        quiet = quiet + 1 if cpu_s(pid_list) - before < 0.05 * len(pid_list) else 0
    return time.perf_counter() - t0


async def joins(p: Plan) -> int:
    """Joined memberships on the shared homeserver, from its database."""
    query = ("SELECT count(*) FROM current_state_events WHERE type = 'm.room.member' "
             "AND membership = 'join'")
    if not p.region.homeserver.workers.enabled:
        db = sqlite3.connect(f"file:{p.synapse_dir / 'homeserver.db'}?mode=ro", uri=True)
        try:
            return int(db.execute(query).fetchone()[0])
        finally:
            db.close()
    import asyncpg

    from kabinet.region_checks import synapse_database_url
    conn = await asyncpg.connect(synapse_database_url(p))
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def settled(p: Plan, want: int, since: float, limit: float = 900) -> float | None:
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        if await joins(p) >= want:
            return time.perf_counter() - since
        await asyncio.sleep(1)
    return None


async def create_accounts(c: Council, secret: str) -> None:
    server, limit = c.settings.homeserver.server_name, asyncio.Semaphore(8)
    people = [(p, "deputy") for p in c.roster.deputies] + [(p, "staff") for p in c.roster.secretariat]
    async with aiohttp.ClientSession() as http:
        async def one(person: Any) -> None:
            async with limit:
                await register_user(c.settings.homeserver.client_url, secret, person.id,
                                    person.password, person.name, http=http)
        await asyncio.gather(*(one(person) for person, _ in people))
    store = Store(c.settings.db_url)
    try:
        async with region_apply.MIGRATING:
            await store.migrate()
        async with store.session() as s:
            await registry.remember_accounts(s, [CouncilAccount(
                mxid=person.mxid(server), roster_id=person.id, role=role, created_by_us=True)
                for person, role in people])
    finally:
        await store.close()


async def raw_council(c: Council, specs: list[RoomSpec], limit: asyncio.Semaphore) -> None:
    """bench.provision.raw_provision for one council: its token, its alias namespace; requests
    in flight from `limit`, the region's budget shared with the other councils (as A's)."""
    s = c.settings
    hs = Homeserver(s.homeserver.client_url, read_secrets(c.data_dir)["as_token"],
                    s.appservice.bot_localpart, s.homeserver.server_name,
                    concurrency=s.appservice.concurrency)
    ids: dict[str, str] = {}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {hs.as_token}"},
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        async def create(spec: RoomSpec) -> None:
            body = create_body(spec, ids, hs.server_name, hs.bot_mxid, s.homeserver.room_version)
            body["room_alias_name"] = spec.alias_localpart(s.appservice.alias_prefix + "raw_")
            async with limit, http.post(f"{hs.url}/_matrix/client/v3/createRoom",
                                        json=body) as resp:
                data = await resp.json(content_type=None)
                if resp.status != 200:
                    raise RuntimeError(f"createRoom {c.id} {spec.key}: {resp.status} {data}")
            for user in sorted(spec.members)[CREATE_INVITES:]:
                async with limit, http.post(
                        f"{hs.url}/_matrix/client/v3/rooms/{data['room_id']}/invite",
                        json={"user_id": user}) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"invite {c.id} {spec.key} {user}: {resp.status}")
            ids[spec.key] = data["room_id"]

        pending = list(specs)
        while pending:
            ready = [sp for sp in pending if all(ch in ids for ch in sp.children)]
            pending = [sp for sp in pending if sp not in ready]
            await asyncio.gather(*(create(sp) for sp in ready))


class StateReads:
    """Where a no-change re-apply's time goes: whole-room state reads, counted and timed."""

    def __init__(self) -> None:
        self.calls, self.seconds = 0, 0.0
        self._original = Homeserver.room_state

    def __enter__(self) -> StateReads:
        original, me = self._original, self

        async def timed(hs: Homeserver, room_id: str) -> list[dict[str, Any]]:
            t0 = time.perf_counter()
            try:
                return await original(hs, room_id)
            finally:
                me.calls += 1
                me.seconds += time.perf_counter() - t0
        Homeserver.room_state = timed  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        Homeserver.room_state = self._original  # type: ignore[method-assign]


async def run(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    p = plan(write_region(base, args))
    r: dict[str, Any] = {"councils": args.councils, "deputies": args.deputies,
                         "commissions": args.commissions, "staff": args.staff,
                         "concurrency": args.concurrency, "requests": args.requests,
                         "workers": args.workers,
                         "stores": "postgresql" if p.region.database_url else "sqlite",
                         "load_start": os.getloadavg()[0]}
    specs = {c.id: desired_rooms(c.roster, "localhost") for c in p.councils}
    r["rooms"] = sum(len(s) for s in specs.values())
    want = sum(len(sp.members) + 1 for s in specs.values() for sp in s)
    await region_apply.check(p)
    region_apply.write_files(p)
    synapse = region_up.shared_homeserver(p)
    t0 = time.perf_counter()
    await region_up.start_homeserver(synapse)
    r["synapse_start_s"] = time.perf_counter() - t0
    processes: list[region_up.CouncilProcess] = []
    try:
        await region_apply.create_databases(p)
        secret = region_apply.shared_secret(p)
        assert secret is not None
        t0 = time.perf_counter()
        await asyncio.gather(*(create_accounts(c, secret) for c in p.councils))
        r["accounts_s"] = time.perf_counter() - t0

        async def phase_a() -> None:
            base_joins, cpu0, t0 = await joins(p), cpu_s(pids(synapse)), time.perf_counter()
            results = await region_apply.apply_councils(p, secret)
            r["a_s"], r["a_cpu_synapse_s"] = time.perf_counter() - t0, cpu_s(pids(synapse)) - cpu0
            r["a_failed"] = [x.line() for x in results if x.error or x.problems]
            r["a_joined_s"] = await settled(p, base_joins + want, t0)

        async def phase_b() -> None:
            base_joins, cpu0, t0 = await joins(p), cpu_s(pids(synapse)), time.perf_counter()
            limit, requests = asyncio.Semaphore(args.concurrency), asyncio.Semaphore(args.requests)

            async def one(c: Council) -> None:
                async with limit:
                    await raw_council(c, specs[c.id], requests)
            await asyncio.gather(*(one(c) for c in p.councils))
            r["b_s"], r["b_cpu_synapse_s"] = time.perf_counter() - t0, cpu_s(pids(synapse)) - cpu0
            r["b_joined_s"] = await settled(p, base_joins + want, t0)

        for phase in (phase_b, phase_a) if args.raw_first else (phase_a, phase_b):
            await phase()
            # A 20 x 40 run takes hours: what each phase measured is on screen as it ends.
            print(f"{phase.__name__}: " + json.dumps({k: v for k, v in r.items()
                                                        if k[:2] in ("a_", "b_")}), flush=True)
        with StateReads() as reads:
            cpu0, self0, t0 = cpu_s(pids(synapse)), cpu_s([os.getpid()]), time.perf_counter()
            again = await region_apply.apply_councils(p, secret)
            r["c_s"] = time.perf_counter() - t0
        r.update(c_cpu_synapse_s=cpu_s(pids(synapse)) - cpu0, c_cpu_self_s=cpu_s([os.getpid()]) - self0,
                 c_state_reads=reads.calls, c_state_read_s=reads.seconds,
                 c_per_council_s=sorted(round(x.seconds, 2) for x in again),
                 c_changes=[ch for x in again for ch in x.changes],
                 c_failed=[x.line() for x in again if x.error or x.problems])
        r["rss_synapse_mib"] = [region_up.rss_mib(pid) for pid in pids(synapse)]
        if args.processes:
            processes = [region_up.CouncilProcess(c) for c in p.councils]
            t0 = time.perf_counter()
            for proc in processes:  # one at a time: each start's time alone
                await proc.start(timeout=600)
            r["processes_start_s"] = time.perf_counter() - t0
            # Synapse sends each council what happened while it was not running (A's and B's
            # events): C2 starts once every process has been idle (< 5 % CPU) for 3 s.
            r["processes_idle_after_s"] = await idle([x.process.pid for x in processes
                                                      if x.process])
            r["rss_councils_mib"] = [region_up.rss_mib(x.process.pid if x.process else None)
                                     for x in processes]
            r["private_councils_mib"] = [private_mib(x.process.pid if x.process else None)
                                         for x in processes]
            t0 = time.perf_counter()
            remote = await region_apply.apply_councils(p, secret)
            r["c2_s"] = time.perf_counter() - t0
            r["c2_changes"] = [ch for x in remote for ch in x.changes]
            r["c2_failed"] = [x.line() for x in remote if x.error or x.problems]
    finally:
        await asyncio.gather(*(x.stop() for x in processes))
        await synapse.stop()
        await drop_databases(p)
    r["ratio_a_b"] = r["a_s"] / r["b_s"]
    r["self_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r["load_end"] = os.getloadavg()[0]
    return r


async def drop_databases(p: Plan) -> None:
    import asyncpg

    from kabinet.region_checks import synapse_database_url
    names = [c.settings.db_url.rsplit("/", 1)[1] for c in p.councils if p.region.database_url]
    names += [synapse_database_url(p).rsplit("/", 1)[1]] if p.region.homeserver.workers.enabled else []
    if names:
        conn = await asyncpg.connect(PG)
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def table(r: dict[str, Any]) -> str:
    def s(v: float | None) -> str:
        return "timed out" if v is None else f"{v:.2f} s"

    topology = "workers on PostgreSQL" if r["workers"] else "SQLite, one process"
    rows = [
        ("region", f"{r['councils']} councils x {r['deputies']} deputies, {r['commissions']} "
                   f"commissions, {r['staff']} staff -> {r['rooms']} rooms; {r['concurrency']} "
                   f"councils at once; Synapse {topology}; "
                   f"stores {r['stores']}"),
        ("synapse start / accounts", f"{r['synapse_start_s']:.1f} s / {r['accounts_s']:.1f} s (untimed)"),
        ("A region apply", f"{r['a_s']:.2f} s ({r['rooms'] / r['a_s']:.1f} rooms/s), Synapse CPU "
                           f"{r['a_cpu_synapse_s']:.1f} s, all joined after {s(r['a_joined_s'])}"),
        ("B raw createRoom", f"{r['b_s']:.2f} s ({r['rooms'] / r['b_s']:.1f} rooms/s), Synapse CPU "
                             f"{r['b_cpu_synapse_s']:.1f} s, all joined after {s(r['b_joined_s'])}"),
        ("ratio A/B", f"{r['ratio_a_b']:.2f} (goal <= 1.3)"),
        ("C no-change re-apply", f"{r['c_s']:.2f} s, {len(r['c_changes'])} changes (goal < 5 s); "
                                 f"{r['c_state_reads']} whole-state reads, {r['c_state_read_s']:.1f} s "
                                 f"summed; CPU here {r['c_cpu_self_s']:.1f} s, Synapse "
                                 f"{r['c_cpu_synapse_s']:.1f} s; per council {r['c_per_council_s']}"),
        ("RSS synapse (MiB)", ", ".join(f"{x:.0f}" for x in r["rss_synapse_mib"] if x)),
        ("peak RSS bench+apply", f"{r['self_maxrss_mib']:.0f} MiB (every council applied here)"),
    ]
    if "c2_s" in r:
        rows += [("council processes", f"started one by one in {r['processes_start_s']:.1f} s; RSS "
                                       + ", ".join(f"{x:.0f}" for x in r["rss_councils_mib"] if x)
                                       + " MiB; private " + ", ".join(
                                           f"{x:.0f}" for x in r["private_councils_mib"] if x)
                                       + f" MiB; idle after {r['processes_idle_after_s']:.0f} s"),
                 ("C2 re-apply via them", f"{r['c2_s']:.2f} s, {len(r['c2_changes'])} changes")]
    rows.append(("load average", f"{r['load_start']:.2f} -> {r['load_end']:.2f} ({os.cpu_count()} CPUs)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--councils", type=int, default=5)
    p.add_argument("--deputies", type=int, default=40)
    p.add_argument("--commissions", type=int, default=5)
    p.add_argument("--staff", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=4, help="councils at once")
    p.add_argument("--requests", type=int, default=8, help="homeserver requests in flight, "
                   "all councils together (A and B alike)")
    p.add_argument("--workers", action="store_true", help="Synapse with workers (PostgreSQL, Redis)")
    p.add_argument("--postgresql", action="store_true", help="councils' stores on PostgreSQL")
    p.add_argument("--processes", action="store_true", help="then a `kabinet up` per council")
    p.add_argument("--raw-first", action="store_true")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    os.umask(0o077)  # as the kabinet command: data dirs hold secrets
    base = Path(tempfile.mkdtemp(prefix="kabinet-region-"))
    try:
        r = event_loop.run(run(args, base))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(table(r))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"region-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(r, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"results: {out.relative_to(REPO)}")
    failed = r["c_changes"] or r["a_failed"] or r["c_failed"] or r.get("c2_changes") \
        or r.get("c2_failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
