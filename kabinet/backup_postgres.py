"""PostgreSQL in `kabinet backup` and `kabinet restore` (kabinet/backup.py, kabinet/restore.py):
the error said to people, PostgreSQL's client tools (pg_dump, pg_restore) and the URLs they
take, snapshots exported for pg_dump, and where the workers topology keeps Synapse's database
(kabinet/synapse_workers.py names it and creates it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from kabinet.config import Settings
from kabinet.synapse_process import HomeserverError
from kabinet.synapse_workers import SynapseWorkers


class BackupError(Exception):
    """A backup or a restore refused or failed; the message says why, for people."""


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy PostgreSQL URL as pg_dump and pg_restore take it, and their environment:
    the password goes there (PGPASSWORD), never on a command line others can read."""
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    query = {("sslmode" if k == "ssl" else k): v for k, v in u.query.items()}
    return u.set(drivername="postgresql", password=None, query=query).render_as_string(
        hide_password=False), env


def run_tool(tool: str, *args: str, env: dict[str, str]) -> None:
    path = shutil.which(tool)
    if path is None:
        raise BackupError(f"{tool} is not installed: PostgreSQL's client tools are needed for a "
                          f"database on PostgreSQL (Debian: apt-get install postgresql-client)")
    done = subprocess.run([path, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{tool} failed (exit code {done.returncode}): "
                          f"{done.stderr.strip()[-2000:]}")


def dump(url: str, snapshot: str, path: Path) -> None:
    """pg_dump's custom format of the database at url, as the exported snapshot sees it."""
    dsn, env = libpq(url)
    run_tool("pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={path}",
             f"--dbname={dsn}", env=env)


def homeserver_database_url(settings: Settings) -> str | None:
    """Synapse's PostgreSQL database in the workers topology (on the server of Kabinet's store,
    named as kabinet/synapse_workers.py names it), as a SQLAlchemy URL; None otherwise."""
    hs = settings.homeserver
    if not (hs.embedded and hs.workers.enabled):
        return None
    try:
        name = SynapseWorkers(settings.data_dir, hs, settings.db_url).database
    except HomeserverError as exc:
        raise BackupError(str(exc)) from None
    return make_url(settings.db_url).set(database=name).render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def pinned_snapshot(url: str) -> AsyncIterator[str]:
    """A PostgreSQL snapshot, exported from a read transaction held open until the block ends
    (pg_dump --snapshot reads it)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            pinned = await conn.execution_options(isolation_level="REPEATABLE READ")
            yield str(await pinned.scalar(text("SELECT pg_export_snapshot()")))
    finally:
        await engine.dispose()


async def tables_in(url: str) -> int:
    """How many tables the database at url holds outside PostgreSQL's own schemas."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text(
                "SELECT count(*) FROM pg_catalog.pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")) or 0)
    except (SQLAlchemyError, OSError) as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise BackupError(f"cannot reach the database {shown}: {exc}") from None
    finally:
        await engine.dispose()


def create_databases(s: Settings) -> None:
    """The workers topology: both databases, created if missing (Synapse's collation)."""
    try:
        SynapseWorkers(s.data_dir, s.homeserver, s.db_url).ensure_databases()
    except HomeserverError as exc:
        raise BackupError(str(exc)) from None


def restore_dump(url: str, dump: Path, clean: bool) -> None:
    """pg_restore in one transaction; `clean`: replace what the database holds."""
    dsn, env = libpq(url)
    run_tool("pg_restore", f"--dbname={dsn}", "--no-owner", "--no-privileges",
             "--single-transaction", "--exit-on-error",
             *(["--clean", "--if-exists"] if clean else []), str(dump), env=env)
