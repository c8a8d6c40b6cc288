"""The store: an async SQLAlchemy engine over SQLite (default) or PostgreSQL, migrated by Alembic."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, CursorResult, Engine, Result, Select, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import SingletonThreadPool
from sqlalchemy.sql.compiler import SQLCompiler

P = ParamSpec("P")
T = TypeVar("T")
MIGRATIONS = Path(__file__).with_name("migrations")
# Several Kabinet processes on one PostgreSQL database (docs/scaling-out.md) may start at once:
# each migrates under this transaction-scoped advisory lock, so the second finds the first's work.
MIGRATION_LOCK = 0x4B61_6269_6E65_7402  # "Kabinet" 0x02
# SQLSTATEs that say the server is away or going, not that a statement is wrong: connection
# exceptions (class 08), an administrator's or a crash's shutdown and a server still starting
# (57P01-57P03), no connection slot free (53300).
AWAY = ("08", "57P01", "57P02", "57P03", "53300")
# SQLite's words for a write lock not had within busy_timeout (SQLITE_BUSY, SQLITE_LOCKED).
SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


class Abandoned(Exception):
    """run_sync's caller was cancelled: its unit of work is rolled back, not committed."""


def dialect(session: AsyncSession | Session) -> str:
    """"postgresql" or "sqlite": the few statements that differ (row locks, upserts) ask this."""
    return session.get_bind().dialect.name


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched."""
    return cast(CursorResult[Any], result).rowcount or 0


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached right now (stopped, restarting, its
    connection cut, no connection to be had) rather than that something was wrong with what was
    asked: a known condition, answered 503 with Retry-After (web.errors) and retried. A
    transaction that failed so may or may not have committed; a retry with its idempotency key
    finds out."""
    if isinstance(exc, PoolTimeout):  # every pooled connection busy for pool_timeout
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:  # SQLAlchemy's own verdict: the connection is gone
            return True
        exc = exc.orig if isinstance(exc.orig, BaseException) else exc
    if isinstance(exc, sqlite3.OperationalError) and str(exc).startswith(SQLITE_BUSY):
        return True  # another writer held the file past busy_timeout: try again shortly
    state = getattr(exc, "sqlstate", None)  # asyncpg's errors, as they are or wrapped
    if isinstance(state, str) and state.startswith(AWAY):
        return True
    # asyncpg lets a socket's errors out unwrapped (refused, reset, timed out): counted only
    # when raised inside the driver, not from a homeserver call made during a unit of work.
    return isinstance(exc, OSError) and _raised_in("asyncpg", exc)


