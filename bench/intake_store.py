"""The store alone, for bench/appeals.py, in a process of its own (its heap and its loop are
not the measured server's):

    .venv/bin/python -m bench.intake_store --db sqlite --n 1000 --submitters 20

prints one JSON line. 20 concurrent callers register appeals one after another, (a) one
transaction each — the way intake went before group commit (on SQLite behind one lock, as
web/appeals did) — and (b) through the intake batcher (council/appeals/intake.py): one
transaction for all the appeals waiting at that moment. On a database of its own (a temporary
file, or a throw-away PostgreSQL database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench.intake_load import pct
from council import appeals
from council.store import Store
from kabinet import event_loop

CTX = appeals.Context(server_name="localhost", ghost_prefix="kabinet_",
                      base_url="http://127.0.0.1:1")


def admin_url() -> str:
    return os.environ.get("KABINET_BENCH_PG", os.environ.get(
        "KABINET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))


@asynccontextmanager
async def database(kind: str) -> AsyncIterator[str | None]:
    """None for "sqlite" (the caller's file) or a throw-away PostgreSQL database's URL."""
    if kind == "sqlite":
        yield None
        return
    import asyncpg

    name = f"kabinet_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url())
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield f"{admin_url().rsplit('/', 1)[0]}/{name}"
    finally:
        admin = await asyncpg.connect(admin_url())
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def new_appeal(i: int, deputy: str) -> appeals.NewAppeal:
    return appeals.NewAppeal(
        name=f"Бенчмарк Громадянин {i}", residence="м. Тестове, вул. Вимірна, 1",
        subject=f"Тест store {i}", text=f"store-{i}: прошу розглянути.",
        email=f"citizen{i}@example.org", addressee_kind="deputy", addressee_deputy=deputy)


async def closed_loop(n: int, submitters: int, one: Callable[[int], Awaitable[Any]]
                      ) -> dict[str, Any]:
    todo = list(range(n))
    lat: list[float] = []

    async def submitter() -> None:
        while todo:
            i = todo.pop()
            t0 = time.perf_counter()
            await one(i)
            lat.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    await asyncio.gather(*(submitter() for _ in range(submitters)))
    wall = time.perf_counter() - t0
    return {"n": n, "submitters": submitters, "per_s": n / wall, "p50_ms": pct(lat, 50) * 1e3,
            "p99_ms": pct(lat, 99) * 1e3, "max_ms": max(lat) * 1e3}


async def store_level(kind: str, deputies: list[str], n: int, submitters: int
                      ) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="kabinet-bench-store-") as tmp:
        async with database(kind) as pg:
            url = pg.replace("postgresql://", "postgresql+asyncpg://") if pg else \
                f"sqlite+aiosqlite:///{Path(tmp) / 'store.db'}"
            store = Store(url)
            await store.migrate()
            try:
                lock = asyncio.Lock()

                async def single(i: int) -> None:
                    if store.is_sqlite:
                        await lock.acquire()
                    try:
                        async with store.session() as s:
                            await appeals.register(s, CTX, new_appeal(i, deputies[i % len(deputies)]))
                    finally:
                        if store.is_sqlite:
                            lock.release()
                await closed_loop(2 * submitters, submitters, single)  # warm-up
                out["one transaction per appeal"] = await closed_loop(n, submitters, single)
                try:
                    from council.appeals.intake import Intake
                except ImportError:
                    return out
                intake = Intake(store, CTX)
                await intake.start()
                try:
                    async def batched(i: int) -> None:
                        await intake.register(new_appeal(i, deputies[i % len(deputies)]))
                    await closed_loop(2 * submitters, submitters, batched)
                    out["group commit (intake batcher)"] = await closed_loop(n, submitters,
                                                                             batched)
                finally:
                    await intake.stop()
            finally:
                await store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--submitters", type=int, default=20)
    p.add_argument("--deputies", default="bondar")
    a = p.parse_args(argv)
    print(json.dumps(event_loop.run(store_level(a.db, a.deputies.split(","), a.n, a.submitters))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
