"""A region on one deployment (docs/region.md): three small councils, each its own Kabinet (own
roster, registration, namespaces, PostgreSQL database, web port), on ONE Synapse started by
Kabinet's own launcher with every council's registration (SQLite: the single-process topology,
which starts in seconds; the workers topology is measured by bench/region.py).

Bad region files are refused before anything is applied, naming the council, and the
homeserver (its rooms and users, read from its database) and the PostgreSQL server (no council
database) are left untouched. Then the three are applied in parallel: each council's Space alias
resolves, a deputy of one council is in that council's rooms and in none of the others', and a
second apply changes nothing (its time is printed)."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from nio import JoinedRoomsResponse

from appservice.homeserver import Homeserver
from appservice.roster.desired import desired_rooms
from council import rooms as registry
from council.roster import parse_roster
from council.store import Store
from kabinet import cli
from kabinet.launcher import EmbeddedSynapse
from kabinet.lock import holder
from kabinet.region import RegionError, plan
from kabinet.region_apply import apply_region, write_files
from kabinet.region_up import shared_homeserver
from tests.conftest import PG_ADMIN_URL, Deputies, _pg_available, free_port
from tests.matrix_helpers import members, resolve, wait_for

IDS = ("a", "b", "c")
RUN = uuid.uuid4().hex[:8]


def roster_data(cid: str, deputies: int = 5) -> dict[str, Any]:
    ds = [f"{cid}-d{i}" for i in range(1, deputies + 1)]
    return {
        "council": {"name": f"Тестова рада {cid.upper()}"},
        "bodies": [{"id": "council", "kind": "council", "name": f"Тестова рада {cid.upper()}"}],
        "commissions": [{"id": "budget", "name": "Комісія з питань бюджету", "chair": ds[0]},
                        {"id": "land", "name": "Земельна комісія", "chair": ds[1]}],
        "deputies": [{"id": d, "name": f"Депутат {d}", "password": f"pw-{d}-test",
                      "commissions": ["land" if i % 2 else "budget"]} for i, d in enumerate(ds)],
        "secretariat": [{"id": f"{cid}-clerk", "name": f"Секретар {cid}",
                         "password": f"pw-{cid}-clerk"}],
    }


@dataclass
class Region:
    base: Path
    data: dict[str, Any]  # the valid region file's content
    synapse: EmbeddedSynapse

    def write(self, data: dict[str, Any], name: str = "region.yaml") -> Path:
        path = self.base / name
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    def variant(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)

    def homeserver_counts(self) -> tuple[int, ...]:
        """Rooms, users and room aliases on the shared homeserver (its SQLite database)."""
        db = sqlite3.connect(f"file:{self.synapse.data_dir / 'homeserver.db'}?mode=ro", uri=True)
        try:
            return tuple(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                         for table in ("rooms", "users", "room_aliases"))
        finally:
            db.close()


async def council_databases() -> set[str]:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                f"kabinet_rt{RUN}%")
        return {r["datname"] for r in rows}
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def region(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Region]:
    """Three councils' files and registrations, and the shared Synapse loading all three."""
    reason = await _pg_available()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("region")
    for cid in IDS:
        (base / f"{cid}.yaml").write_text(yaml.safe_dump(roster_data(cid), allow_unicode=True),
                                          encoding="utf-8")
    server = PG_ADMIN_URL.rsplit("/", 1)[0] + "/postgres"
    data = {
        "name": "rt", "data_root": "data", "database_url": server, "concurrency": 3,
        "homeserver": {"server_name": "localhost", "port": free_port(), "bcrypt_rounds": 4},
        "defaults": {"log_level": "WARNING"},
        "councils": [{"id": cid, "roster": f"{cid}.yaml", "web_port": free_port(),
                      "database": f"kabinet_rt{RUN}_{cid}"} for cid in IDS],
    }
    r = Region(base, data, None)  # type: ignore[arg-type]
    p = plan(r.write(data))
    write_files(p)  # what `region up` does before it starts the homeserver
    r.synapse = shared_homeserver(p)
    await r.synapse.start()
    try:
        yield r
    finally:
        await r.synapse.stop()
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            for name in await council_databases():
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _council(data: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in data["councils"] if c["id"] == cid)


