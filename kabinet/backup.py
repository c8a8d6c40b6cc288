"""`kabinet backup DIR`: a consistent copy of an installation, taken while it runs.

What is inside (each file with its size and SHA-256 in `DIR/manifest.json`):
- Kabinet's database: `kabinet.db` (SQLite, through SQLite's online backup API) or
  `kabinet.pgdump` (PostgreSQL: `pg_dump`'s custom format);
- the embedded homeserver's database: `homeserver.db` (SQLite's online backup API) or, in the
  workers topology (docs/synapse-workers.md), `homeserver.pgdump` (`pg_dump` of Synapse's
  PostgreSQL database, named by homeserver.workers);
- `secrets.yaml` and Synapse's `signing.key`; `appservice-registration.yaml` and
  `homeserver.yaml`, which are made from those secrets;
- Kabinet's file store (`files/`), Synapse's media store (`media_store/`), the demo's mail.

The order, and why it is consistent without stopping anything:
1. Both databases' snapshots are pinned at one moment, Kabinet's first and the homeserver's
   right after it (a read transaction on each, opened one after the other; on PostgreSQL an
   exported snapshot that pg_dump then reads, one per database), and only then copied.
   Kabinet records a room after the homeserver made it, and the homeserver forgets an
   appservice transaction only once Kabinet has stored what it carried and answered. So the
   homeserver's snapshot, the later one, holds every room and event Kabinet's names, and the
   events Kabinet had not yet stored are still waiting in it as unsent transactions (sent
   again at the next start, kabinet/stranded.py; a repeat is ignored by its event id).
2. Then the files. Both stores only ever add files: Kabinet's blob store is content-addressed
   (written under a temporary name and renamed, before the row that names it is committed; no
   row that names a blob is ever deleted, so the orphan collector never removes a file a
   snapshot names), and Synapse writes a media file before the row that announces it. Every
   file the snapshots name was complete when they were pinned, and is copied; a file added
   meanwhile is copied or not, and nothing in the snapshots names it.
3. The manifest, last: a folder without one is an unfinished backup; `kabinet restore`
   refuses it (kabinet/restore.py).

Right after the snapshots, the running installation's store and homeserver get a new pairing
mark (appservice/roster/pairing.py): the backup holds the old one in both databases, so a
restore of one of them alone is noticed at the next apply, which then reads every room again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from appservice.roster import pairing
from council.files.blobs import TEMP_PREFIX
from kabinet.backup_postgres import BackupError, dump, homeserver_database_url, pinned_snapshot
from kabinet.bot_client import NoRegistration, bot_client
from kabinet.core import Core
from kabinet.features import CommonOptions, Subparsers
from kabinet.lock import DataDirInUse, holder
from kabinet.secrets import DIR_MODE, FILE_MODE

FORMAT = "kabinet-backup"
VERSION = 1
MANIFEST = "manifest.json"
KABINET_SQLITE = "kabinet.db"
KABINET_PGDUMP = "kabinet.pgdump"
HOMESERVER_DB = "homeserver.db"
HOMESERVER_PGDUMP = "homeserver.pgdump"
DATABASE_PARTS = ("kabinet-database", "homeserver-database")
# Besides the databases, in this order: (part, path in the data dir); a tree is copied whole,
# but for files still being written under a temporary name.
SINGLE_FILES = (("secrets", "secrets.yaml"), ("secrets", "signing.key"),
                ("homeserver-config", "appservice-registration.yaml"),
                ("homeserver-config", "homeserver.yaml"))
TREES = (("file-store", "files"), ("media-store", "media_store"), ("demo-mail", "demo-mail"))
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    path: str  # relative, with "/"
    part: str
    size: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "part": self.part, "bytes": self.size, "sha256": self.sha256}


def hash_file(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def copy_file(src: Path, dst: Path) -> tuple[int, str]:
    """Copy src into a new file dst (0600); the size and SHA-256 of the bytes written."""
    dst.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as fin:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as fout:
            while chunk := fin.read(CHUNK):
                fout.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    return size, digest.hexdigest()


class SqliteSnapshot:
    """One SQLite database whose snapshot is pinned by a read transaction until it is copied
    (in WAL mode, as Kabinet and Synapse run theirs, a reader blocks no writer)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=30,
                                    isolation_level=None, check_same_thread=False)

    def pin(self) -> None:
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot

    def copy(self, target: Path, name: str, part: str) -> Entry:
        dst = target / name
        os.close(os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))  # 0600 first
        with contextlib.closing(sqlite3.connect(dst)) as out:
            self.conn.backup(out)  # in one step, from the pinned snapshot
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            check = out.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the copy of {name} fails SQLite's check: {check}")
        return Entry(name, part, *hash_file(dst))

    def close(self) -> None:
        self.conn.close()


