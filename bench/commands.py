"""Commands benchmark: a deputy's `!ping` to the bot's answer, against raw Synapse calls.

    .venv/bin/python -m bench.commands                 # 200 commands, 10 % poisoned in phase P
    .venv/bin/python -m bench.commands --n 50          # a smoke run

Starts its own installation (small roster, temporary data dir, embedded Synapse) as
`kabinet up` does, and in the same run, from one deputy's account with plain client calls:
(R) raw: the deputy sends N messages with `PUT /send` (8 in flight); the time until all are
    sent — what the homeserver costs for the commands alone;
(K) Kabinet: the deputy sends N `!ping` the same way; the time until the bot's N answers are in
    the room (homeserver → appservice transaction → handler → outbox → homeserver);
(P) poisoned: as K, with every tenth message failing in a handler (a bug, as a test installs
    it): the time until the N good answers are in the room; the bad ones must hold nothing.
Ratios K/R and P/K are reported; the exit status is 1 if an answer is missing or doubled.
Results are printed and written to bench/results/commands-<timestamp>.json.
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

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from council import inbox  # noqa: E402
from council.roster import load_roster  # noqa: E402
from kabinet import event_loop  # noqa: E402
from kabinet.wiring import Kabinet, Running, start  # noqa: E402
from tests.conftest import test_settings  # noqa: E402
from tests.matrix_helpers import settle  # noqa: E402

ROSTER = REPO / "tests" / "data" / "small-roster.yaml"
RESULTS = Path(__file__).resolve().parent / "results"
POISON = "☠"


class Poison:
    """A handler with a bug: it raises on messages carrying the marker."""

    event_types = frozenset({"m.room.message"})

    async def __call__(self, event: Any, _session: Any) -> None:
        if POISON in (getattr(event.content, "body", "") or ""):
            raise RuntimeError("a bug in a handler")


class Deputy:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = aiohttp.ClientSession()

    async def send(self, room: str, bodies: list[str], concurrency: int = 8) -> list[str]:
        limit = asyncio.Semaphore(concurrency)

        async def one(body: str) -> str:
            async with limit, self.http.put(
                    f"{self.url}/_matrix/client/v3/rooms/{room}/send/m.room.message/"
                    f"{uuid.uuid4().hex}", json={"msgtype": "m.text", "body": body},
                    headers=self.headers) as resp:
                resp.raise_for_status()
                return str((await resp.json())["event_id"])
        return await asyncio.gather(*(one(b) for b in bodies))


async def login(url: str, user: str, password: str) -> str:
    async with aiohttp.ClientSession() as http, http.post(
            f"{url}/_matrix/client/v3/login", json={
                "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                "password": password}) as resp:
        resp.raise_for_status()
        return str((await resp.json())["access_token"])


async def answers(running: Running, room: str, wanted: set[str]) -> dict[str, int]:
    """How many bot replies each wanted event has, read from the room timeline."""
    kabinet = running.kabinet
    counts = dict.fromkeys(wanted, 0)
    token = None
    while True:
        query = {"dir": "b", "limit": "1000", **({"from": token} if token else {})}
        async with aiohttp.ClientSession() as http, http.get(
                f"{kabinet.hs.url}/_matrix/client/v3/rooms/{room}/messages", params=query,
                headers={"Authorization": f"Bearer {kabinet.hs.as_token}"}) as resp:
            page = await resp.json()
        for e in page.get("chunk", []):
            target = e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
            if e["sender"] == kabinet.hs.bot_mxid and target in counts:
                counts[target] += 1
        token = page.get("end")
        if not page.get("chunk") or not token:
            return counts


async def until_answered(running: Running, room: str, wanted: set[str], timeout: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        counts = await answers(running, room, wanted)
        if all(counts.values()):
            return time.perf_counter() - start
        await asyncio.sleep(0.2)
    raise TimeoutError(f"not every command was answered within {timeout:.0f} s")


async def run(n: int) -> dict[str, Any]:
    roster = load_roster(ROSTER)
    data_dir = Path(tempfile.mkdtemp(prefix="kabinet-bench-commands-"))
    running = await start(Kabinet(test_settings(data_dir, ROSTER), roster))
    deputy_http: Deputy | None = None
    try:
        await settle(running.kabinet, roster)
        url = running.kabinet.hs.url
        who = roster.deputies[0]
        deputy_http = Deputy(url, await login(url, who.id, who.password or ""))
        room = await running.kabinet.hs.resolve_alias("#kabinet_lounge:localhost")

        t = time.perf_counter()
        await deputy_http.send(room, [f"повідомлення {i}" for i in range(n)])
        raw = time.perf_counter() - t

        t = time.perf_counter()
        pings = await deputy_http.send(room, ["!ping"] * n)
        kabinet_s = (time.perf_counter() - t) + await until_answered(running, room, set(pings), 600)
        doubled = sum(c > 1 for c in (await answers(running, room, set(pings))).values())

        running.kabinet.transactions.handlers.append(Poison())
        bodies = [f"{POISON} {i}" if i % 10 == 9 else "!ping" for i in range(n)]
        t = time.perf_counter()
        sent = await deputy_http.send(room, bodies)
        good = {e for e, b in zip(sent, bodies, strict=True) if b == "!ping"}
        poisoned_s = (time.perf_counter() - t) + await until_answered(running, room, good, 600)
        failures = await inbox.failure_counts(running.kabinet.store)
        return {
            "n": n, "raw_send_s": round(raw, 3), "kabinet_s": round(kabinet_s, 3),
            "poisoned_s": round(poisoned_s, 3), "ratio_kabinet_raw": round(kabinet_s / raw, 2),
            "ratio_poisoned_kabinet": round(poisoned_s / kabinet_s, 2),
            "commands_per_s": round(n / kabinet_s, 1), "doubled_answers": doubled,
            "failed_events_waiting": failures["waiting"], "poisoned_sent": n - len(good),
        }
    finally:
        if deputy_http is not None:
            await deputy_http.http.close()
        await running.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="commands per phase")
    args = parser.parse_args()
    result = event_loop.run(run(args.n))
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"commands-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out}")
    ok = result["doubled_answers"] == 0 and result["failed_events_waiting"] == result["poisoned_sent"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
