"""`kabinet restore DIR`: an installation back from a `kabinet backup` folder (kabinet/backup.py).

Refused, with nothing written: a folder without a manifest (not a backup, or an unfinished
one) or with any file that differs from it (every checksum is checked first); a data dir that
a Kabinet holds (kabinet/lock.py); a data dir, or a PostgreSQL database, that already holds
something, unless `--force`; a backup whose database kind, homeserver topology (Synapse on
SQLite, or on PostgreSQL with workers) or homeserver name the configuration does not share.

In the workers topology, Kabinet's and Synapse's databases are first created on the store's
PostgreSQL server if missing, Synapse's with the collation it requires
(`SynapseWorkers.ensure_databases`, as `kabinet up` does). Then, holding the data dir's lock:
every file is copied (and checked again) into `<data dir>/.restoring`, each PostgreSQL dump is
loaded with pg_restore in one transaction (Kabinet's, then Synapse's), and the copies are moved
into place. With `--force` the data dir's previous content is moved
aside to `<data dir>.before-restore-<time>`, not deleted (a PostgreSQL database is replaced).
`kabinet up` then starts as before: it writes homeserver.yaml and the appservice registration
again for this data dir and its ports, from the restored secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.engine import make_url

from kabinet.backup import (
    FORMAT,
    HOMESERVER_DB,
    HOMESERVER_PGDUMP,
    KABINET_PGDUMP,
    KABINET_SQLITE,
    MANIFEST,
    VERSION,
    copy_file,
    hash_file,
    human,
)
from kabinet.backup_postgres import (
    BackupError,
    create_databases,
    homeserver_database_url,
    restore_dump,
    tables_in,
)
from kabinet.core import Core
from kabinet.features import CommonOptions, Subparsers
from kabinet.lock import LOCK_FILE, DataDirInUse, DataDirLock, holder
from kabinet.secrets import DIR_MODE

STAGE = ".restoring"
SHOWN_PROBLEMS = 10


@dataclass(frozen=True)
class Restored:
    files: int
    size: int
    created: str
    aside: Path | None
    databases: list[str]  # PostgreSQL databases loaded with pg_restore (URLs without passwords)


def _entries(manifest: dict[str, Any], where: Path) -> list[dict[str, Any]]:
    files = manifest.get("files")
    if not isinstance(files, list):
        raise BackupError(f"{where}: no list of files")
    for f in files:
        if not (isinstance(f, dict) and isinstance(f.get("path"), str)
                and isinstance(f.get("bytes"), int) and isinstance(f.get("sha256"), str)):
            raise BackupError(f"{where}: a file entry is not {{path, part, bytes, sha256}}: {f!r}")
        rel = PurePosixPath(f["path"])
        if rel.is_absolute() or any(p in ("", ".", "..") for p in rel.parts) \
                or rel.parts[0] in (STAGE, LOCK_FILE):
            raise BackupError(f"{where}: names a path outside the backup: {f['path']!r}")
    return files


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{folder} has no {MANIFEST}: it is not a Kabinet backup, or one that "
                          f"did not finish") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not the manifest of a Kabinet backup")
    if manifest.get("version") != VERSION:
        raise BackupError(f"{path}: backup format version {manifest.get('version')!r}; this "
                          f"Kabinet reads version {VERSION}")
    files = _entries(manifest, path)
    wanted = KABINET_SQLITE if manifest.get("database") == "sqlite" else KABINET_PGDUMP
    if wanted not in {f["path"] for f in files}:
        raise BackupError(f"{path}: the backup holds no Kabinet database ({wanted})")
    return manifest


def verify(folder: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest names is there, with its size and SHA-256."""
    problems: list[str] = []
    for f in manifest["files"]:
        try:
            size, digest = hash_file(folder / f["path"])
        except FileNotFoundError:
            problems.append(f"{f['path']}: missing")
            continue
        except OSError as exc:
            problems.append(f"{f['path']}: cannot be read ({exc.strerror})")
            continue
        if size != f["bytes"]:
            problems.append(f"{f['path']}: {size} bytes, the manifest says {f['bytes']}")
        elif digest != f["sha256"]:
            problems.append(f"{f['path']}: its SHA-256 differs from the manifest's")
    if problems:
        more = len(problems) - SHOWN_PROBLEMS
        shown = problems[:SHOWN_PROBLEMS] + ([f"… and {more} more"] if more > 0 else [])
        raise BackupError(f"the backup in {folder} is damaged; nothing was restored:\n  "
                          + "\n  ".join(shown))


def _sqlite_path(core: Core) -> Path | None:
    return Path(make_url(core.settings.db_url).database or "") if core.store.is_sqlite else None


def occupied(data: Path, database: Path | None) -> list[str]:
    """What the data dir (and a SQLite database kept outside it) already holds."""
    found: list[str] = []
    if database is not None and database.exists() and not database.is_relative_to(data):
        found.append(str(database))
    for folder, _dirs, files in os.walk(data):
        found += [os.path.join(folder, n) for n in files
                  if not (Path(folder) == data and n == LOCK_FILE)]
    return found