def pg_dump(url: str, snapshot: str, target: Path, name: str, part: str) -> Entry:
    dst = target / name
    dump(url, snapshot, dst)
    dst.chmod(FILE_MODE)
    return Entry(name, part, *hash_file(dst))


def _tree(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder, name)
            if not name.startswith(TEMP_PREFIX) and not name.endswith(".tmp") \
                    and path.is_file() and not path.is_symlink():
                yield path


def copy_files(data: Path, target: Path) -> list[Entry]:
    """Everything but the databases, copied after their snapshots were pinned."""
    out: list[Entry] = []
    sources = [(part, data / name) for part, name in SINGLE_FILES if (data / name).is_file()]
    sources += [(part, path) for part, name in TREES for path in _tree(data / name)]
    for part, src in sources:
        rel = src.relative_to(data).as_posix()
        try:
            out.append(Entry(rel, part, *copy_file(src, target / rel)))
        except FileNotFoundError:
            continue  # removed meanwhile: an orphan, never a file a snapshot names
    return out


def _new_folder(target: Path, data: Path) -> None:
    if target.resolve().is_relative_to(data.resolve()):
        raise BackupError(f"{target} is inside the data dir {data}: a backup there is lost with it")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} is not an empty folder: a backup goes into a new one")
    target.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    target.chmod(DIR_MODE)


