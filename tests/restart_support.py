"""Helpers for tests/test_pg_restart.py: citizens' clients submitting appeals in a loop (each
appeal again, with its Idempotency-Key, until it is registered), /healthz read as a monitor
would, and a sitting whose registration and vote are opened through the staff API and answered
from deputies' matrix-nio clients."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from mautrix.api import Method
from mautrix.api import Path as MxPath
from nio import AsyncClient, RoomSendResponse
from sqlalchemy import func, select

from council import appeals
from council import rooms as registry
from council import votes as domain
from council.models import OutboxMessage
from council.roster import load_roster
from council.store import Store
from kabinet.features.sittings_demo import draft_pdf
from kabinet.wiring import Running
from tests.appeals_support import appeal_fields
from tests.conftest import SMALL_ROSTER
from tests.matrix_helpers import wait_for

ROSTER = load_roster(SMALL_ROSTER)
PASSWORDS = {p.id: str(p.password) for p in ROSTER.deputies}
DEPUTIES = tuple(PASSWORDS)  # four deputies of seven seats: quorum 4, all must register
TOKEN = "pg-restart-staff-token-" + uuid.uuid4().hex
STAFF = {"Authorization": f"Bearer {TOKEN}"}
PAUSE = 2.0  # seconds between one client's appeals: about 5 a second from ten
RETRY = 0.25  # a client's pause after a 503: sooner than Retry-After, to time the recovery
SUBJECT = "Після перезапуску бази"


@dataclass
class Answer:
    client: int
    n: int
    status: int
    at: float  # monotonic, when answered
    errcode: str | None = None
    retry_after: str | None = None
    number: str | None = None
    token: str | None = None
    replayed: bool = False  # Idempotent-Replayed: its commit had been made after all
    detail: str = ""


@dataclass
class Load:
    """Ten citizens' clients, each submitting its appeals one after another."""

    url: str
    answers: list[Answer] = field(default_factory=list)
    registered: dict[str, str] = field(default_factory=dict)  # subject -> number answered
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def client(self, i: int, http: aiohttp.ClientSession) -> None:
        n = 0
        while not self.stop.is_set():
            subject = f"{SUBJECT} {i}-{n}"
            fields = appeal_fields(subject=subject, text=f"Звернення {i}-{n} під навантаженням.")
            key = {"Idempotency-Key": f"pg-restart-{i}-{n}"}
            while True:  # the same appeal (the same key) until it is registered
                answer = await self._post(http, i, n, fields, key)
                self.answers.append(answer)
                if answer.status == 201:
                    assert answer.number is not None
                    self.registered[subject] = answer.number
                    break
                await asyncio.sleep(RETRY)
            n += 1
            await asyncio.sleep(PAUSE)

    async def _post(self, http: aiohttp.ClientSession, i: int, n: int, fields: dict[str, Any],
                    key: dict[str, str]) -> Answer:
        try:
            async with http.post(f"{self.url}/api/v1/appeals", json=fields, headers=key) as r:
                raw = await r.text()
                body = await r.json(content_type=None) if raw.startswith("{") else {}
                return Answer(i, n, r.status, time.monotonic(), body.get("errcode"),
                              r.headers.get("Retry-After"), body.get("number"),
                              body.get("token"), r.headers.get("Idempotent-Replayed") == "true",
                              raw[:300])
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Answer(i, n, 0, time.monotonic(), detail=repr(exc))

    def a_token(self) -> str:
        return next(a.token for a in self.answers if a.token)

    def first_201_after(self, moment: float) -> float | None:
        return min((a.at for a in self.answers if a.status == 201 and a.at > moment), default=None)

    def refused_between(self, start: float, end: float) -> list[Answer]:
        return [a for a in self.answers if a.status != 201 and start <= a.at <= end]


@dataclass
class Recovery:
    mode: str
    down: float  # seconds PostgreSQL was stopped
    refused: int  # 503s answered around the outage
    first_201: float  # seconds after the start
    healthy: float  # /healthz ok and the leader's lock taken again
    first_delivered: float


async def all_delivered(running: Running, ids: list[int]) -> bool:
    """Every one of the appeals has its room and nothing of theirs waits in the outbox."""
    rooms = await registry.room_map(running.kabinet.store)
    if not all(f"appeal:{i}" in rooms for i in ids):
        return False
    async with running.kabinet.store.session() as s:
        waiting = await s.scalar(select(OutboxMessage.id).where(
            OutboxMessage.room_id.in_([f"$room:appeal:{i}" for i in ids]),
            OutboxMessage.status != "sent").limit(1))
    return waiting is None


async def stored_once(store: Store, load: Load) -> list[int]:
    """Every appeal answered 201 is stored exactly once, under the number it was answered with;
    the ids of the load's appeals."""
    async with store.session() as s:
        rows = (await s.execute(select(appeals.Appeal.id, appeals.Appeal.subject,
                                       appeals.Appeal.number)
                                .where(appeals.Appeal.subject.like(f"{SUBJECT}%")))).all()
    per_subject = Counter(subject for _, subject, _ in rows)
    assert per_subject and max(per_subject.values()) == 1, per_subject.most_common(3)
    assert {subject: number for _, subject, number in rows} == load.registered
    return [i for i, _, _ in rows]