def _check_target(core: Core, manifest: dict[str, Any]) -> None:
    s = core.settings
    kind = "sqlite" if core.store.is_sqlite else "postgresql"
    if manifest.get("database") != kind:
        raise BackupError(f"the backup holds Kabinet's database on {manifest.get('database')}, "
                          f"and this configuration's database is on {kind}: restore with a "
                          f"configuration whose database_url is on {manifest.get('database')}")
    paths = {f["path"] for f in manifest["files"]}
    workers = homeserver_database_url(s) is not None
    if HOMESERVER_PGDUMP in paths and not workers:
        raise BackupError("the backup holds the homeserver's database on PostgreSQL (the workers "
                          "topology), and this configuration has no homeserver.workers: restore "
                          "with a configuration that enables it (docs/synapse-workers.md)")
    if HOMESERVER_DB in paths and workers:
        raise BackupError("the backup holds the homeserver's database on SQLite, and this "
                          "configuration runs Synapse on PostgreSQL (homeserver.workers): restore "
                          "with the configuration the backup was taken with")
    has_homeserver = bool(paths & {HOMESERVER_DB, HOMESERVER_PGDUMP})
    if has_homeserver and manifest.get("server_name") != s.homeserver.server_name:
        raise BackupError(f"the backup's homeserver is named {manifest.get('server_name')!r} and "
                          f"this configuration's homeserver.server_name is "
                          f"{s.homeserver.server_name!r}: a homeserver keeps its name")


def _move_aside(data: Path, database: Path | None) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = data.with_name(f"{data.name}.before-restore-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = data.with_name(f"{data.name}.before-restore-{stamp}-{n}")
    aside.mkdir(mode=DIR_MODE)
    for child in data.iterdir():
        if child.name not in (LOCK_FILE, STAGE):
            os.replace(child, aside / child.name)
    if database is not None and not database.is_relative_to(data):
        for suffix in ("", "-wal", "-shm", "-journal"):
            other = database.with_name(database.name + suffix)
            if other.exists():
                shutil.move(other, aside / other.name)
    return aside


def _stage(folder: Path, stage: Path, manifest: dict[str, Any]) -> tuple[int, int]:
    if stage.exists():
        shutil.rmtree(stage)  # left by an interrupted restore: ours
    stage.mkdir(mode=DIR_MODE)
    count = size = 0
    for f in manifest["files"]:
        if f["path"] in (KABINET_PGDUMP, HOMESERVER_PGDUMP):
            continue  # loaded into a database, not copied
        copied = copy_file(folder / f["path"], stage / f["path"])
        if copied != (f["bytes"], f["sha256"]):
            raise BackupError(f"{f['path']} changed in the backup while it was restored; "
                              f"nothing was restored")
        count, size = count + 1, size + copied[0]
    return count, size


def _move_in(stage: Path, data: Path, database: Path | None) -> None:
    for child in stage.iterdir():
        if child.name == KABINET_SQLITE and database is not None:
            database.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            shutil.move(child, database)  # the configured path (by default this one)
        else:
            os.replace(child, data / child.name)
    stage.rmdir()
    os.sync()


async def restore(core: Core, folder: Path, force: bool) -> Restored:
    s = core.settings
    data = s.data_dir.resolve()
    if (running := await asyncio.to_thread(holder, data)) is not None:
        raise DataDirInUse(data, running)
    manifest = await asyncio.to_thread(read_manifest, folder)
    _check_target(core, manifest)
    database = _sqlite_path(core)
    # PostgreSQL databases that the dumps go into: (url, dump, holds tables already)
    loads: list[tuple[str, Path, bool]] = []
    if database is None:
        homeserver = homeserver_database_url(s)
        if homeserver is not None:
            await asyncio.to_thread(create_databases, s)
        for url, name in ((s.db_url, KABINET_PGDUMP), (homeserver, HOMESERVER_PGDUMP)):
            if url is not None:
                loads.append((url, folder / name, await tables_in(url) > 0))
    files = await asyncio.to_thread(occupied, data, database)
    found = files + [f"tables in {make_url(url).render_as_string(hide_password=True)}"
                     for url, _dump, tables in loads if tables]
    if found and not force:
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        raise BackupError(f"the target already holds an installation ({found[0]}{more}): "
                          f"restore into a new data dir (and a new, empty database), or add "
                          f"--force to replace what it holds")
    await asyncio.to_thread(verify, folder, manifest)  # before anything is written
    lock = DataDirLock.acquire(data, command="restore")
    try:
        stage = data / STAGE
        try:
            count, size = await asyncio.to_thread(_stage, folder, stage, manifest)
            for i, (url, dump, tables) in enumerate(loads):
                try:
                    await asyncio.to_thread(restore_dump, url, dump, tables)
                except BackupError as exc:
                    if not i:
                        raise
                    raise BackupError(f"{exc}\nKabinet's database was loaded already and the "
                                      f"data dir was left as it was: restore again with "
                                      f"--force") from None
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        aside = await asyncio.to_thread(_move_aside, data, database) if files else None
        await asyncio.to_thread(_move_in, stage, data, database)
    finally:
        lock.release()
    return Restored(count, size, str(manifest.get("created")), aside,
                    [make_url(url).render_as_string(hide_password=True) for url, *_ in loads])


async def cmd_restore(core: Core, args: argparse.Namespace) -> int:
    began = time.monotonic()
    try:
        done = await restore(core, args.dir, args.force)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await core.store.close()
    data = core.settings.data_dir
    db = "".join(f"the database {url} (pg_restore), " for url in done.databases)
    print(f"restored the backup of {done.created} into {data} in {time.monotonic() - began:.1f} s: "
          f"{db}{done.files} files, {human(done.size)}")
    if done.aside is not None:
        print(f"what {data} held before is in {done.aside}")
    print(f"start it with: kabinet up --data-dir {data} (and the same --config)")
    return 0


def add_command(sub: Subparsers, common: CommonOptions) -> None:
    p = sub.add_parser("restore", help="restore an installation from a `kabinet backup` folder "
                       "into a stopped, empty data dir")
    p.add_argument("dir", type=Path, help="the backup folder (with manifest.json)")
    p.add_argument("--force", action="store_true",
                   help="replace what the data dir (or database) holds; its files are moved aside")
    common(p)
    p.set_defaults(run=cmd_restore)
