"""An installation's life: a homeserver outage, a restart on the same data, Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from mautrix.api import Method
from mautrix.api import Path as MxPath
from sqlalchemy import delete

from appservice.delivery import MARKER
from council import outbox
from council.models import HandledEvent
from council.roster import load_roster
from council.store import Store
from kabinet.wiring import Kabinet, Running, start
from tests.conftest import SMALL_ROSTER, free_port, start_installation
from tests.matrix_helpers import wait_for


@pytest.fixture(scope="module")
async def small(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict]:
    """A holder, so a test can replace the running installation with a restarted one."""
    holder = {"running": await start_installation(tmp_path_factory.mktemp("life"), SMALL_ROSTER)}
    yield holder
    await holder["running"].stop()


async def healthz(running: Running) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(f"{running.web_url}/healthz") as resp:
        return resp.status, await resp.json()


async def test_an_outage_pauses_delivery_and_every_message_arrives_once_in_order(small):
    running: Running = small["running"]
    kabinet = running.kabinet
    lounge = await kabinet.hs.resolve_alias("#kabinet_lounge:localhost")
    run = uuid.uuid4().hex[:8]
    keys = [f"test:outage:{run}:{n:02d}" for n in range(20)]

    async def write(batch: list[str]) -> None:
        async with kabinet.store.session() as s:
            for key in batch:
                await outbox.enqueue(s, key, lounge, "m.room.message",
                                     {"msgtype": "m.notice", "body": key})
        kabinet.delivery.poke()

    await write(keys[:10])
    assert kabinet.synapse is not None
    await kabinet.synapse.stop()
    await write(keys[10:])  # written while the homeserver is down: kept, not lost
    status, body = await healthz(running)
    assert status == 503 and body["homeserver"] == "failing" and body["database"] == "ok"
    await asyncio.sleep(2)
    await kabinet.synapse.start()

    async def all_sent() -> bool:
        return len(await outbox.sent_event_ids(kabinet.store, keys)) == len(keys)

    await wait_for(all_sent, timeout=60, what="the backlog delivered after the outage")
    resp = await kabinet.hs.request(Method.GET, MxPath.v3.rooms[lounge].messages,
                                    query={"dir": "b", "limit": "100"})
    ours = [e["content"][MARKER] for e in reversed(resp["chunk"])
            if str(e["content"].get(MARKER, "")).startswith(f"test:outage:{run}")]
    assert ours == keys  # each exactly once, in the order written
    assert (await healthz(running))[0] == 200


async def test_a_restart_on_the_same_data_changes_nothing_on_the_homeserver(small):
    old: Running = small["running"]
    settings = old.kabinet.settings
    await old.stop()
    restarted = await start(Kabinet(settings, load_roster(SMALL_ROSTER)))
    small["running"] = restarted
    report = restarted.report
    assert (report.rooms_created, report.accounts_created, report.writes) == (0, 0, 0)
    assert (await healthz(restarted))[0] == 200



async def test_a_transaction_the_homeserver_stored_but_never_sent_arrives_after_a_restart(small):
    """Synapse stores an appservice transaction before sending it; stopped in between, it
    would never send it after a restart (only services marked down are retried). The launcher
    marks such a service down before the start, so Synapse's recoverer sends it first."""
    old: Running = small["running"]
    settings = old.kabinet.settings
    roster = load_roster(SMALL_ROSTER)
    deputy = roster.deputies[0]
    lounge = await old.kabinet.hs.resolve_alias("#kabinet_lounge:localhost")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{old.kabinet.hs.url}/_matrix/client/v3/login", json={
                "type": "m.login.password", "identifier": {"type": "m.id.user", "user": deputy.id},
                "password": deputy.password}) as resp:
            token = (await resp.json())["access_token"]
        async with http.put(f"{old.kabinet.hs.url}/_matrix/client/v3/rooms/{lounge}/send/"
                            f"m.room.message/{uuid.uuid4().hex}", json={"msgtype": "m.text", "body": "!ping"},
                            headers={"Authorization": f"Bearer {token}"}) as resp:
            event_id = (await resp.json())["event_id"]

    async def handled(store: Store) -> bool:
        async with store.session() as s:
            return await s.get(HandledEvent, event_id) is not None

    await wait_for(lambda: handled(old.kabinet.store), timeout=30, what="the !ping handled")
    await old.stop()
    # As if Synapse had stopped between storing the transaction and sending it.
    store = Store(settings.db_url)
    async with store.session() as s:
        await s.execute(delete(HandledEvent).where(HandledEvent.event_id == event_id))
    await store.close()
    with contextlib.closing(sqlite3.connect(settings.data_dir / "homeserver.db")) as db:
        as_id = old.kabinet.registration.id
        db.execute("INSERT INTO application_services_txns (as_id, txn_id, event_ids) VALUES (?, ?, ?)",
                   (as_id, 1_000_000, json.dumps([event_id])))
        db.commit()
    restarted = await start(Kabinet(settings, roster))
    small["running"] = restarted
    await wait_for(lambda: handled(restarted.kabinet.store), timeout=60,
                   what="the stored transaction sent after the restart")
    replies = await restarted.kabinet.hs.request(
        Method.GET, MxPath.v3.rooms[lounge].messages, query={"dir": "b", "limit": "50"})
    answers = [e for e in replies["chunk"] if e["sender"] == restarted.kabinet.hs.bot_mxid and
               e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id]
    assert len(answers) == 1  # handled again, answered once (the reply's outbox key)


