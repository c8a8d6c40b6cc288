"""An installation and its data dir: one Kabinet per data dir, `roster apply` on a running
installation with non-default ports, private files, and a homeserver that comes back by itself.

Issue 7, items 4, 5 and 16. One installation for the module (started on free, non-default ports)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from mautrix.api import Method
from mautrix.api import Path as MxPath
from nio import AsyncClient, LoginResponse

from council import outbox
from council import rooms as registry
from council.roster import load_roster
from kabinet.launcher import RESTART_MIN, EmbeddedSynapse, ping_homeserver
from kabinet.lock import DataDirInUse, Holder, holder
from kabinet.wiring import Kabinet, Running
from tests.conftest import SMALL_ROSTER, free_port, start_installation, test_settings
from tests.matrix_helpers import wait_for

REPO = Path(__file__).resolve().parents[1]
# A clean environment for the command line: only the data dir tells it where Kabinet runs.
CLI_ENV = {k: v for k, v in os.environ.items() if not k.startswith("KABINET_")}


def kabinet_cli(*args: object, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kabinet", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env=CLI_ENV)


def synapse_pids(data_dir: Path) -> list[int]:
    """Every Synapse process started with this data dir's config."""
    config = str((data_dir / "homeserver.yaml").resolve()).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"synapse.app.homeserver" in cmdline and config in cmdline:
            pids.append(int(proc.name))
    return pids


