"""The bot never goes deaf and one bad event stalls nothing (issue: hardening).

Its own small installation with a real SMTP server, because the homeserver and Kabinet are
restarted here: after each restart a deputy's `!answer` must still reach the citizen.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from mautrix.types import Event, MessageEvent
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.transactions import failure_notice
from council import inbox
from council.models import FailedEvent, utcnow
from council.roster import load_roster
from kabinet.wiring import Running
from tests.appeals_support import Mailbox, appeal_fields, appeal_id, form, mail_settings, room_of, timeline
from tests.conftest import SMALL_ROSTER, Deputies, start_installation
from tests.matrix_helpers import settle, wait_for

ROSTER = load_roster(SMALL_ROSTER)
PASSWORDS = {p.id: p.password for p in (*ROSTER.deputies, *ROSTER.secretariat)}


@dataclass
class Installation:
    """The running installation; restarted in place by the tests."""

    running: Running
    mailbox: Mailbox
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def kabinet(self) -> Any:
        return self.running.kabinet

    @property
    def web_url(self) -> str:
        return self.running.web_url


@pytest.fixture(scope="module")
async def inst(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Installation]:
    mailbox = Mailbox()
    mailbox.start()
    data_dir = tmp_path_factory.mktemp("hardening")
    running = await start_installation(data_dir, SMALL_ROSTER, **mail_settings(mailbox),
                                       **{"appeals.rate_limit_requests": 1000})
    s = running.kabinet.settings
    # A restart reuses the ports, as `make run` does: clients keep their homeserver URL.
    overrides = {**mail_settings(mailbox), "appeals.rate_limit_requests": 1000,
                 "web.port": s.web.port, "homeserver.port": s.homeserver.port}
    await settle(running.kabinet, ROSTER)
    holder = Installation(running, mailbox, overrides)
    yield holder
    await holder.running.stop()
    mailbox.stop()


@pytest.fixture
async def people(inst: Installation) -> AsyncIterator[Deputies]:
    who = Deputies(inst.kabinet.settings.homeserver.client_url)
    yield who
    await who.close()


async def put_txn(inst: Installation, txn_id: str, body: bytes | dict) -> int:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as http, http.put(
            f"{inst.web_url}/as/_matrix/app/v1/transactions/{txn_id}", data=data,
            headers={"Authorization": f"Bearer {inst.kabinet.registration.hs_token}",
                     "Content-Type": "application/json"}) as resp:
        await resp.read()
        return resp.status


def message(room_id: str, sender: str, body: str, **content: Any) -> dict:
    return {"event_id": f"$t-{uuid.uuid4().hex}", "room_id": room_id, "sender": sender,
            "type": "m.room.message", "origin_server_ts": int(time.time() * 1000),
            "content": {"msgtype": "m.text", "body": body, **content}}


async def reply_to(inst: Installation, room_id: str, event_id: str, timeout: float = 60) -> dict:
    """The bot's notice replying to an event (plain reply or in its thread), as clients see it."""
    bot = inst.kabinet.hs.bot_mxid

    async def found() -> dict | None:
        for e in await timeline(inst.kabinet, room_id):
            rel = e["content"].get("m.relates_to", {})
            if e["sender"] == bot and rel.get("m.in_reply_to", {}).get("event_id") == event_id:
                return e
        return None
    return await wait_for(found, timeout=timeout, what="the bot's reply")


async def say(client: Any, room_id: str, body: str) -> str:
    resp = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
    return resp.event_id


async def new_appeal(inst: Installation, email: str) -> tuple[dict, str]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{inst.web_url}/api/v1/appeals", data=form(appeal_fields(email=email))) as resp:
        created = await resp.json()
        assert resp.status == 201, created
    room = await room_of(inst.kabinet, await appeal_id(inst.kabinet, created["number"]), timeout=90)
    return created, room


async def answer_reaches_the_citizen(inst: Installation, people: Deputies, email: str) -> None:
    """A deputy answers in Element; the status page and the citizen's mailbox get the answer."""
    created, room = await new_appeal(inst, email)
    deputy = await people.login("bondar", PASSWORDS["bondar"])

    async def joined() -> bool:
        return room in (await deputy.joined_rooms()).rooms
    await wait_for(joined, timeout=60, what="the deputy in the appeal room")
    text = f"Відповідь {uuid.uuid4().hex[:8]}: дорогу внесено до плану ремонту."
    await say(deputy, room, f"!answer {text}")
    await say(deputy, room, "!так")  # the answer is shown first and goes once confirmed

    async def answered() -> bool:
        return any(text in m.get_content() for m in inst.mailbox.to(email))
    await wait_for(answered, timeout=90, what="the answer in the citizen's mailbox")
    async with aiohttp.ClientSession() as http, http.get(
            f"{inst.web_url}/api/v1/appeals/{created['token']}") as resp:
        status = await resp.json()
    assert status["status"] == "answered" and status["answer"]["text"] == text


async def test_a_transaction_id_seen_before_still_has_its_events_handled(inst):
    """Synapse numbers transactions from 1 again after a restart: the id proves nothing."""
    lounge = await inst.kabinet.hs.resolve_alias("#kabinet_lounge:localhost")
    first = message(lounge, "@bondar:localhost", "!ping")
    again = message(lounge, "@bondar:localhost", "!ping")
    assert await put_txn(inst, "1", {"events": [first]}) == 200
    assert await put_txn(inst, "1", {"events": [again]}) == 200
    await reply_to(inst, lounge, first["event_id"])
    await reply_to(inst, lounge, again["event_id"])


