"""A small HTTP load generator (wrk's job, in aiohttp): `--connections` keep-alive connections
send GETs one after another for `--duration` seconds; prints one JSON line with the figures.

    .venv/bin/python -m bench.load http://127.0.0.1:8080/ --connections 16 --duration 5
    .venv/bin/python -m bench.load URL --header 'If-None-Match: "abc"'      # the 304 path

Run it as its own process (bench/pages.py does), so that it does not share an event loop or a
CPU with the server it measures. A request is counted in the window it *ends* in; the first
`--warmup` seconds are sent but not counted (connections opened, caches warm). A Python client
is slower than wrk: against a bare aiohttp handler it is usually the bottleneck, which is why
bench/pages.py reports ratios against a minimal handler measured with this same client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter

import aiohttp


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


async def _connection(session: aiohttp.ClientSession, url: str, counted_from: float, until: float,
                      latencies: list[float], statuses: Counter[str]) -> None:
    """One keep-alive connection's worth of requests, one after another."""
    while (start := time.perf_counter()) < until:
        try:
            async with session.get(url, allow_redirects=False) as response:
                await response.read()
                status = str(response.status)
        except (aiohttp.ClientError, OSError) as exc:
            status = type(exc).__name__
        end = time.perf_counter()
        if counted_from <= end <= until:
            latencies.append(end - start)
            statuses[status] += 1


async def run(url: str, connections: int, duration: float, warmup: float,
              headers: dict[str, str]) -> dict[str, object]:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout,
                                     auto_decompress=False) as session:
        begin = time.perf_counter()
        counted_from, until = begin + warmup, begin + warmup + duration
        await asyncio.gather(*(_connection(session, url, counted_from, until, latencies, statuses)
                               for _ in range(connections)))
    latencies.sort()
    ok = sum(n for s, n in statuses.items() if s in ("200", "304"))
    return {
        "url": url, "connections": connections, "duration_s": duration,
        "requests": len(latencies), "rps": len(latencies) / duration,
        "p50_ms": percentile(latencies, 50) * 1000, "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else 0.0,
        "statuses": dict(statuses), "errors": len(latencies) - ok,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--duration", type=float, default=5.0, help="seconds counted")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds sent but not counted")
    p.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    args = p.parse_args(argv)
    headers = dict((h.split(":", 1)[0].strip(), h.split(":", 1)[1].strip()) for h in args.header)
    result = asyncio.run(run(args.url, args.connections, args.duration, args.warmup, headers))
    print(json.dumps(result))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