def synapse_running(config: str) -> bool:
    return subprocess.run(["pgrep", "-f", config], capture_output=True).returncode == 0


def test_kabinet_up_prints_how_to_sign_in_and_stops_cleanly_on_ctrl_c(tmp_path: Path):
    web_port, hs_port = free_port(), free_port()
    env = {**os.environ, "KABINET_HOMESERVER__BCRYPT_ROUNDS": "4"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kabinet", "up", "--data-dir", str(tmp_path / "var"),
         "--roster", str(SMALL_ROSTER), "--web-port", str(web_port),
         "--homeserver-port", str(hs_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        out = "".join(lines)
        assert f"http://127.0.0.1:{web_port}/" in out and f"http://127.0.0.1:{hs_port}" in out
        assert "deputy:      user bondar  password test-deputy-1" in out
        assert "secretariat: user clerk  password test-clerk-1" in out
        config = str((tmp_path / "var" / "homeserver.yaml").resolve())
        assert synapse_running(config)
        # Keep reading what it prints while it stops: a full pipe would block its log writes.
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
        reader.start()
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("kabinet up did not stop within 60 s after Ctrl-C; its last "
                                 "output:\n" + "".join(lines[-60:])) from None
        assert code == 0, "".join(lines[-60:])
        assert not synapse_running(config)  # Synapse was stopped with us
    finally:
        if proc.poll() is None:
            proc.kill()
        # A killed Kabinet cannot stop its Synapse (own session); never leave one behind.
        subprocess.run(["pkill", "-f", str((tmp_path / "var" / "homeserver.yaml").resolve())])

    # The installation is stopped now: `roster apply` starts the homeserver just for the change.
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(SMALL_ROSTER.read_text(encoding="utf-8").replace(
        "Комісія з земельних питань", "Комісія з питань землі"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "kabinet", "roster", "apply", str(renamed),
         "--data-dir", str(tmp_path / "var")],
        capture_output=True, text=True, env={**env, "KABINET_HOMESERVER__PORT": str(hs_port)},
        timeout=120)
    assert result.returncode == 0, result.stderr
    assert "commission:land: set m.room.name" in result.stdout
    assert "1 state changes" in result.stdout
    assert not synapse_running(config)


def test_after_kabinet_is_killed_the_next_start_takes_over_its_data(tmp_path: Path):
    """kill -9 cannot stop the child Synapse; the next `kabinet up` stops the leftover."""
    web_port, hs_port = free_port(), free_port()
    env = {**os.environ, "KABINET_HOMESERVER__BCRYPT_ROUNDS": "4"}
    args = [sys.executable, "-m", "kabinet", "up", "--data-dir", str(tmp_path / "var"),
            "--roster", str(SMALL_ROSTER), "--web-port", str(web_port),
            "--homeserver-port", str(hs_port)]
    config = str((tmp_path / "var" / "homeserver.yaml").resolve())
    try:
        for attempt in range(2):
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, env=env)
            assert proc.stdout is not None
            out = ""
            for line in proc.stdout:
                out += line
                if "Ctrl-C stops everything" in line:
                    break
            assert "Kabinet is running" in out, out
            if attempt == 0:
                proc.kill()  # no cleanup at all
                proc.wait()
                assert synapse_running(config)  # orphaned
            else:
                assert "0 rooms created" in out or "nothing to change" in out
                proc.send_signal(signal.SIGINT)
                assert proc.wait(timeout=60) == 0
    finally:
        subprocess.run(["pkill", "-f", config])