async def test_after_a_homeserver_restart_an_answer_reaches_the_citizen(inst, people):
    synapse = inst.kabinet.synapse
    assert synapse is not None
    await synapse.stop()
    await synapse.start()
    await answer_reaches_the_citizen(inst, people, "after-hs-restart@example.org")


async def test_after_a_kabinet_restart_an_answer_reaches_the_citizen(inst, people):
    await inst.running.stop()
    inst.running = await start_installation(inst.kabinet.settings.data_dir, SMALL_ROSTER,
                                            **inst.overrides)
    await answer_reaches_the_citizen(inst, people, "after-restart@example.org")


@dataclass
class Poison:
    """A handler that fails on one marked message, as a bug would, until it is 'fixed'."""

    marker: str
    broken: bool = True
    handled: list[str] = field(default_factory=list)
    event_types = frozenset({"m.room.message"})

    async def __call__(self, event: Event, session: AsyncSession) -> None:
        if isinstance(event, MessageEvent) and self.marker in (event.content.body or ""):
            if self.broken:
                raise RuntimeError("a bug in a handler")
            self.handled.append(event.event_id)


async def healthz_events(inst: Installation) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"{inst.web_url}/healthz") as resp:
        return (await resp.json())["events"]


async def test_a_poisoned_event_waits_alone_and_is_retried(inst, people):
    poison = Poison(f"☠{uuid.uuid4().hex[:6]}")
    inst.kabinet.transactions.handlers.append(poison)
    try:
        deputy = await people.login("zvarych", PASSWORDS["zvarych"])
        lounge = await inst.kabinet.hs.resolve_alias("#kabinet_lounge:localhost")
        bad = await say(deputy, lounge, f"{poison.marker} отрута")
        good = await say(deputy, lounge, "!ping")
        # The message behind it is answered; the sender of the bad one is told in its thread.
        assert "на зв'язку" in (await reply_to(inst, lounge, good))["content"]["body"]
        notice = await reply_to(inst, lounge, bad)
        assert notice["content"]["m.relates_to"]["rel_type"] == "m.thread"
        assert notice["content"]["body"] == failure_notice(parked=False)
        assert f"(до {inbox.MAX_ATTEMPTS} спроб)" in notice["content"]["body"]
        assert await healthz_events(inst) == {"waiting": 1, "parked": 0}

        # In one transaction too: the good event is handled, the transaction succeeds.
        pair = [message(lounge, "@zvarych:localhost", f"{poison.marker} ще"),
                message(lounge, "@zvarych:localhost", "!ping")]
        assert await put_txn(inst, f"pair-{uuid.uuid4().hex}", {"events": pair}) == 200
        await reply_to(inst, lounge, pair[1]["event_id"])

        poison.broken = False  # the bug is fixed; the waiting events are retried when due
        async with inst.kabinet.store.session() as s:
            await s.execute(update(FailedEvent).values(next_attempt_at=utcnow()))
        await wait_for(lambda: len(poison.handled) == 2, timeout=30, what="the retries")
        assert set(poison.handled) == {bad, pair[0]["event_id"]}
        assert await healthz_events(inst) == {"waiting": 0, "parked": 0}
    finally:
        inst.kabinet.transactions.handlers.remove(poison)


async def test_a_stranger_s_odd_digits_get_the_usage_not_a_stall(inst, people):
    """`"²".isdigit()` is true and `int("²")` raises: this once stalled every room."""
    _created, room = await new_appeal(inst, "digits@example.org")
    deputy = await people.login("bondar", PASSWORDS["bondar"])

    async def joined() -> bool:
        return room in (await deputy.joined_rooms()).rooms
    await wait_for(joined, timeout=60, what="the deputy in the appeal room")
    odd = await say(deputy, room, "!extend ² потрібна експертиза")
    assert "(!extend) <днів> <причина>" in (await reply_to(inst, room, odd))["content"]["body"]
    ping = await say(deputy, room, "!ping")
    await reply_to(inst, room, ping)
    assert await healthz_events(inst) == {"waiting": 0, "parked": 0}


async def test_a_full_transaction_after_an_outage_is_accepted(inst):
    """100 events of ~60 KiB each: more than the web site's body limit, within the spec's."""
    lounge = await inst.kabinet.hs.resolve_alias("#kabinet_lounge:localhost")
    events = [message(lounge, "@kuzmych:localhost", "x" * 60_000) for _ in range(99)]
    events.append(message(lounge, "@kuzmych:localhost", "!ping"))
    body = json.dumps({"events": events}).encode()
    assert len(body) > 5 * 1024 * 1024
    assert await put_txn(inst, f"big-{uuid.uuid4().hex}", body) == 200
    await reply_to(inst, lounge, events[-1]["event_id"])


async def test_a_malformed_transaction_is_a_400(inst):
    deep = b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert await put_txn(inst, f"deep-{uuid.uuid4().hex}", deep) == 400
    assert await put_txn(inst, f"junk-{uuid.uuid4().hex}", b"\xff\xfe not json") == 400
    assert await put_txn(inst, f"shape-{uuid.uuid4().hex}", {"events": {"a": 1}}) == 400
    async with aiohttp.ClientSession() as http, http.put(
            f"{inst.web_url}/as/_matrix/app/v1/transactions/gz-{uuid.uuid4().hex}",
            data=b"not gzip at all", headers={
                "Authorization": f"Bearer {inst.kabinet.registration.hs_token}",
                "Content-Type": "application/json", "Content-Encoding": "gzip"}) as resp:
        assert resp.status == 400
