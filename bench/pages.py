"""Public pages benchmark: `/`, `/deputies` and `/sittings/{id}` against a minimal aiohttp
handler, measured in the same run from a second process on loopback.

    .venv/bin/python -m bench.pages                       # 16 connections, 5 s per target
    .venv/bin/python -m bench.pages --duration 2          # a smoke run
    .venv/bin/python -m bench.pages --label before        # tag the JSON (before/after a change)

Starts the demo council as `kabinet up --demo` does (embedded Synapse, SQLite, temporary data
dir), waits until the demo's rooms and messages are delivered (so that background work does not
skew the figures), and serves a bare aiohttp app (one handler answering "ok") on another port of
the same event loop. Each target is loaded by `bench/load.py` in its own process: 16 keep-alive
connections, fixed duration, after a warm-up. A page answering an `ETag` is measured a second
time with `If-None-Match` (the 304 path). The bare handler is measured first and last; the
faster run counts. Goals (the issue): every page ≥ 0.5× the bare handler's requests/s.
Results are printed and written to bench/results/pages-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.provision import free_port  # noqa: E402
from council.models import OutboxMessage  # noqa: E402
from council.roster import load_roster  # noqa: E402
from council.sittings import AgendaItem  # noqa: E402
from kabinet import event_loop  # noqa: E402
from kabinet.config import load_settings  # noqa: E402
from kabinet.wiring import Kabinet, start  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEMO_ROSTER = REPO / "config" / "council.example.yaml"
GOAL_RATIO = 0.5


async def bare_app(port: int) -> web.AppRunner:
    """The yardstick: aiohttp with one handler and nothing else."""
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def load(url: str, args: argparse.Namespace, headers: dict[str, str] | None = None
               ) -> dict[str, Any]:
    """bench/load.py in its own process, against url."""
    cmd = [sys.executable, "-m", "bench.load", url, "--connections", str(args.connections),
           "--duration", str(args.duration), "--warmup", str(args.warmup)]
    for name, value in (headers or {}).items():
        cmd += ["--header", f"{name}: {value}"]
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


async def quiet(k: Kabinet, limit: float = 180.0) -> None:
    """Until the demo's outbox is delivered and stays so for 3 s (or `limit` passes)."""
    deadline, calm_since = time.monotonic() + limit, None
    while time.monotonic() < deadline:
        async with k.store.session() as s:
            pending = await s.scalar(select(func.count()).select_from(OutboxMessage)
                                     .where(OutboxMessage.status == "pending"))
        if pending:
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= 3:
            return
        await asyncio.sleep(0.5)


async def busiest_sitting(k: Kabinet) -> int:
    """The demo sitting with the most agenda items (the plenary)."""
    async with k.store.session() as s:
        row = (await s.execute(select(AgendaItem.sitting_id, func.count())
                               .group_by(AgendaItem.sitting_id)
                               .order_by(func.count().desc()).limit(1))).first()
    if row is None:
        raise RuntimeError("the demo has no sitting with drafts")
    return int(row[0])


async def etag_of(url: str) -> str | None:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        resp.raise_for_status()
        await resp.read()
        return resp.headers.get("ETag")


async def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    settings = load_settings(None, data_dir=data_dir, roster=DEMO_ROSTER, **{
        "web.port": free_port(), "homeserver.port": free_port(), "homeserver.bcrypt_rounds": 4})
    running = await start(Kabinet(settings, load_roster(DEMO_ROSTER)), demo=True)
    k = running.kabinet
    bare_port = free_port()
    bare = await bare_app(bare_port)
    r: dict[str, Any] = {"label": args.label, "connections": args.connections,
                         "duration_s": args.duration, "cpus": os.cpu_count(), "targets": {}}
    try:
        await quiet(k)
        sid = await busiest_sitting(k)
        base = settings.web.base_url.rstrip("/")
        bare_url = f"http://127.0.0.1:{bare_port}/"
        r["load_start"] = os.getloadavg()[0]
        first = await load(bare_url, args)
        for name, path in (("/", "/"), ("/deputies", "/deputies"),
                           ("/sittings/{id}", f"/sittings/{sid}")):
            url = base + path
            result = {"200": await load(url, args)}
            tag = await etag_of(url)
            if tag:
                result["304"] = await load(url, args, {"If-None-Match": tag})
            r["targets"][name] = result
        last = await load(bare_url, args)
        r["bare"] = max(first, last, key=lambda x: x["rps"])
        r["bare_runs_rps"] = [first["rps"], last["rps"]]
        r["sitting_id"], r["load_end"] = sid, os.getloadavg()[0]
    finally:
        await bare.cleanup()
        await running.stop()
    return r


def table(r: dict[str, Any]) -> str:
    bare = r["bare"]["rps"]

    def line(name: str, m: dict[str, Any]) -> str:
        ratio = m["rps"] / bare if bare else 0.0
        bad = f"  errors {m['errors']} {m['statuses']}" if m["errors"] else ""
        return (f"{name:<22} {m['rps']:>9.0f} {m['p50_ms']:>8.1f} {m['p99_ms']:>8.1f} "
                f"{ratio:>7.3f}{bad}")

    rows = [f"{'target':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'× bare':>7}",
            line("bare aiohttp", r["bare"])]
    for name, m in r["targets"].items():
        rows.append(line(name, m["200"]))
        if "304" in m:
            rows.append(line(f"{name} (304)", m["304"]))
    verdicts = [f"{n}: {'ok' if m['200']['rps'] / bare >= GOAL_RATIO else 'MISSED'}"
                for n, m in r["targets"].items()]
    rows += [f"goal >= {GOAL_RATIO}x bare (200 path): " + ", ".join(verdicts),
             f"{r['connections']} connections, {r['duration_s']} s per target, bare runs "
             f"{', '.join(f'{x:.0f}' for x in r['bare_runs_rps'])} req/s; sitting {r['sitting_id']}; "
             f"load average {r['load_start']:.2f} -> {r['load_end']:.2f} ({r['cpus']} CPUs)"]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--label", default="", help="a tag stored in the JSON (e.g. before, after)")
    p.add_argument("--keep", action="store_true", help="keep the data dir")
    args = p.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="kabinet-bench-pages-"))
    try:
        r = event_loop.run(run(args, data_dir))
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(table(r))
    RESULTS.mkdir(exist_ok=True)
    gitignore = RESULTS / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("*\n!.gitignore\n")
    out = RESULTS / f"pages-{time.strftime('%Y%m%d-%H%M%S')}{'-' + args.label if args.label else ''}.json"
    out.write_text(json.dumps(r, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"results: {out.relative_to(REPO)}")
    errors = sum(m["errors"] for t in r["targets"].values() for m in t.values())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
