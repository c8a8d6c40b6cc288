"""Provisioning benchmark: Kabinet's reconciler against raw createRoom calls, same Synapse.

    .venv/bin/python -m bench.provision                       # 120 deputies, 15 commissions
    .venv/bin/python -m bench.provision --deputies 10 --commissions 3 --staff 2   # smoke run

A: `kabinet.apply_roster(roster)` from empty.  B: the same rooms (from desired_rooms, aliases
`#kabinet_raw_…`) created with plain aiohttp and the as_token, same concurrency, children before
spaces.  C: a no-change re-apply (must write nothing).  Accounts are created beforehand, untimed
by A/B.  Results are printed and written to bench/results/provision-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python bench/provision.py` must find tests.matrix_helpers

from appservice.homeserver import Homeserver  # noqa: E402
from appservice.rooms import CREATE_INVITES, FIXED_STATE, ROOM_STATE, SPACE_CHILD, RoomSpec  # noqa: E402
from appservice.roster.desired import desired_rooms  # noqa: E402
from council import rooms as registry  # noqa: E402
from council.models import CouncilAccount  # noqa: E402
from council.roster import Roster, parse_roster  # noqa: E402
from kabinet import event_loop  # noqa: E402
from kabinet.config import load_settings  # noqa: E402
from kabinet.launcher import register_user  # noqa: E402
from kabinet.secrets import ensure_secrets  # noqa: E402
from kabinet.wiring import Kabinet  # noqa: E402
from tests.matrix_helpers import missing_memberships  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def make_roster(deputies: int, commissions: int, staff: int) -> Roster:
    """Deputy i sits on commission i mod C, every third deputy on a second one as well."""
    member_of: dict[str, list[str]] = {f"d{i:03d}": [] for i in range(1, deputies + 1)}
    cids = [f"c{j:02d}" for j in range(1, commissions + 1)]
    for i, did in enumerate(member_of):
        member_of[did].append(cids[i % commissions])
        second = cids[(i * 7 + 1) % commissions]
        if i % 3 == 0 and second not in member_of[did]:
            member_of[did].append(second)
    chairs = {c: next((d for d, cs in member_of.items() if cs[0] == c), None) for c in cids}
    return parse_roster({
        "council": {"name": "Тестова міська рада", "short_name": "ТМР", "city": "Тестове"},
        "bodies": [{"id": "council", "kind": "council", "name": "Тестова міська рада"}],
        "commissions": [{"id": c, "name": f"Постійна комісія № {n}", "chair": chairs[c]}
                        for n, c in enumerate(cids, 1)],
        "deputies": [{"id": d, "name": f"Депутат Номер {d[1:]} Тестович",
                      "password": f"pw-{d}-bench", "commissions": cs}
                     for d, cs in member_of.items()],
        "secretariat": [{"id": f"s{k:02d}", "name": f"Працівниця Секретаріату {k:02d}",
                         "password": f"pw-s{k:02d}-bench"} for k in range(1, staff + 1)],
    }, "<bench>")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def create_accounts(kabinet: Kabinet, roster: Roster) -> int:
    """Shared-secret registration of everyone (in parallel), recorded in the store."""
    secret = ensure_secrets(kabinet.settings.data_dir)["registration_shared_secret"]
    server, limit = kabinet.hs.server_name, asyncio.Semaphore(kabinet.hs.concurrency)
    people = [(p, "deputy") for p in roster.deputies] + [(p, "staff") for p in roster.secretariat]
    async with aiohttp.ClientSession() as http:
        async def one(person: Any) -> bool:
            async with limit:
                return await register_user(kabinet.hs.url, secret, person.id, person.password,
                                              person.name, http=http)
        created = await asyncio.gather(*(one(p) for p, _ in people))
    async with kabinet.store.session() as s:
        await registry.remember_accounts(s, [
            CouncilAccount(mxid=p.mxid(server), roster_id=p.id, role=role, created_by_us=True)
            for p, role in people])
    return sum(created)


def create_body(spec: RoomSpec, ids: dict[str, str], server: str, bot: str,
                room_version: str) -> dict[str, Any]:
    """The /createRoom body Kabinet's reconciler sends (via mautrix), with a `raw_` alias; the
    invitees beyond the first CREATE_INVITES follow as separate invites (`raw_provision`)."""
    initial = [{"type": ROOM_STATE, "state_key": "", "content": spec.room_state_content()}]
    initial += [{"type": t, "state_key": "", "content": c} for t, c in FIXED_STATE.items()]
    initial += [{"type": SPACE_CHILD, "state_key": ids[c],
                 "content": {"via": [server], "order": f"{i:04d}"}}
                for i, c in enumerate(spec.children)]
    body: dict[str, Any] = {
        "visibility": "private", "is_direct": False, "preset": "private_chat",
        "room_alias_name": spec.alias_localpart("kabinet_raw_"),
        "invite": sorted(spec.members)[:CREATE_INVITES], "name": spec.name, "topic": spec.topic,
        "initial_state": initial, "room_version": room_version,
        "power_level_content_override": spec.power_levels(bot, room_version),
    }
    if spec.space:
        body["creation_content"] = {"type": "m.space"}
    return body


async def raw_provision(hs: Homeserver, specs: list[RoomSpec], room_version: str
                        ) -> tuple[float, dict[str, str]]:
    """Time B: createRoom for every spec, `concurrency` in flight, children before spaces."""
    limit, ids = asyncio.Semaphore(hs.concurrency), dict[str, str]()
    headers = {"Authorization": f"Bearer {hs.as_token}"}
    async with aiohttp.ClientSession(headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        async def create(spec: RoomSpec) -> None:
            body = create_body(spec, ids, hs.server_name, hs.bot_mxid, room_version)
            async with limit, http.post(f"{hs.url}/_matrix/client/v3/createRoom",
                                        json=body) as resp:
                data = await resp.json(content_type=None)
                if resp.status != 200:
                    raise RuntimeError(f"createRoom {spec.key}: {resp.status} {data}")
                room = data["room_id"]
                for user in sorted(spec.members)[CREATE_INVITES:]:  # as Kabinet: one at a time
                    async with http.post(f"{hs.url}/_matrix/client/v3/rooms/{room}/invite",
                                         json={"user_id": user}) as resp:
                        if resp.status != 200:
                            raise RuntimeError(f"invite {spec.key} {user}: {resp.status}")
            ids[spec.key] = room

        pending, t0 = list(specs), time.perf_counter()
        while pending:
            ready = [s for s in pending if all(c in ids for c in s.children)]
            pending = [s for s in pending if s not in ready]
            await asyncio.gather(*(create(s) for s in ready))
        return time.perf_counter() - t0, ids


async def raw_gaps(hs: Homeserver, specs: list[RoomSpec], ids: dict[str, str]) -> dict[str, Any]:
    """Like missing_memberships, for the raw rooms."""
    gaps = {}
    for spec in specs:
        state = await hs.room_state(ids[spec.key])
        joined = {e["state_key"] for e in state if e["type"] == "m.room.member"
                  and e["content"].get("membership") == "join"}
        if joined != set(spec.members) | {hs.bot_mxid}:
            gaps[spec.key] = joined
    return gaps


async def wait_settled(gaps: Callable[[], Awaitable[dict[str, Any]]], since: float,
                       limit: float) -> float | None:
    """Seconds from `since` until every invite was auto-accepted (None: not within `limit` s)."""
    try:
        async with asyncio.timeout(limit):
            while True:
                if not await gaps():
                    break
                await asyncio.sleep(1.0)
    except TimeoutError:
        return None
    return time.perf_counter() - since


def synapse_hwm_mib(kabinet: Kabinet) -> float | None:
    proc = kabinet.synapse.process if kabinet.synapse else None
    try:
        status = Path(f"/proc/{proc.pid}/status").read_text() if proc else ""
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmHWM:")), None)
    return None if kib is None else kib / 1024


def cpu_s(kabinet: Kabinet, since: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float]:
    """CPU seconds used by this process (bench + appservice) and by Synapse, minus `since`."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    proc = kabinet.synapse.process if kabinet.synapse else None
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split() if proc \
            else []
    except OSError:
        fields = []
    hs = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0
    return ru.ru_utime + ru.ru_stime - since[0], hs - since[1]


