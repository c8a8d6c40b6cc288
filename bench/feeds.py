"""Feeds benchmark: feed entries to cards in the announcements room, against raw sends.

    .venv/bin/python -m bench.feeds                    # 1,000 entries in one feed; 20 feeds × 50
    .venv/bin/python -m bench.feeds --entries 100 --feeds 5 --per-feed 10   # a smoke run

Starts its own installation (small roster, temporary data dir, embedded Synapse) as
`kabinet up` does, serves feeds from a local aiohttp server on loopback, and in the same run:
(R) raw: the bot sends N plain messages into the announcements room with `PUT /send` and the
    as_token, one after another (the order a room's outbox keeps): what the homeserver costs;
(A) one feed of N entries: from the poll's start (fetch, parse, store, enqueue) until the last
    card is sent (delivery marks it sent once the homeserver has it);
(B) F feeds of M entries each, polled at once (bounded concurrency): the same.
Reported: seconds to the last post, posts per second, and A/R and B/R per post; the exit status
is 1 if a card is missing or doubled in the room. Results are printed and written to
bench/results/feeds-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bridges.feeds import FeedPoller  # noqa: E402
from council import rooms  # noqa: E402
from council.feeds.cards import FEED_KEY  # noqa: E402
from council.models import OutboxMessage  # noqa: E402
from council.roster import load_roster  # noqa: E402
from kabinet import event_loop  # noqa: E402
from kabinet.config import FeedsConfig, FeedSource  # noqa: E402
from kabinet.wiring import Kabinet, Running, start  # noqa: E402
from tests.conftest import test_settings  # noqa: E402
from tests.matrix_helpers import settle  # noqa: E402
from tests.test_feeds_bridge import FeedServer, Route, rss  # noqa: E402

ROSTER = REPO / "tests" / "data" / "small-roster.yaml"
RESULTS = Path(__file__).resolve().parent / "results"


def feed_body(prefix: str, n: int) -> bytes:
    return rss([(f"{prefix}-{i}", f"Новина {prefix} №{i}",
                 f"Mon, {1 + i % 28:02d} Nov 2026 {i % 24:02d}:{i % 60:02d}:00 GMT")
                for i in range(n, 0, -1)], summary="Короткий <b>зміст</b> новини " * 10)


async def raw_sends(running: Running, room: str, n: int) -> float:
    hs = running.kabinet.hs
    headers = {"Authorization": f"Bearer {hs.as_token}"}
    start = time.perf_counter()
    async with aiohttp.ClientSession(headers=headers) as http:
        for i in range(n):
            async with http.put(f"{hs.url}/_matrix/client/v3/rooms/{room}/send/m.room.message/"
                                f"raw-{uuid.uuid4().hex}", json={"msgtype": "m.text",
                                                                 "body": f"сирий {i}"}) as resp:
                resp.raise_for_status()
    return time.perf_counter() - start


async def pending(running: Running) -> int:
    async with running.kabinet.store.session() as s:
        return int(await s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.key.like("feed:%"), OutboxMessage.status == "pending")) or 0)


async def poll_until_posted(running: Running, server: FeedServer, names: list[str],
                            timeout: float = 1800) -> float:
    config = FeedsConfig(sources=[FeedSource(name=n, url=server.url(n)) for n in names],
                         interval=3600, timeout=120, max_bytes=32 * 1024 * 1024)
    kabinet = running.kabinet
    poller = FeedPoller(kabinet.store, lambda: config, lambda: ZoneInfo("Europe/Kyiv"),
                        kabinet.delivery.poke)
    start = time.perf_counter()
    await poller.round()
    while await pending(running):
        if time.perf_counter() - start > timeout:
            raise TimeoutError("cards still pending")
        await asyncio.sleep(0.1)
    return time.perf_counter() - start


async def cards_in_room(running: Running, room: str) -> dict[tuple[str, str], int]:
    hs = running.kabinet.hs
    counts: dict[tuple[str, str], int] = {}
    token = None
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {hs.as_token}"}) as http:
        while True:
            query = {"dir": "b", "limit": "1000", **({"from": token} if token else {})}
            async with http.get(f"{hs.url}/_matrix/client/v3/rooms/{room}/messages",
                                params=query) as resp:
                page = await resp.json()
            for e in page.get("chunk", []):
                mark = e.get("content", {}).get(FEED_KEY)
                if mark and "entry" in mark:
                    k = (mark["feed"], mark["entry"])
                    counts[k] = counts.get(k, 0) + 1
            token = page.get("end")
            if not page.get("chunk") or not token:
                return counts


async def run(entries: int, feeds_n: int, per_feed: int) -> dict[str, Any]:
    roster = load_roster(ROSTER)
    data_dir = Path(tempfile.mkdtemp(prefix="kabinet-bench-feeds-"))
    running = await start(Kabinet(test_settings(data_dir, ROSTER), roster))
    server = FeedServer()
    await server.start()
    try:
        await settle(running.kabinet, roster)
        room = await rooms.room_id(running.kabinet.store, rooms.announcements())
        assert room
        server.routes["big"] = Route(feed_body("big", entries))
        many = [f"f{i:02d}" for i in range(feeds_n)]
        for name in many:
            server.routes[name] = Route(feed_body(name, per_feed))
        raw = await raw_sends(running, room, entries)
        one = await poll_until_posted(running, server, ["big"])
        several = await poll_until_posted(running, server, many)
        counts = await cards_in_room(running, room)
        expected = entries + feeds_n * per_feed
        return {
            "entries_one_feed": entries, "feeds": feeds_n, "entries_per_feed": per_feed,
            "raw_send_s": round(raw, 3), "raw_posts_per_s": round(entries / raw, 1),
            "one_feed_s": round(one, 3), "one_feed_posts_per_s": round(entries / one, 1),
            "many_feeds_s": round(several, 3),
            "many_feeds_posts_per_s": round(feeds_n * per_feed / several, 1),
            "ratio_one_feed_raw": round(one / raw, 2),
            "ratio_many_feeds_raw_per_post": round((several / (feeds_n * per_feed)) / (raw / entries), 2),
            "cards_in_room": len(counts), "cards_expected": expected,
            "doubled": sum(c > 1 for c in counts.values()),
        }
    finally:
        await server.stop()
        await running.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1000, help="entries in the one big feed")
    parser.add_argument("--feeds", type=int, default=20, help="feeds polled at once")
    parser.add_argument("--per-feed", type=int, default=50, help="entries in each of those")
    args = parser.parse_args()
    result = event_loop.run(run(args.entries, args.feeds, args.per_feed))
    for key, value in result.items():
        print(f"{key:>32}: {value}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"feeds-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out}")
    ok = result["doubled"] == 0 and result["cards_in_room"] == result["cards_expected"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
