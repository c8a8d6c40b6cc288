"""Several Kabinet processes for one council over one PostgreSQL store: which of them does the
background work (docs/scaling-out.md).

Every process serves the web site and the appservice endpoint; what they must agree on is in the
store (handled event ids, outbox and mail rows, sessions). The council's background work —
outbox delivery, mail, the room workers, reminders, feeds, vote timers, housekeeping — runs in
one process only, the leader: the one that holds a PostgreSQL session advisory lock on a
connection of its own.

- Followers ask for the lock every RETRY seconds. PostgreSQL releases it when the leader's
  session ends: a stop, a crash, kill -9 (the kernel closes the socket), or, for a host that
  vanished, when the TCP keepalives set on that session give up (SESSION).
- The leader checks its connection every CHECK seconds. A check that fails or takes longer than
  CHECK_TIMEOUT, or the connection closing, means the lock may be gone: the background work is
  cancelled at once and the process follows again.
- A new leader starts its loops no sooner than SETTLE seconds after it took the lock: longer
  than an old leader that is still alive needs to notice that it lost it.
- A follower's pokes (a commit that queued a message wakes delivery) reach the leader as a
  NOTIFY, which the leader LISTENs for on its lock connection. A lost one costs at most a
  worker's idle time: every loop also polls.

On SQLite there is one process (the data dir lock, kabinet/lock.py) and it always leads:
nothing here talks to the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from council.store import Store
from council.worker import Worker

log = logging.getLogger(__name__)

# One leader per database (advisory locks belong to their database; a council has its own).
LOCK_KEY = 0x4B61_6269_6E65_7401  # "Kabinet" 0x01
CHANNEL = "kabinet_wake"
RETRY = 2.0  # seconds between a follower's tries
CHECK = 1.0  # seconds between the leader's checks of its connection
CHECK_TIMEOUT = 2.0  # a check (or a try) that takes longer: the connection is taken for lost
SETTLE = CHECK + CHECK_TIMEOUT  # what an old leader needs at most to notice its loss
CONNECT_TIMEOUT = 10.0
# PostgreSQL's end of the lock's connection. A leader whose host vanished (power, network) is
# given up after about idle + interval × count seconds of silence, or tcp_user_timeout for
# data it never acknowledged: about 10 s, well after the leader itself stopped (CHECK +
# CHECK_TIMEOUT), so the lock is never given away while its old holder still works.
SESSION = {"application_name": "kabinet leader lock", "tcp_keepalives_idle": "5",
           "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3",
           "tcp_user_timeout": "10000"}
ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

T = TypeVar("T")


class Lost(Exception):
    """The lock's connection failed: this process may no longer lead."""


