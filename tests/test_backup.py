"""`kabinet backup` and `kabinet restore`, run as the administrator runs them (the real CLI, in
a subprocess): a running installation is backed up while it runs, restored into a new data
dir and started there, and holds every appeal, draft (the same bytes, in Kabinet's store and
in the homeserver's media), room, membership and account it held. A damaged backup, a
non-empty data dir without --force and a data dir a Kabinet runs on are refused, writing
nothing. Kabinet's store on PostgreSQL goes through pg_dump and pg_restore; so does Synapse's
database in the workers topology (docs/synapse-workers.md), whose databases a restore creates
again when they are gone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import stat
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import yaml
from nio import JoinedRoomsResponse
from sqlalchemy import select

from appservice.roster import pairing
from council import appeals
from council import rooms as registry
from council.roster import load_roster
from council.sittings.tables import DraftVersion, Sitting
from council.store import Store
from kabinet.features.sittings_demo import draft_pdf
from kabinet.synapse_workers import PORTS
from tests.appeals_support import PDF, appeal_fields, appeal_id, form, room_of, timeline
from tests.conftest import (
    PG_ADMIN_URL,
    REPO,
    SMALL_ROSTER,
    Deputies,
    _pg_available,
    pg_databases,
    start_installation,
)
from tests.matrix_helpers import resolve, room_kind, settle
from tests.test_sittings_matrix import download, quiesce
from tests.test_synapse_workers import _redis_reason, free_block

TOKEN = "test-staff-token-" + uuid.uuid4().hex
STAFF = {"Authorization": f"Bearer {TOKEN}"}
ALL_PARTS = {"kabinet-database", "homeserver-database", "secrets", "homeserver-config",
             "file-store", "media-store"}


async def kabinet(*args: object, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The real command line, in its own process (the installation under test keeps running
    on this event loop meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kabinet", *map(str, args), cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 600)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if not p.is_dir()) if folder.exists() else []


def assert_private(folder: Path) -> None:
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


async def post(http: aiohttp.ClientSession, url: str, **kw: Any) -> dict[str, Any]:
    async with http.post(url, **kw) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


def draft_form(number: str, data: bytes) -> aiohttp.FormData:
    f = aiohttp.FormData()
    for k, v in {"number": number, "title": f"Про питання {number}", "initiator": "Виконком",
                 "commission": "budget"}.items():
        f.add_field(k, v)
    f.add_field("file", data, filename=f"proekt-{number}.pdf", content_type="application/pdf")
    return f


def sitting_body(title: str) -> dict[str, str]:
    return {"kind": "plenary", "number": "7", "title": title, "place": "Сесійна зала",
            "starts_at": (datetime.now() + timedelta(days=30)).replace(microsecond=0).isoformat()}


async def test_a_running_installation_is_backed_up_and_restored_into_a_new_data_dir(tmp_path: Path):
    roster = load_roster(SMALL_ROSTER)
    var, backup = tmp_path / "var", tmp_path / "backup"
    pdf = draft_pdf("1", "Про місцевий бюджет", "Виконком", ["Текст проєкту рішення."], pages=2)
    attachment = PDF + b"%" + uuid.uuid4().hex.encode() + b"\n"  # a blob of its own
    original = await start_installation(var, SMALL_ROSTER, staff_api_token=TOKEN)
    people = Deputies(original.kabinet.settings.homeserver.client_url)
    try:
        k = original.kabinet
        await settle(k, roster)
        async with aiohttp.ClientSession() as http:
            appeal = await post(http, f"{original.web_url}/api/v1/appeals", data=form(
                appeal_fields(), [("dovidka.pdf", attachment, "application/pdf")]))
            sitting = await post(http, f"{original.web_url}/api/v1/sittings", headers=STAFF,
                                 json=sitting_body(f"Сесія {uuid.uuid4().hex[:6]}"))
            draft = await post(http, f"{original.web_url}/api/v1/sittings/{sitting['id']}/drafts",
                               headers=STAFF, data=draft_form("1", pdf))
        appeal_room = await room_of(k, await appeal_id(k, appeal["number"]))
        await quiesce(k)  # the sitting's room made, the outbox drained (the draft uploaded)
        rooms = await registry.room_map(k.store)
        sitting_room = rooms[registry.sitting(sitting["id"])]
        bondar = await people.login("bondar", "test-deputy-1")
        joined = await bondar.joined_rooms()
        assert isinstance(joined, JoinedRoomsResponse)
        assert {appeal_room, sitting_room, rooms[registry.council_space()]} <= set(joined.rooms)
        [media] = [e["content"]["url"] for e in await timeline(k, sitting_room)
                   if e["type"] == "m.room.message" and e["content"].get("msgtype") == "m.file"]
        assert await download(bondar, k.hs.url, media) == pdf
        assert files_under(var / "media_store") and files_under(var / "files")

        began = time.monotonic()
        code, out, err = await kabinet("backup", backup, "--data-dir", var)
        took = time.monotonic() - began
        assert code == 0, err
        manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
        size = sum(f["bytes"] for f in manifest["files"])
        print(f"\nbackup of the running test installation: {took:.1f} s (the command), "
              f"{manifest['took_seconds']} s (the copy), {len(manifest['files'])} files, "
              f"{size / 1024 / 1024:.1f} MiB\n{out}")
        assert ALL_PARTS <= set(manifest["parts"]) and manifest["database"] == "sqlite"
        assert {f["path"] for f in manifest["files"]} == \
            {p.relative_to(backup).as_posix() for p in files_under(backup)} - {"manifest.json"}
        assert_private(backup)
        # The running pair got a new mark right after the snapshots; the backup holds the old.
        mark = await pairing.store_mark(k.store)
        assert mark is not None and mark == await pairing.homeserver_mark(k.hs)
        assert mark != backed_up_mark(backup / "kabinet.db") and manifest["unpaired"] is None

        async with aiohttp.ClientSession() as http:  # after the backup: not in it
            later = await post(http, f"{original.web_url}/api/v1/appeals", json=appeal_fields(
                subject="Після резервної копії"))
        code, _, err = await kabinet("restore", backup, "--data-dir", var, "--force")
        assert code == 1 and "in use by a running `kabinet up`" in err, err
    finally:
        await people.close()
        await original.stop()

    # A damaged backup: refused with the file named, nothing written.
    damaged, fresh = tmp_path / "damaged", tmp_path / "fresh"
    shutil.copytree(backup, damaged)
    victim = next(f["path"] for f in manifest["files"] if f["part"] == "media-store")
    flip_a_byte(damaged / victim)
    code, _, err = await kabinet("restore", damaged, "--data-dir", fresh)
    assert code == 2 and "is damaged; nothing was restored" in err and victim in err, err
    assert files_under(fresh) == []

    # A data dir that holds something: refused without --force; with it, moved aside.
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "kabinet.db").write_bytes(b"another installation")
    code, _, err = await kabinet("restore", backup, "--data-dir", busy)
    assert code == 2 and "already holds an installation" in err and "--force" in err, err
    assert files_under(busy) == [busy / "kabinet.db"]
    code, out, err = await kabinet("restore", backup, "--data-dir", busy, "--force")
    assert code == 0, err
    [aside] = [tmp_path / n for n in os.listdir(tmp_path) if n.startswith("busy.before-restore-")]
    assert (aside / "kabinet.db").read_bytes() == b"another installation" and str(aside) in out
    assert (busy / "kabinet.db").read_bytes() != b"another installation"

    # Restored into a new data dir and started there: everything as it was.
    restored_dir = tmp_path / "restored"
    code, out, err = await kabinet("restore", backup, "--data-dir", restored_dir)
    assert code == 0, err
    assert_private(restored_dir)
    restored = await start_installation(restored_dir, SMALL_ROSTER, staff_api_token=TOKEN)
    people = Deputies(restored.kabinet.settings.homeserver.client_url)
    try:
        k = restored.kabinet
        assert restored.report.changes == []  # every account, room and membership was there
        assert restored.report.state_reads == 0  # both databases from one moment: cache trusted
        assert await registry.room_map(k.store) == rooms
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{restored.web_url}/api/v1/appeals/{appeal['token']}") as r:
                assert r.status == 200 and (await r.json())["number"] == appeal["number"]
            async with http.get(f"{restored.web_url}/api/v1/appeals/{later['token']}") as r:
                assert r.status == 404
            async with http.get(f"{restored.web_url}{draft['download']}") as r:
                assert r.status == 200 and await r.read() == pdf
        async with k.store.session() as s:
            [stored] = await appeals.attachments(s, await appeal_id(k, appeal["number"]))
        assert k.blobs.read(stored.sha256) == attachment

        bondar = await people.login("bondar", "test-deputy-1")  # the account and its password
        joined_after = await bondar.joined_rooms()
        assert isinstance(joined_after, JoinedRoomsResponse)
        assert set(joined_after.rooms) == set(joined.rooms)
        alias = f"#{k.settings.appservice.alias_prefix}council:{k.settings.homeserver.server_name}"
        assert await resolve(bondar, alias) == rooms[registry.council_space()]
        assert await room_kind(bondar, sitting_room) == {"kind": "sitting",
                                                         "ref": str(sitting["id"])}
        assert await download(bondar, k.hs.url, media) == pdf  # the homeserver's media store
        await people.login("clerk", "test-clerk-1")
    finally:
        await people.close()
        await restored.stop()

    # Only Kabinet's database restored, onto the homeserver that went on after the backup: the
    # marks differ, so the start reads every room again instead of trusting the cache.
    for name in ("kabinet.db", "kabinet.db-wal", "kabinet.db-shm"):
        (var / name).unlink(missing_ok=True)
    shutil.copyfile(backup / "kabinet.db", var / "kabinet.db")
    one_restored = await start_installation(var, SMALL_ROSTER, staff_api_token=TOKEN)
    try:
        k = one_restored.kabinet
        first = one_restored.report
        assert first.state_reads > 0 and first.problems == [] and first.changes == []
        assert await pairing.store_mark(k.store) == await pairing.homeserver_mark(k.hs)
        assert (await k.apply_roster()).state_reads == 0  # paired again
        assert first.state_reads == (await k.apply_roster(full=True)).state_reads  # every room
    finally:
        await one_restored.stop()


def backed_up_mark(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        [(mark,)] = conn.execute("SELECT mark FROM pairing_mark").fetchall()
    return str(mark)


async def test_kabinet_on_postgresql_round_trips_through_pg_dump_and_pg_restore(tmp_path: Path):
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (Debian: postgresql-client)")
    if reason := await _pg_available():
        pytest.skip(reason)
    var, backup, restored = tmp_path / "var", tmp_path / "backup", tmp_path / "restored"
    pdf = draft_pdf("1", "Про тестове питання", "Виконком", ["Текст."])
    (tmp_path / "p1.pdf").write_bytes(pdf)
    day = (datetime.now() + timedelta(days=30)).date().isoformat()
    async with pg_databases(2) as (source, target):
        on_source = {**os.environ, "KABINET_DATABASE_URL": source}
        on_target = {**os.environ, "KABINET_DATABASE_URL": target}
        for args in (("sitting", "create", "--title", "Сесія на PostgreSQL", "--date", day,
                      "--place", "Зала"),
                     ("drafts", "add", 1, tmp_path / "p1.pdf", "--number", "1", "--title",
                      "Про тестове питання", "--initiator", "Виконком")):
            code, _, err = await kabinet(*args, "--data-dir", var, env=on_source)
            assert code == 0, err
        code, _, err = await kabinet("backup", backup, "--data-dir", var, env=on_source)
        assert code == 0, err
        manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["database"] == "postgresql" and (backup / "kabinet.pgdump").is_file()
        assert not (backup / "kabinet.db").exists()

        # Into a SQLite configuration: refused, saying why.
        code, _, err = await kabinet("restore", backup, "--data-dir", tmp_path / "on-sqlite")
        assert code == 2 and "on postgresql" in err, err

        code, _, err = await kabinet("restore", backup, "--data-dir", restored, env=on_target)
        assert code == 0, err
        store = Store(target)
        try:
            async with store.session() as s:
                assert await s.scalar(select(Sitting.title)) == "Сесія на PostgreSQL"
                digest = await s.scalar(select(DraftVersion.sha256))
        finally:
            await store.close()
        assert (restored / "files" / digest[:2] / digest).read_bytes() == pdf
        listed = [(await kabinet("sitting", "list", "--data-dir", d, env=env))[1]
                  for d, env in ((var, on_source), (restored, on_target))]
        assert listed[0] == listed[1] and "Сесія на PostgreSQL" in listed[0]

        # The target database now holds tables: a new data dir is not enough without --force.
        code, _, err = await kabinet("restore", backup, "--data-dir", tmp_path / "again",
                                     env=on_target)
        assert code == 2 and "tables in" in err, err
        code, _, err = await kabinet("restore", backup, "--data-dir", tmp_path / "again",
                                     "--force", env=on_target)
        assert code == 0, err


async def test_a_backup_that_would_miss_something_or_overwrite_something_is_refused(tmp_path: Path):
    var, backup = tmp_path / "var", tmp_path / "backup"
    day = (datetime.now() + timedelta(days=30)).date().isoformat()
    code, _, err = await kabinet("sitting", "create", "--title", "Сесія", "--date", day,
                                 "--place", "Зала", "--data-dir", var)
    assert code == 0, err
    code, _, err = await kabinet("backup", var / "backup", "--data-dir", var)
    assert code == 2 and "inside the data dir" in err, err
    backup.mkdir()
    (backup / "older.txt").write_text("an older backup")
    code, _, err = await kabinet("backup", backup, "--data-dir", var)
    assert code == 2 and "not an empty folder" in err, err
    assert files_under(backup) == [backup / "older.txt"]
    # A homeserver database on PostgreSQL (the workers topology) that this configuration does not
    # know of: refused, not silently left out.
    (var / "homeserver.yaml").write_text("database:\n  name: psycopg2\n  args: {database: syn}\n")
    code, _, err = await kabinet("backup", tmp_path / "new", "--data-dir", var)
    assert code == 2 and "on PostgreSQL" in err and not (tmp_path / "new").exists(), err
    # With homeserver.workers, the homeserver must run on the database the configuration names.
    workers = {**os.environ, "KABINET_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/council",
               "KABINET_HOMESERVER__WORKERS__ENABLED": "true"}
    code, _, err = await kabinet("backup", tmp_path / "new", "--data-dir", var, env=workers)
    assert code == 2 and "the PostgreSQL database syn" in err and "council_synapse" in err, err
    (var / "homeserver.yaml").write_text("database:\n  name: sqlite3\n")
    (var / "homeserver.db").write_bytes(b"")
    code, _, err = await kabinet("backup", tmp_path / "new", "--data-dir", var, env=workers)
    assert code == 2 and "on SQLite" in err and not (tmp_path / "new").exists(), err


async def test_the_workers_topology_is_backed_up_running_and_restored_onto_dropped_databases(
        tmp_path: Path):
    """Synapse on PostgreSQL with workers: its database is dumped (pg_dump, after Kabinet's
    snapshot) while everything runs; with both databases dropped, the restore creates them again
    (Synapse's with its collation) and loads both dumps, and the started installation has the
    appeal, the draft, the rooms and the deputy's memberships."""
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (Debian: postgresql-client)")
    if reason := await _pg_available() or await _redis_reason():
        pytest.skip(reason)
    roster = load_roster(SMALL_ROSTER)
    name = f"kabinet_test_{uuid.uuid4().hex[:12]}"
    databases = (name, f"{name}_synapse")  # Kabinet's; Synapse's, named by homeserver.workers
    server_name = f"{name.replace('_', '-')}.test"  # Synapse's channel on Redis is named after it
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    config = tmp_path / "kabinet.yaml"  # what the administrator's commands are given
    config.write_text(yaml.safe_dump({
        "database_url": url, "roster": str(SMALL_ROSTER), "homeserver": {
            "server_name": server_name, "workers": {"enabled": True}}}), encoding="utf-8")

    def overrides() -> dict[str, Any]:  # the same installation, on loopback ports free now
        return {"database_url": url, "staff_api_token": TOKEN,
                "homeserver.server_name": server_name, "homeserver.workers.enabled": True,
                "homeserver.workers.ports_from": free_block(PORTS)}

    async def drop_databases() -> None:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            for db in databases:
                await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        finally:
            await admin.close()

    var, backup, restored_dir = tmp_path / "var", tmp_path / "backup", tmp_path / "restored"
    pdf = draft_pdf("1", "Про бюджет на воркерах", "Виконком", ["Текст проєкту рішення."])
    try:
        original = await start_installation(var, SMALL_ROSTER, **overrides())
        people = Deputies(original.kabinet.settings.homeserver.client_url)
        try:
            k = original.kabinet
            await settle(k, roster)
            async with aiohttp.ClientSession() as http:
                appeal = await post(http, f"{original.web_url}/api/v1/appeals",
                                    json=appeal_fields())
                sitting = await post(http, f"{original.web_url}/api/v1/sittings", headers=STAFF,
                                     json=sitting_body("Сесія на воркерах"))
                draft = await post(http, f"{original.web_url}/api/v1/sittings/{sitting['id']}"
                                   f"/drafts", headers=STAFF, data=draft_form("1", pdf))
            appeal_room = await room_of(k, await appeal_id(k, appeal["number"]))
            await quiesce(k)  # the sitting's room made, the draft uploaded
            rooms = await registry.room_map(k.store)
            sitting_room = rooms[registry.sitting(sitting["id"])]
            bondar = await people.login("bondar", "test-deputy-1", server_name)
            joined = await bondar.joined_rooms()
            assert isinstance(joined, JoinedRoomsResponse)
            assert {appeal_room, sitting_room, rooms[registry.council_space()]} <= set(joined.rooms)
            [media] = [e["content"]["url"] for e in await timeline(k, sitting_room)
                       if e["type"] == "m.room.message"
                       and e["content"].get("msgtype") == "m.file"]

            began = time.monotonic()
            code, out, err = await kabinet("backup", backup, "--config", config, "--data-dir", var)
            assert code == 0, err
            print(f"\nbackup of the running workers topology: {time.monotonic() - began:.1f} s "
                  f"(the command)\n{out}")
            manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
            paths = {f["path"]: f["part"] for f in manifest["files"]}
            assert paths["homeserver.pgdump"] == "homeserver-database"
            assert paths["kabinet.pgdump"] == "kabinet-database" and "homeserver.db" not in paths
            assert (backup / "homeserver.pgdump").read_bytes()[:5] == b"PGDMP"  # custom format
            assert_private(backup)
        finally:
            await people.close()
            await original.stop()

        # Into a configuration without the workers topology: refused, saying why.
        code, _, err = await kabinet("restore", backup, "--data-dir", tmp_path / "alone",
                                     env={**os.environ, "KABINET_DATABASE_URL": url})
        assert code == 2 and "no homeserver.workers" in err, err
        await drop_databases()  # the server lost them: the restore makes them again
        code, out, err = await kabinet("restore", backup, "--config", config, "--data-dir",
                                       restored_dir)
        assert code == 0, err
        assert all(f"/{db} (pg_restore)" in out for db in databases), out
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            collation = await admin.fetchrow("SELECT datcollate, datctype FROM pg_database "
                                             "WHERE datname = $1", databases[1])
        finally:
            await admin.close()
        assert tuple(collation) == ("C", "C")  # as Synapse requires

        restored = await start_installation(restored_dir, SMALL_ROSTER, **overrides())
        people = Deputies(restored.kabinet.settings.homeserver.client_url)
        try:
            k = restored.kabinet
            assert restored.report.changes == []  # every account, room and membership was there
            assert await registry.room_map(k.store) == rooms
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{restored.web_url}/api/v1/appeals/{appeal['token']}") as r:
                    assert r.status == 200 and (await r.json())["number"] == appeal["number"]
                async with http.get(f"{restored.web_url}{draft['download']}") as r:
                    assert r.status == 200 and await r.read() == pdf
            bondar = await people.login("bondar", "test-deputy-1", server_name)
            joined_after = await bondar.joined_rooms()
            assert isinstance(joined_after, JoinedRoomsResponse)
            assert set(joined_after.rooms) == set(joined.rooms)
            alias = f"#{k.settings.appservice.alias_prefix}council:{server_name}"
            assert await resolve(bondar, alias) == rooms[registry.council_space()]
            assert await room_kind(bondar, appeal_room) == {
                "kind": "appeal", "ref": str(await appeal_id(k, appeal["number"]))}
            assert await download(bondar, k.hs.url, media) == pdf  # the homeserver's media
        finally:
            await people.close()
            await restored.stop()
    finally:
        await drop_databases()