def duplicate_id(r: Region, d: dict[str, Any]) -> None:
    _council(d, "c")["id"] = "a"


def ghost_prefix_overlap(r: Region, d: dict[str, Any]) -> None:
    _council(d, "b")["appservice"] = {"ghost_prefix": "kabinet_"}


def alias_prefix_overlap(r: Region, d: dict[str, Any]) -> None:
    _council(d, "c")["appservice"] = {"alias_prefix": "kabinet_a_x"}


def bot_in_ghost_namespace(r: Region, d: dict[str, Any]) -> None:
    _council(d, "c")["appservice"] = {"bot_localpart": "kabinet_a_bot"}


def same_appservice_id(r: Region, d: dict[str, Any]) -> None:
    _council(d, "b")["appservice"] = {"id": "kabinet-a"}


def same_as_token(r: Region, d: dict[str, Any]) -> None:
    """A council whose data dir was copied from another's (same secrets.yaml)."""
    copied = r.base / "copied"
    copied.mkdir(exist_ok=True)
    (copied / "secrets.yaml").write_bytes((r.base / "data" / "a" / "secrets.yaml").read_bytes())
    _council(d, "c")["data_dir"] = "copied"


def web_port_clash(r: Region, d: dict[str, Any]) -> None:
    _council(d, "c")["web_port"] = _council(d, "a")["web_port"]


def web_port_is_the_homeservers(r: Region, d: dict[str, Any]) -> None:
    _council(d, "b")["web_port"] = d["homeserver"]["port"]


def database_clash(r: Region, d: dict[str, Any]) -> None:
    _council(d, "b")["database"] = _council(d, "a")["database"]


def roster_invalid(r: Region, d: dict[str, Any]) -> None:
    bad = roster_data("c")
    bad["deputies"][0]["commissions"] = ["nonexistent"]
    (r.base / "c-bad.yaml").write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    _council(d, "c")["roster"] = "c-bad.yaml"


def account_in_two_councils(r: Region, d: dict[str, Any]) -> None:
    twin = roster_data("b")
    twin["deputies"][4]["id"] = "a-d5"
    (r.base / "b-twin.yaml").write_text(yaml.safe_dump(twin, allow_unicode=True), encoding="utf-8")
    _council(d, "b")["roster"] = "b-twin.yaml"


def config_invalid(r: Region, d: dict[str, Any]) -> None:
    _council(d, "a")["overrides"] = {"web": {"colour": "blue"}}


def unreachable_database(r: Region, d: dict[str, Any]) -> None:
    d["database_url"] = "postgresql://postgres@127.0.0.1:9/postgres"


def registration_not_loaded(r: Region, d: dict[str, Any]) -> None:
    """A fourth council, whose registration the running homeserver has never loaded."""
    (r.base / "d.yaml").write_text(yaml.safe_dump(roster_data("d"), allow_unicode=True),
                                   encoding="utf-8")
    d["councils"].append({"id": "d", "roster": "d.yaml", "web_port": free_port(),
                          "database": f"kabinet_rt{RUN}_d"})


REFUSALS = [  # (how the valid region is spoiled, what the refusal must say)
    (duplicate_id, "councils[2] (a): duplicate council id"),
    (ghost_prefix_overlap, "council b: its namespace @kabinet_… overlaps council a's @kabinet_a"),
    (alias_prefix_overlap, "council c: its namespace #kabinet_a_x… overlaps council a's "
                           "#kabinet_a_…"),
    (bot_in_ghost_namespace, "council c: its namespace @kabinet_a_bot overlaps council a's "
                             "@kabinet_a_…"),
    (same_appservice_id, "council b: appservice id kabinet-a is also council a's"),
    (same_as_token, "council c: as_token"),
    (web_port_clash, "council c: port"),
    (web_port_is_the_homeservers, "council b: port"),
    (database_clash, "council b: database"),
    (roster_invalid, "councils[2] (c): roster"),
    (account_in_two_councils, "council b: a-d5 is @a-d5:localhost, an account of council a too"),
    (config_invalid, "councils[0] (a): "),
    (unreachable_database, "council a: its database server"),
    (registration_not_loaded, "council d: its registration was written or changed just now"),
]