@pytest.fixture(scope="module")
async def inst(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    data_dir = tmp_path_factory.mktemp("hardening") / "var"
    # What an older Kabinet left: a data dir and files readable by every local user.
    data_dir.mkdir()
    (data_dir / "old-media" / "ab").mkdir(parents=True)
    (data_dir / "old-media" / "ab" / "upload").write_bytes(b"citizen's scan")
    (data_dir / "homeserver.log").write_text("old log\n")
    for path, mode in ((data_dir, 0o755), (data_dir / "old-media", 0o755),
                       (data_dir / "old-media" / "ab", 0o755),
                       (data_dir / "old-media" / "ab" / "upload", 0o644),
                       (data_dir / "homeserver.log", 0o644)):
        path.chmod(mode)
    running = await start_installation(data_dir, SMALL_ROSTER)
    yield running
    await running.stop()


def data_dir_of(inst: Running) -> Path:
    return inst.kabinet.settings.data_dir


# -- item 5: file modes ------------------------------------------------------------------------

def test_every_file_of_a_running_installation_is_private(inst: Running):
    data_dir = data_dir_of(inst)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    seen = set()
    wrong = []
    for root, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            path = Path(root, name)
            mode = stat.S_IMODE(path.lstat().st_mode)
            want = 0o700 if path.is_dir() else 0o600
            seen.add(path.relative_to(data_dir).as_posix())
            if mode != want:
                wrong.append(f"{path.relative_to(data_dir)}: {oct(mode)}")
    assert wrong == []
    # The ones that matter most are really there (and were checked above).
    assert {"homeserver.yaml", "homeserver.db", "kabinet.db", "homeserver.log", "signing.key",
            "secrets.yaml", "appservice-registration.yaml", "media_store", "kabinet.lock",
            "old-media/ab/upload"} <= seen


def test_a_new_data_dir_is_created_private(tmp_path: Path):
    data_dir = tmp_path / "fresh" / "var"
    Kabinet(test_settings(data_dir, SMALL_ROSTER), load_roster(SMALL_ROSTER))  # writes secrets
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in ("secrets.yaml", "appservice-registration.yaml"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600


# -- item 4: one installation per data dir; roster apply by the running installation -------------

async def listening(data_dir: Path) -> Holder | None:
    running = await asyncio.to_thread(holder, data_dir)
    return running if running is not None and running.control_url else None


async def test_the_running_installation_is_recognisable_from_its_data_dir(inst: Running):
    s = inst.kabinet.settings
    assert s.homeserver.port != 8008 and s.web.port != 8080  # non-default ports
    # The control endpoint listens once the first roster apply is done (a worker).
    running = await wait_for(lambda: listening(s.data_dir), what="the control endpoint")
    assert running.pid == os.getpid() and running.command == "up"
    assert running.homeserver_url == s.homeserver.client_url
    assert running.web_url == s.web.base_url
    assert running.control_url and running.control_url.startswith("http://127.0.0.1:")


async def test_roster_apply_on_a_running_installation_is_applied_by_it(inst: Running,
                                                                       tmp_path: Path):
    kabinet = inst.kabinet
    data_dir = data_dir_of(inst)
    synapse_pid = kabinet.synapse.process.pid
    data = yaml.safe_load(SMALL_ROSTER.read_text(encoding="utf-8"))
    data["commissions"][1]["name"] = "Комісія з питань землі"
    data["deputies"].append({"id": "novak", "name": "Новак Марія Степанівна", "district": 2,
                             "commissions": ["land"], "password": "test-deputy-new"})
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    # Only the data dir: the command finds the running Kabinet and its ports from it.
    result = await asyncio.to_thread(kabinet_cli, "roster", "apply", changed,
                                     "--data-dir", data_dir)
    assert result.returncode == 0, result.stderr
    # The running homeserver was left alone, and it is the only one of this data dir.
    assert kabinet.synapse.process is not None and kabinet.synapse.process.pid == synapse_pid
    assert await ping_homeserver(kabinet.hs.url)
    assert synapse_pids(data_dir) == [synapse_pid]
    # The report, printed as before.
    assert "applied by the Kabinet running on" in result.stderr
    assert "commission:land: set m.room.name" in result.stdout
    assert "1 accounts created" in result.stdout.splitlines()[-1]
    assert "Traceback" not in result.stderr
    # Applied by the running installation: on its homeserver, and in its memory (web too).
    rooms = await registry.room_map(kabinet.store)
    name = await kabinet.hs.request(
        Method.GET, MxPath.v3.rooms[rooms["commission:land"]].state["m.room.name"])
    assert name["name"] == "Комісія з питань землі"
    assert any(d.id == "novak" for d in kabinet.roster.deputies)
    client = AsyncClient(kabinet.settings.homeserver.client_url, "@novak:localhost")
    try:
        assert isinstance(await client.login("test-deputy-new"), LoginResponse)
    finally:
        await client.close()
    async with aiohttp.ClientSession() as http, http.get(f"{inst.web_url}/deputies") as resp:
        assert "Новак Марія Степанівна" in await resp.text()


async def test_the_control_endpoint_refuses_a_wrong_token(inst: Running):
    running = await wait_for(lambda: listening(data_dir_of(inst)), what="the control endpoint")
    before = inst.kabinet.roster
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}):
            async with http.post(running.control_url + "/roster/apply", headers=headers,
                                 json={"roster": SMALL_ROSTER.read_text(encoding="utf-8")}) as resp:
                assert resp.status == 403
    assert inst.kabinet.roster is before  # nothing applied


async def test_a_second_up_on_the_same_data_dir_is_refused(inst: Running):
    data_dir = data_dir_of(inst)
    registration = (data_dir / "appservice-registration.yaml").read_bytes()
    config = (data_dir / "homeserver.yaml").read_bytes()
    result = await asyncio.to_thread(
        kabinet_cli, "up", "--data-dir", data_dir, "--roster", SMALL_ROSTER,
        "--web-port", free_port(), "--homeserver-port", free_port(), timeout=60)
    assert result.returncode == 1
    assert f"the data dir {data_dir} is in use by a running `kabinet up` (pid {os.getpid()}" \
        in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing of the running installation was touched.
    assert (data_dir / "appservice-registration.yaml").read_bytes() == registration
    assert (data_dir / "homeserver.yaml").read_bytes() == config
    assert await ping_homeserver(inst.kabinet.hs.url)
    assert synapse_pids(data_dir) == [inst.kabinet.synapse.process.pid]