async def drained(kabinet: Kabinet, since: float, quiet: float = 3.0) -> float:
    """Seconds from `since` until the appservice endpoint has had no event for `quiet` s."""
    count, last = kabinet.transactions.events_handled, time.perf_counter()
    while time.perf_counter() - last < quiet:
        await asyncio.sleep(0.25)
        if kabinet.transactions.events_handled != count:
            count, last = kabinet.transactions.events_handled, time.perf_counter()
    return last - since


async def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    roster = make_roster(args.deputies, args.commissions, args.staff)
    settings = load_settings(None, **{
        "data_dir": data_dir, "web.port": free_port(), "homeserver.port": free_port(),
        "homeserver.bcrypt_rounds": 4, "appservice.concurrency": args.concurrency})
    kabinet = Kabinet(settings, roster)
    hs, room_version = kabinet.hs, settings.homeserver.room_version
    specs = desired_rooms(roster, hs.server_name)
    r: dict[str, Any] = {"deputies": args.deputies, "commissions": args.commissions,
                         "staff": args.staff, "rooms": len(specs), "concurrency": hs.concurrency,
                         "order": "B,A" if args.raw_first else "A,B",
                         "endpoint": not args.no_endpoint, "load_start": os.getloadavg()[0]}

    async def settle(name: str, gaps: Callable[[], Awaitable[dict[str, Any]]], t0: float) -> None:
        """After a phase: every invite auto-accepted, then the appservice's backlog drained."""
        async def none() -> None:
            return None

        r[f"{name}_joined_s"], r[f"{name}_drained_s"] = await asyncio.gather(
            none() if args.no_joins else wait_settled(gaps, t0, args.join_timeout),
            none() if args.no_endpoint else drained(kabinet, t0))

    async def phase_a() -> None:
        requests0, cpu0, t0 = hs.requests, cpu_s(kabinet), time.perf_counter()
        report = await kabinet.apply_roster(roster)
        r["a_s"] = time.perf_counter() - t0
        r["a_cpu_self_s"], r["a_cpu_synapse_s"] = cpu_s(kabinet, cpu0)
        r.update(a_rooms_created=report.rooms_created, a_invites=report.invites,
                 a_writes=report.writes, a_requests=hs.requests - requests0,
                 a_problems=report.problems)
        await settle("a", lambda: missing_memberships(kabinet, roster), t0)

    async def phase_b() -> None:
        cpu0, t0 = cpu_s(kabinet), time.perf_counter()
        r["b_s"], raw_ids = await raw_provision(hs, specs, room_version)
        r["b_cpu_self_s"], r["b_cpu_synapse_s"] = cpu_s(kabinet, cpu0)
        r.update(b_rooms_created=len(raw_ids), b_invites=sum(len(s.members) for s in specs))
        await settle("b", lambda: raw_gaps(hs, specs, raw_ids), t0)

    async with asynccontextmanager(kabinet.store_ctx)(), \
            asynccontextmanager(kabinet.homeserver_ctx)():
        runner = None
        if not args.no_endpoint:  # the appservice endpoint, as `kabinet up` serves it
            app = web.Application()
            app.add_subapp("/as", kabinet.transactions.web_app())
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, settings.web.host, settings.web.port).start()
        try:
            t0 = time.perf_counter()
            r["accounts_created"] = await create_accounts(kabinet, roster)
            r["accounts_s"] = time.perf_counter() - t0
            for phase in (phase_b, phase_a) if args.raw_first else (phase_a, phase_b):
                await phase()
            t0 = time.perf_counter()
            again = await kabinet.apply_roster(roster)
            r["c_s"] = time.perf_counter() - t0
            r.update(c_writes=again.writes, c_changes=again.changes, c_problems=again.problems)
            r["as_events_handled"] = kabinet.transactions.events_handled
            r["synapse_hwm_mib"] = synapse_hwm_mib(kabinet)
        finally:
            if runner is not None:
                await runner.cleanup()
    r["ratio_a_b"], r["load_end"] = r["a_s"] / r["b_s"], os.getloadavg()[0]
    r["self_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return r


def table(r: dict[str, Any]) -> str:
    def opt(v: float | None, unit: str = " s") -> str:
        return "timed out / skipped" if v is None else f"{v:.2f}{unit}"

    n = r["rooms"]
    rows = [
        ("roster", f"{r['deputies']} deputies, {r['commissions']} commissions, "
                   f"{r['staff']} staff -> {n} rooms; concurrency {r['concurrency']}; "
                   f"order {r['order']}; AS endpoint {'on' if r['endpoint'] else 'off'}"),
        ("accounts (untimed)", f"{r['accounts_created']} created in {r['accounts_s']:.2f} s"),
        ("A kabinet apply", f"{r['a_s']:.2f} s  {n / r['a_s']:.1f} rooms/s  "
                            f"({r['a_rooms_created']} rooms, {r['a_invites']} invites, "
                            f"{r['a_writes']} writes, {r['a_requests']} requests)"),
        ("B raw createRoom", f"{r['b_s']:.2f} s  {n / r['b_s']:.1f} rooms/s  "
                             f"({r['b_rooms_created']} rooms, {r['b_invites']} invites)"),
        ("CPU during A", f"bench+AS {r['a_cpu_self_s']:.1f} s, synapse {r['a_cpu_synapse_s']:.1f} s"),
        ("CPU during B", f"bench+AS {r['b_cpu_self_s']:.1f} s, synapse {r['b_cpu_synapse_s']:.1f} s"),
        ("ratio A/B", f"{r['ratio_a_b']:.2f}  (goal <= 1.3: "
                      f"{'ok' if r['ratio_a_b'] <= 1.3 else 'MISSED'}; the second phase runs on "
                      f"a fuller server: compare with{'out' if r['order'] == 'B,A' else ''} "
                      f"--raw-first)"),
        ("A all joined after", opt(r["a_joined_s"]) + "  (from the start of A)"),
        ("A AS caught up after", opt(r["a_drained_s"]) + "  (last event handled)"),
        ("B all joined after", opt(r["b_joined_s"]) + "  (from the start of B)"),
        ("B AS caught up after", opt(r["b_drained_s"]) + "  (last event handled)"),
        ("C no-change apply", f"{r['c_s']:.2f} s, {r['c_writes']} writes  (goal < 3 s: "
                              f"{'ok' if r['c_s'] < 3 else 'MISSED'})"),
        ("peak RSS bench+AS", f"{r['self_maxrss_mib']:.1f} MiB"),
        ("peak RSS synapse", opt(r["synapse_hwm_mib"], " MiB")),
        ("AS events handled", str(r["as_events_handled"])),
        ("load average (1 min)", f"{r['load_start']:.2f} at start, {r['load_end']:.2f} at end "
                                 f"({os.cpu_count()} CPUs; other work skews timings)"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--deputies", type=int, default=120)
    p.add_argument("--commissions", type=int, default=15)
    p.add_argument("--staff", type=int, default=5)
    p.add_argument("--concurrency", type=int, help="requests in flight (default: settings, 8)")
    p.add_argument("--no-joins", action="store_true", help="do not wait for auto-accepted joins")
    p.add_argument("--join-timeout", type=float, default=600.0)
    p.add_argument("--no-endpoint", action="store_true",
                   help="do not serve the appservice endpoint (no transactions pushed to us)")
    p.add_argument("--raw-first", action="store_true", help="run B before A (order bias check)")
    p.add_argument("--keep", action="store_true", help="keep the data dir (Synapse logs, DBs)")
    args = p.parse_args(argv)
    if min(args.deputies, args.commissions, args.staff) < 1:
        p.error("--deputies, --commissions and --staff must be at least 1")
    data_dir = Path(tempfile.mkdtemp(prefix="kabinet-bench-"))
    try:
        r = event_loop.run(run(args, data_dir))
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    r["data_dir"] = str(data_dir) if args.keep else None
    print(table(r))
    failed = r["c_writes"] != 0 or r["a_problems"] or r["c_problems"]
    if r["c_writes"]:
        print(f"FAIL: the no-change re-apply wrote {r['c_writes']} times:", *r["c_changes"],
              sep="\n  ")
    for line in r["a_problems"] + r["c_problems"]:
        print(f"FAIL: problem reported: {line}")
    RESULTS.mkdir(exist_ok=True)
    gitignore = RESULTS / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("*\n!.gitignore\n")
    out = RESULTS / f"provision-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(r, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"results: {out.relative_to(REPO)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
