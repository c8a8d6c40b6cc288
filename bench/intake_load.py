"""The intake load for bench/appeals.py: closed-loop submitters POSTing appeals (JSON), run in a
process of their own so that the client's work does not share the measured server's event loop
(bench/load.py's reason), and the yardstick: a bare aiohttp handler taking the same POST.

    .venv/bin/python -m bench.intake_load URL --n 400 --submitters 20 --deputies a,b,c,d

prints one JSON line: n, submitters, per_s, p50_ms, p99_ms, max_ms, errors. The first
`--warmup` appeals (connections opened) are sent but not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]


def fields(i: int, tag: str, deputy: str) -> dict[str, Any]:
    return {"name": f"Бенчмарк Громадянин {i}", "residence": "м. Тестове, вул. Вимірна, 1",
            "email": f"citizen{i}@example.org", "subject": f"Тест {tag} {i}",
            "text": f"{tag}-{i}: прошу розглянути.", "consent": True, "addressee_deputy": deputy}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


async def drive(url: str, n: int, submitters: int, deputies: list[str], tag: str,
                warmup: int = 0) -> dict[str, Any]:
    """`submitters` clients, each POSTing its next appeal as soon as the last one answered."""
    lat: list[float] = []
    errors: dict[str, int] = {}

    async def burst(numbers: list[int], record: bool) -> None:
        async def submitter() -> None:
            while numbers:
                i = numbers.pop()
                t0 = time.perf_counter()
                try:
                    async with http.post(f"{url}/api/v1/appeals",
                                         json=fields(i, tag, deputies[i % len(deputies)])) as r:
                        await r.read()
                        status = r.status
                except (aiohttp.ClientError, OSError) as exc:
                    status = type(exc).__name__  # type: ignore[assignment]
                if status != 201:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                if record:
                    lat.append(time.perf_counter() - t0)
        await asyncio.gather(*(submitter() for _ in range(submitters)))

    connector = aiohttp.TCPConnector(limit=submitters)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as http:
        await burst(list(range(n, n + warmup)), record=False)
        t0 = time.perf_counter()
        await burst(list(range(n)), record=True)
        wall = time.perf_counter() - t0
    return {"n": n, "submitters": submitters, "per_s": n / wall, "p50_ms": pct(lat, 50) * 1e3,
            "p99_ms": pct(lat, 99) * 1e3, "max_ms": max(lat, default=0.0) * 1e3,
            "errors": errors}


async def in_process(args: list[str], module: str = "bench.intake_load") -> dict[str, Any]:
    """Runs this module (or another bench module printing one JSON line) as its own process
    with `args`; its JSON line."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", module, *args,
                                                stdout=asyncio.subprocess.PIPE,
                                                cwd=REPO)
    out, _ = await proc.communicate()
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


async def bare_app(port: int) -> web.AppRunner:
    """The yardstick: aiohttp reading the same JSON body and answering 201, storing nothing."""
    async def submit(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"number": "Д-0000/000000", "token": "x", "status_url": "x",
                                  "deadline": str(len(body))}, status=201)

    app = web.Application()
    app.router.add_post("/api/v1/appeals", submit)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--submitters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=40)
    p.add_argument("--deputies", default="")
    p.add_argument("--tag", default="intake")
    a = p.parse_args(argv)
    result = asyncio.run(drive(a.url.rstrip("/"), a.n, a.submitters, a.deputies.split(","),
                               a.tag, a.warmup))
    print(json.dumps(result))
    return 0 if not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