def _write_manifest(target: Path, manifest: dict[str, Any]) -> None:
    tmp = target / (MANIFEST + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target / MANIFEST)
    dir_fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def parts_of(files: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    parts: dict[str, dict[str, int]] = {}
    for f in files:
        part = parts.setdefault(f["part"], {"files": 0, "bytes": 0})
        part["files"] += 1
        part["bytes"] += f["bytes"]
    return parts


def _version() -> str:
    try:
        return metadata.version("kabinet")
    except metadata.PackageNotFoundError:
        return "unknown"


def _check_homeserver_database(data: Path, url: str | None) -> None:
    """The embedded Synapse's own config (homeserver.yaml, as it last ran) must put its
    database where this configuration says: on SQLite in the data dir, or on PostgreSQL in
    the database that homeserver.workers names. A backup never leaves it out silently."""
    try:
        config = yaml.safe_load((data / "homeserver.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return
    database = config.get("database") if isinstance(config, dict) else None
    if not isinstance(database, dict) or database.get("name") != "psycopg2":
        if url is not None and (data / HOMESERVER_DB).exists():
            raise BackupError(f"the embedded homeserver's database is on SQLite in {data}, and "
                              f"this configuration has homeserver.workers (PostgreSQL): back up "
                              f"with the configuration it runs with; nothing was written")
        return
    args = database.get("args")
    runs_on = (args.get("dbname") or args.get("database")) if isinstance(args, dict) else None
    if url is None:
        raise BackupError(f"the embedded homeserver's database is on PostgreSQL ({runs_on}, "
                          f"{data / 'homeserver.yaml'}), and this configuration has no "
                          f"homeserver.workers: back up with the configuration it runs with; "
                          f"nothing was written")
    if runs_on != make_url(url).database:
        raise BackupError(f"the embedded homeserver runs on the PostgreSQL database {runs_on}, and "
                          f"this configuration names {make_url(url).database} "
                          f"(homeserver.workers.database): nothing was written")


def _snapshot(path: Path) -> SqliteSnapshot | None:
    return SqliteSnapshot(path) if path.is_file() else None


async def _databases(core: Core, target: Path, homeserver_url: str | None) -> list[Entry]:
    """Pin Kabinet's snapshot, then the homeserver's; then copy both."""
    s = core.settings
    homeserver = None if homeserver_url else await asyncio.to_thread(
        _snapshot, s.data_dir / HOMESERVER_DB)  # the workers topology: on PostgreSQL instead
    out: list[Entry] = []
    try:
        if core.store.is_sqlite:
            db = Path(make_url(s.db_url).database or "")
            if (kabinet := await asyncio.to_thread(_snapshot, db)) is None:
                raise BackupError(f"no Kabinet database at {db}: nothing to back up "
                                  f"(is --data-dir or --config right?)")
            try:
                kabinet.pin()
                if homeserver is not None:
                    homeserver.pin()
                out.append(await asyncio.to_thread(kabinet.copy, target, KABINET_SQLITE,
                                                   "kabinet-database"))
            finally:
                kabinet.close()
        else:
            async with contextlib.AsyncExitStack() as pinned:
                snapshot = await pinned.enter_async_context(pinned_snapshot(s.db_url))
                if homeserver_url is not None:  # the workers topology: Synapse on PostgreSQL
                    synapse = await pinned.enter_async_context(pinned_snapshot(homeserver_url))
                    dumps = await asyncio.gather(  # both to their end, before any cleanup
                        asyncio.to_thread(pg_dump, s.db_url, snapshot, target, KABINET_PGDUMP,
                                          "kabinet-database"),
                        asyncio.to_thread(pg_dump, homeserver_url, synapse, target,
                                          HOMESERVER_PGDUMP, "homeserver-database"),
                        return_exceptions=True)
                    for dump in dumps:
                        if isinstance(dump, BaseException):
                            raise dump
                        out.append(dump)
                else:
                    if homeserver is not None:
                        homeserver.pin()
                    out.append(await asyncio.to_thread(pg_dump, s.db_url, snapshot, target,
                                                       KABINET_PGDUMP, "kabinet-database"))
        if homeserver is not None:
            out.append(await asyncio.to_thread(homeserver.copy, target, HOMESERVER_DB,
                                               "homeserver-database"))
    finally:
        if homeserver is not None:
            homeserver.close()
    return out


async def take(core: Core, target: Path) -> dict[str, Any]:
    """Write a backup of core's installation into target (new or empty); its manifest."""
    s = core.settings
    began, started = time.monotonic(), datetime.now(UTC)  # the snapshots follow at once
    running = await asyncio.to_thread(holder, s.data_dir)
    if running is not None and running.command == "restore":
        raise DataDirInUse(s.data_dir, running)
    homeserver_url = homeserver_database_url(s)
    await asyncio.to_thread(_check_homeserver_database, s.data_dir, homeserver_url)
    await asyncio.to_thread(_new_folder, target, s.data_dir)
    try:
        entries = await _databases(core, target, homeserver_url)
        unpaired = await _new_pairing(core, running.homeserver_url if running else None)
        entries += await asyncio.to_thread(copy_files, s.data_dir, target)
        await asyncio.to_thread(os.sync)  # every copy on disk before the manifest says so
        files = [e.as_json() for e in entries]
        manifest = {
            "format": FORMAT, "version": VERSION, "kabinet": _version(),
            "created": started.isoformat(timespec="seconds"),
            "source": str(s.data_dir.resolve()), "server_name": s.homeserver.server_name,
            "homeserver": "embedded" if s.homeserver.embedded else "external",
            "database": "sqlite" if core.store.is_sqlite else "postgresql",
            "took_seconds": round(time.monotonic() - began, 2),
            "parts": parts_of(files), "files": files, "unpaired": unpaired,
        }
        await asyncio.to_thread(_write_manifest, target, manifest)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # it was empty: no half backup is left
        raise
    return manifest


async def _new_pairing(core: Core, homeserver_url: str | None) -> str | None:
    """A new pairing mark for the running installation; why it could not be given to both
    sides, or None. Not a reason to fail the backup: marks left apart cost one full read of
    every room at the next apply, never a stale cache."""
    try:
        hs = bot_client(core, homeserver_url)
    except NoRegistration as exc:
        return str(exc)
    try:
        await hs.open()
        await pairing.pair(hs, core.store)
    except Exception as exc:  # the homeserver down, an older store: the next apply reads all
        return f"{type(exc).__name__}: {exc}"
    finally:
        await hs.close()
    return None


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError


def describe(manifest: dict[str, Any], target: Path) -> str:
    parts = manifest["parts"]
    total = sum(p["bytes"] for p in parts.values())
    count = sum(p["files"] for p in parts.values())
    lines = [f"backup of {manifest['source']} written to {target} in "
             f"{manifest['took_seconds']:.1f} s: {count} files, {human(total)}"]
    lines += [f"  {name:<20} {p['files']:>6} file{'' if p['files'] == 1 else 's'} "
              f"{human(p['bytes']):>11}"
              for name, p in parts.items()]
    if manifest.get("unpaired"):
        lines.append(f"  the homeserver was not told of this backup ({manifest['unpaired']}): "
                     "the next roster apply reads every room once")
    if manifest["homeserver"] == "external":
        lines.append("  the homeserver is external: back up its database and media with its "
                     "own tools")
    lines.append(f"restore with: kabinet restore {target} --data-dir <a new data dir>")
    return "\n".join(lines)


async def cmd_backup(core: Core, args: argparse.Namespace) -> int:
    try:
        manifest = await take(core, args.dir)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await core.store.close()
    print(describe(manifest, args.dir))
    return 0


def add_command(sub: Subparsers, common: CommonOptions) -> None:
    p = sub.add_parser("backup", help="copy the installation (both databases, files, media, "
                       "secrets) into a new folder, while it runs")
    p.add_argument("dir", type=Path, help="a new or empty folder")
    common(p)
    p.set_defaults(run=cmd_backup)