@pytest.mark.parametrize(("spoil", "said"), REFUSALS, ids=[f.__name__ for f, _ in REFUSALS])
async def test_bad_region_is_refused_and_nothing_is_applied(region: Region, spoil: Any,
                                                            said: str) -> None:
    before, databases = region.homeserver_counts(), await council_databases()
    data = region.variant()
    spoil(region, data)
    with pytest.raises(RegionError) as refused:
        await apply_region(plan(region.write(data, "bad.yaml")))
    text = str(refused.value)
    assert said in text, text
    assert "nothing was applied" in text
    assert region.homeserver_counts() == before
    assert await council_databases() == databases


def test_check_from_the_command_line(region: Region, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    assert cli.main(["region", "check", str(region.write(region.data))]) == 0
    out = capsys.readouterr().out
    assert "valid — 3 councils, 15 deputies" in out and "#kabinet_b_council:localhost" in out
    data = region.variant()
    web_port_clash(region, data)
    assert cli.main(["region", "check", str(region.write(data, "bad.yaml"))]) == 2
    assert "council c: port" in capsys.readouterr().err


async def test_three_councils_on_one_homeserver(region: Region, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    p = plan(region.write(region.data))
    began = time.monotonic()
    results = await apply_region(p, tty=False)
    first = time.monotonic() - began
    assert [r.id for r in results] == list(IDS)
    for r in results:
        assert r.error is None and not r.problems, r
        assert "rooms created" in r.summary
    assert await council_databases() == {f"kabinet_rt{RUN}_{cid}" for cid in IDS}
    err = capsys.readouterr().err
    assert all(f"{cid}: " in err for cid in IDS) and "region [" not in err  # lines, no tty bar

    rooms: dict[str, dict[str, str]] = {}
    for c in p.councils:
        store = Store(c.settings.db_url)
        try:
            rooms[c.id] = await registry.room_map(store)
        finally:
            await store.close()
    people = Deputies(p.region.homeserver.client_url)
    try:
        for c in p.councils:  # each council's Space alias resolves, to its own space
            client = await people.login(f"{c.id}-d1", f"pw-{c.id}-d1-test")
            assert await resolve(client, c.space_alias) == rooms[c.id][registry.council_space()]
        deputy = people.clients[0]  # a-d1
        roster_a = parse_roster(roster_data("a"))
        mine = {rooms["a"][s.key] for s in desired_rooms(roster_a, "localhost")
                if "@a-d1:localhost" in s.members}

        async def joined() -> set[str] | None:
            resp = await deputy.joined_rooms()
            assert isinstance(resp, JoinedRoomsResponse), resp
            got = set(resp.rooms)
            return got if got == mine else None

        await wait_for(joined, timeout=90, what="a-d1 in exactly council a's rooms for a-d1")
        others = set(rooms["b"].values()) | set(rooms["c"].values())
        assert not mine & others
        lounge_b = rooms["b"][registry.lounge()]
        assert "@a-d1:localhost" not in await members(people.clients[1], lounge_b)
    finally:
        await people.close()

    reads: list[str] = []  # rooms whose whole state was read from the homeserver
    room_state = Homeserver.room_state

    async def counted(hs: Homeserver, room_id: str) -> list[dict[str, Any]]:
        reads.append(room_id)
        return await room_state(hs, room_id)

    monkeypatch.setattr(Homeserver, "room_state", counted)
    began = time.monotonic()
    again = await apply_region(plan(region.write(region.data)), tty=False)
    seconds = time.monotonic() - began
    for r in again:
        assert r.error is None and not r.problems and r.changes == [], r
    assert reads == []  # the room-state cache, fed by each council's transactions
    print(f"\nregion of 3 councils x 5 deputies: first apply {first:.1f} s, no-change re-apply "
          f"{seconds:.2f} s")

    # `region apply --full` (one database restored without the other): every room read again
    args = cli.parser([]).parse_args(["region", "apply", "--full", str(region.base / "r.yaml")])
    assert args.full is True
    full = await apply_region(plan(region.write(region.data)), tty=False, full=True)
    for r in full:
        assert r.error is None and not r.problems and r.changes == [], r
    assert sorted(reads) == sorted(room for council in rooms.values() for room in council.values())


async def test_region_up_runs_one_kabinet_per_council(tmp_path: Path) -> None:
    """`kabinet region up`: the shared Synapse, every roster, a `kabinet up` per council (SQLite
    stores); `region apply` then goes through the running Kabinets; a killed council process
    is started again alone; Ctrl-C stops them all."""
    for cid in ("x", "y"):
        (tmp_path / f"{cid}.yaml").write_text(yaml.safe_dump(roster_data(cid, 3),
                                                             allow_unicode=True), encoding="utf-8")
    path = tmp_path / "region.yaml"
    path.write_text(yaml.safe_dump({
        "data_root": "data", "homeserver": {"server_name": "localhost", "port": free_port(),
                                            "bcrypt_rounds": 4},
        "councils": [{"id": cid, "roster": f"{cid}.yaml", "web_port": free_port()}
                     for cid in ("x", "y")]}), encoding="utf-8")
    p = plan(path)
    up = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kabinet", "region", "up", str(path), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    assert up.stdout is not None
    output: list[str] = []
    try:
        async with asyncio.timeout(300):
            while not any("Ctrl-C stops every council" in line for line in output):
                line = (await up.stdout.readline()).decode()
                assert line or up.returncode is None, "".join(output)
                output.append(line)
        running = {c.id: holder(c.data_dir) for c in p.councils}
        assert all(h is not None and h.command == "up" and h.pid != up.pid
                   for h in running.values()), running
        assert "region: 2 councils in" in "".join(output)  # every roster applied before the start

        apply = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kabinet", "region", "apply", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await apply.communicate()
        assert apply.returncode == 0, err.decode()
        assert "0 changed, 2 already matched" in out.decode()
        assert err.decode().count("by its running Kabinet") == 2, err.decode()

        killed = running["x"]
        assert killed is not None
        os.kill(killed.pid, signal.SIGKILL)

        async def back() -> bool:
            h = holder(p.councils[0].data_dir)
            return h is not None and h.pid != killed.pid and h.control_url is not None

        await wait_for(back, timeout=120, what="council x started again")
    finally:
        if up.returncode is None:
            up.send_signal(signal.SIGINT)
            rest, _ = await asyncio.wait_for(up.communicate(), 120)
            output.append(rest.decode())
    assert up.returncode == 0, "".join(output)
    assert all(holder(c.data_dir) is None for c in p.councils)


async def test_councils_applied_together_share_the_regions_homeserver_requests():
    """One Synapse serves every council: the councils applied at once take their requests from
    one budget (`requests`), not `concurrency` × each council's own (which once queued
    createRoom past the client's timeout at 20 × 40)."""
    slots = asyncio.Semaphore(3)
    councils = [Homeserver("http://127.0.0.1:1", "t", f"kabinet_r{i}", "localhost",
                           concurrency=8) for i in range(4)]
    for hs in councils:
        hs.share_slots(slots)
    flying, most = 0, 0

    async def request() -> None:
        nonlocal flying, most
        flying += 1
        most = max(most, flying)
        await asyncio.sleep(0.01)
        flying -= 1

    await asyncio.gather(*(hs.gather(request for _ in range(10)) for hs in councils))
    assert most == 3  # 4 councils × 8 of their own would have been 32