def _raised_in(package: str, exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        if name == package or name.startswith(package + "."):
            return True
        tb = tb.tb_next
    return False


def alembic_config(url: str | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


class Store:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.busy_timeout = 10.0  # seconds a SQLite write waits for another connection's lock
        if self.is_sqlite and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # A file needs no liveness ping before each use (a server does), and a pool as large as
        # the requests a busy page gets at once keeps them from opening overflow connections,
        # which are closed after each use and reopened (with their pragmas) on the next.
        pool: dict[str, Any] = ({"pool_size": 20, "max_overflow": 20} if self.is_sqlite
                                else {"pool_pre_ping": True})
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, **pool)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", self._pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._database = parsed.database if self.is_sqlite else None
        self._peeker: sqlite3.Connection | None = None
        self._compiled: dict[int, tuple[Select[Any], SQLCompiler]] = {}
        # run_sync's thread and engine on a SQLite file (a sync pysqlite engine on the same file),
        # made on first use and let go by close()
        self._one_hop = bool(self._database) and self._database != ":memory:"
        self._writer: ThreadPoolExecutor | None = None
        self._sync_engine: Engine | None = None
        self._abandoned = threading.Event()  # the writer's current unit of work's caller left

    async def read_one(self, statement: Select[Any], params: dict[str, Any]) -> tuple[Any, ...]:
        """One row of a small read, for hot paths (a page's revision). On SQLite it runs on the
        event loop's own thread: a read under WAL never waits for a writer, and a thread hop
        costs more than the read. Raw values (no type processing); it falls back to the pool if
        the file is busy (a checkpoint) or the read fails."""
        if self._database:
            try:
                return self._peek(statement, params)
            except sqlite3.Error:
                pass
        async with self.engine.connect() as conn:
            return tuple((await conn.execute(statement, params)).one())

    def _peek(self, statement: Select[Any], params: dict[str, Any]) -> tuple[Any, ...]:
        if self._peeker is None:
            conn = sqlite3.connect(self._database or "", check_same_thread=False, uri=False)
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=0")  # never wait on the loop's thread
            self._peeker = conn
        cached = self._compiled.get(id(statement))
        if cached is None or cached[0] is not statement:
            compiled = statement.compile(dialect=self.engine.dialect)
            assert isinstance(compiled, SQLCompiler)
            cached = self._compiled[id(statement)] = (statement, compiled)
        compiled = cached[1]
        values = {**compiled.params, **params}
        row = self._peeker.execute(compiled.string, [values[name] for name in
                                                     compiled.positiontup or ()]).fetchone()
        self._peeker.rollback()  # no snapshot kept open between reads
        return tuple(row)

    async def run_sync(self, fn: Callable[Concatenate[Session, P], T], *args: P.args,
                       **kwargs: P.kwargs) -> T:
        """`fn(session, *args)` as one unit of work (committed on success, rolled back on any
        error), for a hot write of several statements (the intake's batch). On PostgreSQL it is
        `AsyncSession.run_sync`. On SQLite the whole of it runs on a thread of its own, in one hop:
        awaited statement by statement, each would go to aiosqlite's thread and come back through
        an event loop busy with requests, and the file's one write lock would be held meanwhile
        (bench/appeals.py: a third more appeals a second at 20 submitters, a sixth less CPU).
        A caller cancelled before the commit (the site stopping) has it rolled back: the writer
        looks while it waits for the lock and before it commits. One cancelled during the commit
        may find it committed, as with any database."""
        if not self._one_hop:
            async with self.session() as session:
                return await session.run_sync(fn, *args, **kwargs)
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, "kabinet-sqlite-writer")
        abandoned = threading.Event()
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._writer, partial(self._write_here, abandoned, fn, *args, **kwargs))
        except asyncio.CancelledError:  # the writer rolls back unless it is already committing
            abandoned.set()
            raise

    def _write_here(self, abandoned: threading.Event, fn: Callable[..., T], *args: Any,
                    **kwargs: Any) -> T:
        if self._sync_engine is None:  # made on the writer's thread, used only there
            self._sync_engine = create_engine(self.url.replace("+aiosqlite", ""),
                                              poolclass=SingletonThreadPool)
            event.listen(self._sync_engine, "connect", self._writer_pragmas)
            event.listen(self._sync_engine, "begin", self._begin_immediate)
        self._abandoned = abandoned
        with Session(self._sync_engine, expire_on_commit=False) as session, session.begin():
            result = fn(session, *args, **kwargs)
            if abandoned.is_set():  # nobody waits for it: whoever asked was told it failed
                raise Abandoned("the caller was cancelled before the commit")
            return result

    def _pragmas(self, dbapi_conn: Any, _record: Any) -> None:
        # WAL lets `kabinet roster apply` and a running `kabinet up` share the file.
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    def _writer_pragmas(self, dbapi_conn: Any, record: Any) -> None:
        """The pragmas, and transactions begun by `_begin_immediate` rather than by the driver."""
        self._pragmas(dbapi_conn, record)
        dbapi_conn.execute("PRAGMA busy_timeout=0")  # its one wait is in _begin_immediate
        dbapi_conn.isolation_level = None

    def _begin_immediate(self, conn: Connection) -> None:
        """run_sync's transaction takes the file's write lock at once (its reads then see the
        latest commit), trying every half millisecond: SQLite's busy_timeout sleeps 1, 2, 5, 10,
        15, 20, 25 ms... between tries, and a batch of appeals that arrives while another writer
        holds the lock would wait up to the next step for nothing. Gives up after busy_timeout,
        as SQLite would."""
        give_up = time.monotonic() + self.busy_timeout
        while True:
            if self._abandoned.is_set():
                raise Abandoned("the caller was cancelled while waiting for the lock")
            try:  # through SQLAlchemy: a failure is a DBAPIError, as web.errors maps them
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except DBAPIError as exc:
                if not str(exc.orig).startswith(SQLITE_BUSY) or time.monotonic() > give_up:
                    raise
            time.sleep(0.0005)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed on success, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    def _close_writer(self) -> None:
        if self._sync_engine is not None:
            self._sync_engine.dispose()
            self._sync_engine = None

    async def migrate(self) -> None:
        def upgrade(conn: Connection) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

        async with self.engine.begin() as conn:
            if not self.is_sqlite:  # processes starting together migrate one after the other
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            await conn.run_sync(upgrade)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except (SQLAlchemyError, OSError):
            return False

    async def close(self) -> None:
        if self._peeker is not None:
            self._peeker.close()
            self._peeker = None
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await asyncio.get_running_loop().run_in_executor(writer, self._close_writer)
            writer.shutdown(wait=False)
        await self.engine.dispose()