class Leadership:
    """Whether this process does the background work, and the lock that says so."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.alone = store.is_sqlite  # one process: it leads, no lock
        self.leading = self.alone
        self.since: datetime | None = None  # when this process took the lock
        self.took_over = 0  # times it became the leader after following
        self._conn: asyncpg.Connection | None = None
        self._taken = 0.0  # monotonic time the lock was taken
        self._lost = asyncio.Event()
        self._check_task: asyncio.Task[None] | None = None
        self._relayed: list[tuple[str, Worker]] = []
        self._wakes: dict[str, list[Callable[[], None]]] = {}

    def relay(self, workers: Iterable[Worker],
              here: Mapping[Worker, Callable[[], None]] | None = None) -> None:
        """The workers whose pokes cross processes: a follower passes each poke on by the
        worker's class name; the leader then runs `here[worker]`, by default its poke."""
        for worker in dict.fromkeys(workers):
            name = type(worker).__name__
            self._relayed.append((name, worker))
            self._wakes.setdefault(name, []).append((here or {}).get(worker, worker.poke))

    async def report(self) -> dict[str, Any]:
        """For /healthz."""
        if self.alone:
            return {"leading": True, "alone": True}
        return {"leading": self.leading, "alone": False, "took_over": self.took_over,
                "since": self.since.isoformat() if self.since else None}

    # -- the lock ---------------------------------------------------------------------------

    async def try_lead(self) -> bool:
        """One try for the lock, without waiting; True if this process leads now."""
        if self.leading:
            return True
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._dsn(), timeout=CONNECT_TIMEOUT,
                                                   server_settings=SESSION)
            conn = self._conn
            if not await asyncio.wait_for(
                    conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY), CHECK_TIMEOUT):
                return False
            await conn.add_listener(CHANNEL, self._notified)
        except BaseException:
            self._drop()  # a lock taken on a connection we give up goes with it
            raise
        self._lost = asyncio.Event()
        self.leading, self._taken, self.since = True, time.monotonic(), datetime.now(UTC)
        conn.add_termination_listener(lambda _conn: self._lose("its connection closed"))
        self._check_task = asyncio.create_task(self._check(conn), name="leader-check")
        log.info("this process leads: it runs the council's background work")
        return True

    async def settled(self) -> None:
        """Until SETTLE seconds after the lock was taken (at once on SQLite)."""
        if not self.alone:
            await asyncio.sleep(max(0.0, self._taken + SETTLE - time.monotonic()))

    async def while_leading(self, work: Awaitable[T]) -> T:
        """`work`, cancelled at once (and Lost raised) if the lock may be lost meanwhile."""
        if self.alone:
            return await work
        if not self.leading:
            if asyncio.iscoroutine(work):
                work.close()  # never started
            raise Lost
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when we are cancelled: the work goes with us
            lost.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            raise Lost
        return task.result()

    async def run(self, lead: Callable[[bool], Awaitable[None]]) -> None:
        """For the life of the process: `lead(took_over)` while leading, following otherwise."""
        took_over = False
        try:
            while True:
                if not self.leading:
                    await self.follow()
                    took_over = True
                    self.took_over += 1
                    log.warning("this process took over as the leader; its background work "
                                "starts in %.0f s", SETTLE)
                try:
                    await self.while_leading(lead(took_over))
                except Lost:
                    pass
                except Exception:  # said, and the lead handed on rather than held without work
                    log.exception("the background work failed; giving up the lead")
                    await self.release()
                    await asyncio.sleep(RETRY)
        finally:
            await self.release()

    async def follow(self) -> None:
        """Until this process leads: a try every RETRY seconds; pokes passed on meanwhile."""
        relay = asyncio.create_task(self._pass_pokes_on(), name="leader-relay")
        failing = False
        try:
            while True:
                try:
                    if await self.try_lead():
                        return
                    if failing:
                        log.warning("PostgreSQL answers again; following the leader")
                    failing = False
                except ERRORS as exc:
                    if not failing:
                        log.warning("cannot ask PostgreSQL for the leader lock (%s); trying every "
                                    "%.0f s", type(exc).__name__, RETRY)
                    failing = True
                await asyncio.sleep(RETRY)
        finally:
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)

    async def release(self) -> None:
        """Give the lock back (its connection closes): a follower leads within RETRY + SETTLE."""
        self.leading, self.since = self.alone, None
        check, self._check_task = self._check_task, None
        if check is not None and check is not asyncio.current_task():
            check.cancel()
            await asyncio.gather(check, return_exceptions=True)
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), CHECK_TIMEOUT)
            except ERRORS:
                conn.terminate()

    async def _check(self, conn: asyncpg.Connection) -> None:
        while True:
            await asyncio.sleep(CHECK)
            try:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), CHECK_TIMEOUT)
            except ERRORS as exc:
                self._lose(f"a check failed with {type(exc).__name__}")
                return

    def _lose(self, reason: str) -> None:
        if not self.leading or self.alone:
            return  # released on purpose, or already lost
        self.leading, self.since = False, None
        self._lost.set()  # while_leading cancels the work in this same turn of the loop
        self._drop()
        check, self._check_task = self._check_task, None
        if check is not None and check is not asyncio.current_task():
            check.cancel()
        log.error("lost the leader lock (%s): background work stopped; following again", reason)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    def _dsn(self) -> str:
        return make_url(self.store.url).set(drivername="postgresql").render_as_string(
            hide_password=False)

    # -- pokes across processes -------------------------------------------------------------

    async def _pass_pokes_on(self) -> None:
        """A follower's side: each poke of a relayed worker becomes a NOTIFY with its name
        (pokes that come together go in one)."""
        pending: set[str] = set()
        ready = asyncio.Event()

        async def watch(name: str, worker: Worker) -> None:
            while True:
                await worker.poked()
                pending.add(name)
                ready.set()

        watchers = [asyncio.create_task(watch(n, w)) for n, w in self._relayed]
        try:
            while True:
                await ready.wait()
                ready.clear()
                names = ",".join(sorted(pending))
                pending.clear()
                await self._notify(names)
        finally:
            for w in watchers:
                w.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    async def _notify(self, names: str) -> None:
        try:
            async with self.store.engine.begin() as conn:
                await conn.execute(text("SELECT pg_notify(:channel, :names)"),
                                   {"channel": CHANNEL, "names": names})
        except (SQLAlchemyError, OSError) as exc:
            log.debug("pokes not passed on (%s); the leader's loops poll", type(exc).__name__)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        """The leader's side: a follower's pokes."""
        for name in payload.split(","):
            for wake in self._wakes.get(name, ()):
                wake()