async def health(url: str) -> tuple[int, dict[str, Any]]:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=8)) as http, \
                http.get(f"{url}/healthz") as r:
            return r.status, await r.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return 0, {"error": repr(exc)}


async def healthy_leader(url: str, took_over: int) -> bool:
    status, body = await health(url)
    leader = body.get("leader", {})
    return (status == 200 and body.get("database") == "ok" and leader.get("leading") is True
            and leader.get("took_over") == took_over)


async def first_sent_after(probe: Store, moment: datetime) -> datetime | None:
    """When the first outbox message sent after `moment` was marked sent (by Kabinet, on this
    machine's clock)."""
    try:
        async with probe.session() as s:
            return await s.scalar(select(func.min(OutboxMessage.sent_at))
                                  .where(OutboxMessage.sent_at > moment))
    except Exception:  # the probe's own pool still finding its way back
        return None


# -- the sitting and its vote -------------------------------------------------------------------


async def post(http: aiohttp.ClientSession, url: str, status: int = 201, **kw: Any
               ) -> dict[str, Any]:
    async with http.post(url, headers=STAFF, **kw) as resp:
        assert resp.status == status, await resp.text()
        return await resp.json()


async def bot_event(running: Running, room_id: str, marker: dict[str, Any], what: str,
                    timeout: float = 90) -> dict[str, Any]:
    """The bot's event in the room carrying this vote marker (a poll's start, a result)."""
    kabinet = running.kabinet

    async def found() -> dict[str, Any] | None:
        resp = await kabinet.hs.request(Method.GET, MxPath.v3.rooms[room_id].messages,
                                        query={"dir": "b", "limit": "100"})
        return next((e for e in resp["chunk"] if e["sender"] == kabinet.hs.bot_mxid
                     and e["content"].get(domain.VOTE_KEY) == marker), None)
    return await wait_for(found, timeout=timeout, interval=0.5, what=what)


async def respond(client: AsyncClient, room_id: str, poll_id: str, answer: str) -> None:
    kind = "org.matrix.msc3381.poll.response"
    resp = await client.room_send(room_id, kind, {
        kind: {"answers": [answer]}, "m.relates_to": {"rel_type": "m.reference",
                                                      "event_id": poll_id}})
    assert isinstance(resp, RoomSendResponse), resp


async def responses(running: Running, vote_id: int) -> int:
    async with running.kabinet.store.session() as s:
        return int(await s.scalar(select(func.count(domain.VoteResponse.id))
                                  .where(domain.VoteResponse.vote_id == vote_id)) or 0)


@dataclass
class Sitting:
    id: int
    room_id: str
    vote_id: int
    number: int
    poll: str


async def vote_in_progress(running: Running, http: aiohttp.ClientSession,
                           people: dict[str, AsyncClient]) -> Sitting:
    """A sitting with one item; registration opened through the staff API and every deputy
    registered; a vote opened through it, two deputies have answered."""
    url = running.web_url
    starts = (datetime.now() + timedelta(days=30)).replace(microsecond=0).isoformat()
    sitting = await post(http, f"{url}/api/v1/sittings", json={
        "kind": "plenary", "number": "9", "title": "Сесія під час перезапуску бази",
        "place": "Сесійна зала", "starts_at": starts})
    sid = sitting["id"]
    form = aiohttp.FormData()
    for k, v in {"number": "1", "title": "Про бюджет", "initiator": "Виконком"}.items():
        form.add_field(k, v)
    form.add_field("file", draft_pdf("1", "Про бюджет", "Виконком", ["Текст."]),
                   filename="proekt-1.pdf", content_type="application/pdf")
    await post(http, f"{url}/api/v1/sittings/{sid}/drafts", data=form)

    async def room() -> str | None:
        return (await registry.room_map(running.kabinet.store)).get(registry.sitting(sid))
    room_id = await wait_for(room, timeout=90, what="the sitting's room")
    for who, client in people.items():
        async def inside(client: AsyncClient = client) -> bool:
            return room_id in getattr(await client.joined_rooms(), "rooms", [])
        await wait_for(inside, timeout=90, what=f"{who} in the sitting room")

    registration = await post(http, f"{url}/api/v1/sittings/{sid}/registration")
    ballot = await bot_event(running, room_id, {"registration": registration["id"]},
                             "the registration ballot")
    for who in DEPUTIES:
        await respond(people[who], room_id, ballot["event_id"], domain.PRESENT)

    async def registered() -> bool:
        async with http.get(f"{url}/api/v1/sittings/{sid}/votes") as r:
            return len((await r.json())["attendance"]["registered"]) == len(DEPUTIES)
    await wait_for(registered, timeout=90, what="every deputy registered")
    vote = await post(http, f"{url}/api/v1/sittings/{sid}/votes",
                      json={"item": "1", "majority": "procedural"})
    poll = await bot_event(running, room_id, {"vote": vote["id"]}, "the vote's poll")
    for who in DEPUTIES[:2]:
        await respond(people[who], room_id, poll["event_id"], "for")
    await wait_for(lambda: at_least(running, vote["id"], 2), timeout=90, what="two answers")
    return Sitting(sid, room_id, vote["id"], vote["number"], poll["event_id"])


async def at_least(running: Running, vote_id: int, n: int) -> bool:
    return await responses(running, vote_id) >= n