async def test_the_launcher_starts_no_homeserver_for_a_data_dir_held_by_another(inst: Running):
    kabinet = inst.kabinet
    other = EmbeddedSynapse(data_dir_of(inst), kabinet.settings.homeserver.model_copy(
        update={"port": free_port()}), kabinet.synapse.registration_path)
    with pytest.raises(DataDirInUse, match="is in use by a running `kabinet up`"):
        await other.start()
    assert other.process is None
    assert synapse_pids(data_dir_of(inst)) == [kabinet.synapse.process.pid]


# -- item 16: the embedded homeserver is supervised ------------------------------------------------

async def lounge_message_arrives(inst: Running, key: str) -> None:
    kabinet = inst.kabinet
    lounge = await kabinet.hs.resolve_alias("#kabinet_lounge:localhost")
    async with kabinet.store.session() as s:
        await outbox.enqueue(s, key, lounge, "m.room.message", {"msgtype": "m.notice", "body": key})
    kabinet.delivery.poke()

    async def sent() -> bool:
        return bool(await outbox.sent_event_ids(kabinet.store, [key]))

    await wait_for(sent, timeout=60, what="the message delivered")
    resp = await kabinet.hs.request(Method.GET, MxPath.v3.rooms[lounge].messages,
                                    query={"dir": "b", "limit": "20"})
    assert any(e["content"].get("body") == key for e in resp["chunk"])


async def test_a_killed_homeserver_comes_back_by_itself(inst: Running, caplog):
    caplog.set_level(logging.INFO, logger="kabinet.launcher")
    synapse = inst.kabinet.synapse
    old_pid = synapse.process.pid
    os.kill(old_pid, signal.SIGKILL)  # as the OOM killer would

    async def back() -> bool:
        proc = synapse.process
        return (proc is not None and proc.pid != old_pid and proc.returncode is None
                and await ping_homeserver(synapse.url))

    await wait_for(back, timeout=90, interval=0.5, what="the homeserver restarted")
    assert synapse_pids(data_dir_of(inst)) == [synapse.process.pid]
    exits = [r.getMessage() for r in caplog.records if "exited with" in r.getMessage()]
    assert len(exits) == 1 and "killed by signal SIGKILL" in exits[0]
    # Both directions work again: the homeserver reaches the appservice, /healthz is fine.
    assert await inst.kabinet.hs.ping(inst.kabinet.registration.id)

    async def healthy() -> bool:
        async with aiohttp.ClientSession() as http, http.get(f"{inst.web_url}/healthz") as resp:
            return resp.status == 200

    await wait_for(healthy, timeout=30, what="/healthz ok")
    await lounge_message_arrives(inst, f"test:supervised:{uuid.uuid4().hex[:8]}")


async def test_a_homeserver_stopped_on_purpose_is_not_restarted(inst: Running, caplog):
    caplog.set_level(logging.INFO, logger="kabinet.launcher")
    synapse = inst.kabinet.synapse
    await synapse.stop()  # an outage test, or Kabinet stopping: the supervisor keeps out
    await asyncio.sleep(RESTART_MIN * 3)
    assert synapse.process is None and synapse_pids(data_dir_of(inst)) == []
    assert not await ping_homeserver(synapse.url)
    assert not [r for r in caplog.records if "exited with" in r.getMessage()]
    await synapse.start()
    # Started again by its owner, it is supervised again.
    old_pid = synapse.process.pid
    os.kill(old_pid, signal.SIGKILL)

    async def back() -> bool:
        proc = synapse.process
        return proc is not None and proc.pid != old_pid and await ping_homeserver(synapse.url)

    await wait_for(back, timeout=90, interval=0.5, what="the homeserver restarted")
    await lounge_message_arrives(inst, f"test:supervised:{uuid.uuid4().hex[:8]}")
