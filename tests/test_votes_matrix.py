"""Roll-call votes on a real Synapse. Deputies answer the bot's polls from matrix-nio with the
raw events Element Web sends (the unstable MSC3381 response) and with the stable
`m.poll.response`; the tests wait on the bot's messages in the room. One installation for the
module (a five-deputy council of its own), each test on a sitting of its own; the restart test
restarts it in place."""

from __future__ import annotations

import argparse
import csv
import io
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from mautrix.api import Method
from mautrix.api import Path as MxPath
from nio import AsyncClient, RoomRedactError, RoomSendResponse
from sqlalchemy import func, select

from council import rooms as registry
from council import sittings
from council import votes as domain
from council.roster import parse_roster
from kabinet.core import Core
from kabinet.features import votes_cli
from kabinet.features.sittings import Sittings
from kabinet.features.sittings import context as sittings_context
from kabinet.features.sittings_demo import draft_pdf
from kabinet.features.votes import Votes
from kabinet.features.votes import context as votes_context
from kabinet.wiring import Kabinet, Running, start
from tests.conftest import Deputies, test_settings
from tests.matrix_helpers import settle, wait_for

FACTION = "Фракція «Світанок»"
ROSTER_DATA: dict[str, Any] = {
    "council": {"name": "Тестова рада голосувань"},
    "bodies": [{"id": "council", "kind": "council", "name": "Тестова рада голосувань"}],
    "deputies": [
        {"id": "antonenko", "name": "Антоненко Анна", "faction": FACTION, "password": "vote-test-1"},
        {"id": "borysenko", "name": "Борисенко Богдан", "faction": FACTION, "password": "vote-test-2"},
        {"id": "vasylenko", "name": "Василенко Віра", "faction": "Фракція «Обрій»",
         "password": "vote-test-3"},
        {"id": "hrytsenko", "name": "Гриценко Гліб", "password": "vote-test-4"},
        {"id": "danylenko", "name": "Даниленко Дарина", "password": "vote-test-5"},
    ],
    "secretariat": [{"id": "clerk", "name": "Секретаренко Ольга", "password": "vote-clerk-1"}],
}
ROSTER = parse_roster(ROSTER_DATA)
A, B, C, D, E = (d.id for d in ROSTER.deputies)  # five deputies: quorum 3, majority 3
CLERK = "clerk"
PASSWORDS = {p.id: str(p.password) for p in (*ROSTER.deputies, *ROSTER.secretariat)}
UNSTABLE, STABLE = "org.matrix.msc3381.poll.response", "m.poll.response"


@dataclass
class Installation:
    """The running installation; the restart test replaces it with a restarted one."""

    running: Running
    roster_path: Path
    ports: dict[str, Any]

    @property
    def kabinet(self) -> Kabinet:
        return self.running.kabinet

    async def restart(self) -> None:
        await self.running.stop()
        settings = test_settings(self.kabinet.settings.data_dir, self.roster_path, **self.ports)
        self.running = await start(Kabinet(settings, parse_roster(ROSTER_DATA)))


@pytest.fixture(scope="module")
async def inst(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Installation]:
    base = tmp_path_factory.mktemp("votes")
    roster_path = base / "roster.yaml"
    roster_path.write_text(yaml.safe_dump(ROSTER_DATA, allow_unicode=True), encoding="utf-8")
    settings = test_settings(base / "data", roster_path)
    running = await start(Kabinet(settings, ROSTER))
    # A restart reuses the ports, as `make run` does: the deputies' clients keep their URL.
    holder = Installation(running, roster_path, {"web.port": settings.web.port,
                                                 "homeserver.port": settings.homeserver.port})
    await settle(running.kabinet, ROSTER)
    yield holder
    await holder.running.stop()


@pytest.fixture(scope="module")
async def people(inst: Installation) -> AsyncIterator[dict[str, AsyncClient]]:
    who = Deputies(inst.kabinet.settings.homeserver.client_url)
    yield {pid: await who.login(pid, password) for pid, password in PASSWORDS.items()}
    await who.close()


# -- the room as clients see it ----------------------------------------------------------------


async def timeline(inst: Installation, room_id: str) -> list[dict[str, Any]]:
    """The room's last 200 events, oldest first."""
    resp = await inst.kabinet.hs.request(Method.GET, MxPath.v3.rooms[room_id].messages,
                                         query={"dir": "b", "limit": "200"})
    return list(reversed(resp["chunk"]))


async def bot_event(inst: Installation, room_id: str, match: Callable[[dict[str, Any]], bool],
                    what: str, timeout: float = 60) -> dict[str, Any]:
    bot = inst.kabinet.hs.bot_mxid

    async def found() -> dict[str, Any] | None:
        return next((e for e in await timeline(inst, room_id)
                     if e["sender"] == bot and match(e)), None)
    return await wait_for(found, timeout=timeout, what=what)


def replying_to(event_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}) \
        .get("event_id") == event_id


def body(e: dict[str, Any]) -> str:
    return str(e["content"].get("body", ""))


def question(e: dict[str, Any]) -> str:
    return str(e["content"].get(domain.POLL_START, {}).get("question", {}).get("body", ""))


async def say(client: AsyncClient, room_id: str, text: str) -> str:
    resp = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text})
    assert isinstance(resp, RoomSendResponse), resp
    return resp.event_id


async def command(inst: Installation, client: AsyncClient, room_id: str, text: str) -> str:
    """The bot's reply to a command."""
    event_id = await say(client, room_id, text)
    return body(await bot_event(inst, room_id, replying_to(event_id), f"the reply to {text!r}"))


async def respond(client: AsyncClient, room_id: str, poll_id: str, answer: str, *,
                  stable: bool = False) -> str:
    """A poll response exactly as Element Web (unstable) or a spec v1.7 client (stable) sends it."""
    relates = {"rel_type": "m.reference", "event_id": poll_id}
    if stable:
        kind, content = STABLE, {"m.selections": [answer], "m.relates_to": relates}
    else:
        kind, content = UNSTABLE, {UNSTABLE: {"answers": [answer]}, "m.relates_to": relates}
    resp = await client.room_send(room_id, kind, content)
    assert isinstance(resp, RoomSendResponse), resp
    return resp.event_id


# -- sittings ---------------------------------------------------------------------------------


@dataclass
class Hall:
    sitting_id: int
    room_id: str
    title: str


async def new_sitting(inst: Installation, people: dict[str, AsyncClient], *,
                      items: tuple[str, ...] = ("1",), withdrawn: tuple[str, ...] = ()) -> Hall:
    """A plenary sitting with its agenda, its room, and everyone joined."""
    kabinet = inst.kabinet
    ctx = sittings_context(kabinet)
    title = f"Тестова сесія {uuid.uuid4().hex[:6]}"
    spec = sittings.NewSitting(kind="plenary", title=title, place="Сесійна зала",
                               starts_at=datetime.now(ctx.tz) + timedelta(days=21))
    async with kabinet.store.session() as s:
        sitting, _ = await sittings.create_sitting(s, ctx, spec)
        for n in items:
            data = draft_pdf(n, f"Про питання {n}", "Секретаріат", ["Текст проєкту."])
            await sittings.add_draft(s, ctx, sitting.id, sittings.NewDraft(
                number=n, title=f"Про питання {n}", initiator="Секретаріат"),
                sittings.prepare_file(ctx, data, f"draft-{n}.pdf"), source="cli")
        for n in withdrawn:
            await sittings.withdraw_item(s, ctx, sitting.id, n)
    kabinet.feature(Sittings).rooms.poke()
    kabinet.delivery.poke()

    async def room() -> str | None:
        return (await registry.room_map(kabinet.store)).get(registry.sitting(sitting.id))
    room_id = await wait_for(room, timeout=60, what="the sitting room")
    for client in people.values():
        async def inside(client: AsyncClient = client) -> bool:
            return room_id in getattr(await client.joined_rooms(), "rooms", [])
        await wait_for(inside, timeout=60, what=f"{client.user_id} in the sitting room")
    return Hall(sitting.id, room_id, title)


async def open_registration(inst: Installation, people: dict[str, AsyncClient], hall: Hall
                            ) -> str:
    """The clerk opens registration; the ballot's event id."""
    await say(people[CLERK], hall.room_id, "!реєстрація")
    ballot = await bot_event(inst, hall.room_id, lambda e: e["type"] == domain.POLL_START
                             and "registration" in e["content"].get(domain.VOTE_KEY, {}),
                             "the registration ballot")
    await count_shown(inst, hall, 0)
    return str(ballot["event_id"])


async def count_shown(inst: Installation, hall: Hall, n: int) -> str:
    """The live count (the first message, or its latest edit) says n registered."""
    head = f"📋 Зареєстровано {n} з 5."

    def says(e: dict[str, Any]) -> bool:
        return body(e).startswith(head) or str(e["content"].get("m.new_content", {})
                                               .get("body", "")).startswith(head)
    return body(await bot_event(inst, hall.room_id, says, f"the live count showing {n}"))


async def open_vote(inst: Installation, people: dict[str, AsyncClient], hall: Hall, number: int,
                    args: str) -> str:
    await say(people[CLERK], hall.room_id, f"!голосування {args}")
    poll = await bot_event(inst, hall.room_id, lambda e: e["type"] == domain.POLL_START and
                           question(e).startswith(f"Голосування № {number}:"), f"vote {number}")
    return str(poll["event_id"])


async def result(inst: Installation, hall: Hall, number: int) -> str:
    return body(await bot_event(inst, hall.room_id, lambda e: e["content"].get(
        domain.VOTE_KEY) == {"result": number}, f"the result of vote {number}"))


async def stored_votes(inst: Installation, hall: Hall) -> list[domain.VoteView]:
    async with inst.kabinet.store.session() as s:
        return await domain.sitting_votes(s, hall.sitting_id)


def results(view: domain.VoteView) -> dict[str, str]:
    return {line.member_id: line.result for line in view.roll_call}


# -- the tests --------------------------------------------------------------------------------


async def test_registration_counts_towards_quorum_and_a_vote_without_it_is_refused(inst, people):
    hall = await new_sitting(inst, people)
    ballot = await open_registration(inst, people, hall)
    first = await respond(people[A], hall.room_id, ballot, domain.PRESENT)
    await respond(people[B], hall.room_id, ballot, domain.PRESENT, stable=True)
    await respond(people[A], hall.room_id, ballot, domain.PRESENT)  # twice is still one
    assert "Кворум немає" in await count_shown(inst, hall, 2)

    reply = await command(inst, people[CLERK], hall.room_id, "!vote 1")
    assert reply.startswith("❌ немає кворуму: зареєстровано 2, потрібно 3"), reply
    assert await stored_votes(inst, hall) == []

    # The secretariat is not a member: its "present" is answered in the thread, not counted.
    await respond(people[CLERK], hall.room_id, ballot, domain.PRESENT)
    await bot_event(inst, hall.room_id, lambda e: "реєстрацію не зараховано" in body(e)
                    and f"@{CLERK}:" in body(e), "the outsider's refusal")
    await respond(people[C], hall.room_id, ballot, domain.PRESENT)
    assert "Кворум є" in await count_shown(inst, hall, 3)
    reply = await command(inst, people[D], hall.room_id, "!відсутній на лікарняному")
    assert reply.startswith("✅ Відсутність записано: Гриценко Гліб"), reply

    # Deputies cannot take back a response: redaction is the bot's alone in sitting rooms.
    redacted = await people[A].room_redact(hall.room_id, first, reason="передумала")
    assert isinstance(redacted, RoomRedactError) and redacted.status_code == "M_FORBIDDEN", redacted
    async with inst.kabinet.store.session() as s:
        seen = await domain.attendance(s, votes_context(inst.kabinet), hall.sitting_id)
    assert sorted(m for m, _ in seen.registered) == sorted([A, B, C])
    assert (seen.total, seen.quorum, seen.has_quorum) == (5, 3, True)
    assert [(m, reason) for m, _, reason in seen.absences] == [(D, "на лікарняному")]


async def test_a_roll_call_counts_latest_answers_conflicts_outsiders_and_not_late_ones(
        inst, people, capsys):
    hall = await new_sitting(inst, people)
    ballot = await open_registration(inst, people, hall)
    for who in (A, B, C, D):
        await respond(people[who], hall.room_id, ballot, domain.PRESENT)
    await count_shown(inst, hall, 4)
    text = "Мій син бере участь у тендері"
    reply = await command(inst, people[C], hall.room_id, f"!конфлікт 1 {text}")
    assert reply.startswith("✅ Заяву про конфлікт інтересів записано: Василенко Віра"), reply

    poll = await open_vote(inst, people, hall, 1, "1 5m")
    reply = await command(inst, people[CLERK], hall.room_id, "!vote 1")
    assert reply.startswith("❌ спершу завершіть голосування № 1"), reply

    await respond(people[A], hall.room_id, poll, "for")
    await respond(people[B], hall.room_id, poll, "for", stable=True)
    await respond(people[C], hall.room_id, poll, "for")  # declared a conflict: not counted
    await respond(people[CLERK], hall.room_id, poll, "against")  # not a member
    await respond(people[A], hall.room_id, poll, "against", stable=True)  # changed her mind
    await respond(people[B], hall.room_id, poll, "maybe")  # no such answer: his "for" stands
    # D is registered and silent, E never registered. Closing at once: the close waits for its
    # own poll end to come back, so every response above is in the count.
    await say(people[CLERK], hall.room_id, "!закрити")
    published = await result(inst, hall, 1)
    late = await respond(people[D], hall.room_id, poll, "for")
    await bot_event(inst, hall.room_id, lambda e: "голосування вже завершено" in body(e)
                    and f"@{D}:" in body(e), "the late response's refusal")
    for who, why in ((CLERK, "ви не входите до складу"), (B, "такої відповіді немає")):
        def refused(e: dict[str, Any], w: str = who, y: str = why) -> bool:
            return y in body(e) and f"@{w}:" in body(e)
        await bot_event(inst, hall.room_id, refused, f"the refusal of {who}'s response")

    [view] = await stored_votes(inst, hall)
    expected = {A: "against", B: "for", C: "conflict", D: "not_voting", E: "absent"}
    assert results(view) == expected
    assert view.totals == {"for": 1, "against": 1, "abstain": 0, "not_voting": 1, "absent": 1,
                           "conflict": 1}
    assert (view.status, view.outcome, view.threshold) == ("closed", "rejected", 3)
    assert [(c.member_id, c.text) for c in view.conflicts] == [(C, text)]
    # The message in the room says the same, line by line, with the stored digest.
    for line in view.roll_call:
        assert f"  {line.name} — {domain.RESULT_UK[line.result]}" in published
    assert "НЕ ПРИЙНЯТО" in published and f"SHA-256: {view.digest}" in published
    assert f"{FACTION}:" in published and f"Василенко Віра: {text}" in published
    async with inst.kabinet.store.session() as s:
        late_row = await s.scalar(select(domain.VoteResponse).where(
            domain.VoteResponse.event_id == late))
    assert late_row is not None and late_row.status == "late"

    announcements = (await registry.room_map(inst.kabinet.store))[registry.announcements()]
    news = body(await bot_event(inst, announcements, lambda e: hall.title in body(e)
                                and body(e).startswith("🗳"), "the result in the announcements"))
    assert "голосування № 1, питання 1" in news and "не прийнято" in news

    # Published on the site as soon as it is counted: the page, the open data, the PDF.
    site = inst.running.web_url.rstrip("/")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{site}/sittings/{hall.sitting_id}") as resp:
            page = await resp.text()
        async with http.get(f"{site}/sittings/{hall.sitting_id}/votes.csv") as resp:
            rows = list(csv.DictReader(io.StringIO(await resp.text())))
        async with http.get(f"{site}/sittings/{hall.sitting_id}/votes.pdf") as resp:
            pdf = (resp.status, resp.content_type, await resp.read())
    assert view.digest in page
    assert {r["voterId"]: r["result"] for r in rows} == {
        A: "Проти", B: "За", C: "Не голосував", D: "Не голосував", E: "Відсутній"}
    assert pdf[:2] == (200, "application/pdf") and pdf[2].startswith(b"%PDF")
    # Anyone can recount: `kabinet votes audit` re-reads the poll's relations and agrees ...
    assert await audit(inst, hall.sitting_id) == 0
    out = capsys.readouterr().out
    assert "vote 1: recounted" in out and "same result" in out and view.digest in out
    # ... and a stored result changed behind its back is found out.
    async with inst.kabinet.store.session() as s:
        row = await s.scalar(select(domain.RollCall).where(domain.RollCall.member_id == A))
        assert row is not None
        row.result = "for"
    assert await audit(inst, hall.sitting_id) == 1
    out = capsys.readouterr().out
    assert "DIFFERENT" in out and f"{A}: stored for" in out and "recounted against" in out
    async with inst.kabinet.store.session() as s:
        row = await s.scalar(select(domain.RollCall).where(domain.RollCall.member_id == A))
        assert row is not None
        row.result = "against"


async def audit(inst: Installation, sitting_id: int) -> int:
    """`kabinet votes audit <sitting>` in-process, on its own Core (as the command runs)."""
    core = Core(inst.kabinet.settings, inst.kabinet.roster)
    return await votes_cli.cmd_audit(votes_context, core, argparse.Namespace(sitting=sitting_id))


async def test_a_restart_between_responses_loses_none(inst, people):
    hall = await new_sitting(inst, people)
    ballot = await open_registration(inst, people, hall)
    for who in (A, B, C):
        await respond(people[who], hall.room_id, ballot, domain.PRESENT)
    await count_shown(inst, hall, 3)
    poll = await open_vote(inst, people, hall, 1, "1 procedural 2m30s")

    await respond(people[A], hall.room_id, poll, "for")
    await respond(people[B], hall.room_id, poll, "for", stable=True)
    await inst.restart()  # at once: the appservice may not have seen these two yet
    await respond(people[C], hall.room_id, poll, "for")
    await respond(people[B], hall.room_id, poll, "against")
    # The unregistered may still vote; with their answers every member has answered, and the
    # vote closes by itself (no !close).
    await respond(people[D], hall.room_id, poll, "abstain", stable=True)
    await respond(people[E], hall.room_id, poll, "against")
    published = await result(inst, hall, 1)

    [view] = await stored_votes(inst, hall)
    assert results(view) == {A: "for", B: "against", C: "for", D: "abstain", E: "against"}
    assert (view.outcome, view.threshold) == ("adopted", 2)  # procedural: 3 registered
    assert "ПРИЙНЯТО" in published and "НЕ ПРИЙНЯТО" not in published
    async with inst.kabinet.store.session() as s:
        stored = await s.scalar(select(func.count(domain.VoteResponse.id)).where(
            domain.VoteResponse.vote_id == view.id))
        reason = await s.scalar(select(domain.Vote.close_reason).where(domain.Vote.id == view.id))
    assert stored == 6  # each response once, none lost and none doubled by the redelivery
    assert reason == "all_voted"


async def test_a_response_the_homeserver_never_sent_us_is_counted_at_the_close(
        inst, people, monkeypatch):
    """Synapse can strand a transaction it was sending when it stopped (the restart test above
    met it); the close reads the poll's relations, so such a response still counts. This vote
    closes on its timer."""
    hall = await new_sitting(inst, people)
    ballot = await open_registration(inst, people, hall)
    for who in (A, B, C):
        await respond(people[who], hall.room_id, ballot, domain.PRESENT)
    await count_shown(inst, hall, 3)
    poll = await open_vote(inst, people, hall, 1, "1 procedural 15s")  # the shortest allowed
    server, votes = inst.kabinet.transactions, inst.kabinet.feature(Votes)
    caught_up, by_timer = votes.events.caught_up, votes.clock.closed_by_timer
    dropped: list[str] = []
    handle = server._handle

    async def lossy(raw: dict[str, Any]) -> None:  # as if the homeserver never sent these
        if raw.get("type") in domain.RESPONSE_TYPES and raw.get("sender") == f"@{C}:localhost":
            dropped.append(str(raw.get("event_id")))
            return
        await handle(raw)

    monkeypatch.setattr(server, "_handle", lossy)
    lost = await respond(people[C], hall.room_id, poll, "against", stable=True)
    await wait_for(lambda: lost in dropped, what="the transaction carrying C's response")
    monkeypatch.undo()
    await respond(people[A], hall.room_id, poll, "for")
    await result(inst, hall, 1)  # closed by the clock when its 15 s were up
    [view] = await stored_votes(inst, hall)
    assert results(view) == {A: "for", B: "not_voting", C: "against", D: "absent", E: "absent"}
    assert votes.events.caught_up == caught_up + 1
    assert votes.clock.closed_by_timer == by_timer + 1


async def test_deputies_cannot_run_votes_and_bad_items_are_refused(inst, people):
    hall = await new_sitting(inst, people, items=("1", "2"), withdrawn=("2",))
    for text in ("!vote 1", "!реєстрація", "!закрити"):
        reply = await command(inst, people[A], hall.room_id, text)
        assert reply.startswith("⛔ Це може зробити лише головуючий або секретаріат"), reply
    clerk = people[CLERK]
    assert (await command(inst, clerk, hall.room_id, "!vote 9")).startswith(
        "❌ питання № 9 немає в порядку денному")
    assert (await command(inst, clerk, hall.room_id, "!vote 2")).startswith(
        "❌ питання № 2 знято з розгляду")
    assert (await command(inst, clerk, hall.room_id, "!vote 1 таємне")).startswith(
        "❌ Таємне голосування бот не проводить")
    assert (await command(inst, clerk, hall.room_id, "!vote 1 5s")).startswith("❌ Тривалість")
    assert (await command(inst, clerk, hall.room_id, "!close")).startswith(
        "❌ зараз немає відкритого голосування")
    assert await stored_votes(inst, hall) == []
    polls = [e for e in await timeline(inst, hall.room_id) if e["type"] == domain.POLL_START]
    assert polls == []  # neither a ballot nor a vote was opened


async def test_help_in_a_sitting_room_shows_each_person_what_they_may_do_there(inst, people):
    """`!допомога` asks each command's permission hook: a deputy is told how to register and vote
    (the polls) and what they may declare, not how to run the sitting; the secretariat is told
    how to run it; in a deputy's notes room the note command and nothing of sittings."""
    hall = await new_sitting(inst, people)
    deputy = await command(inst, people[A], hall.room_id, "!допомога")
    assert deputy.startswith("Команди бота «Кабінет депутата», доступні вам тут:"), deputy
    assert "«Присутній»; «За», «Проти» або «Утримався»" in deputy
    assert "!відсутній (!відсутня, !absent)" in deputy and "!конфлікт (!conflict)" in deputy
    for running in ("!реєстрація", "!голосування", "!закрити", "!нотатка"):
        assert running not in deputy, running
    clerk = await command(inst, people[CLERK], hall.room_id, "!help")
    for running in ("!реєстрація (!registration) — відкрити реєстрацію",
                    "!голосування (!vote) <№ питання> [загальна|процедурна|2/3]",
                    "!закрити (!close) — завершити голосування"):
        assert running in clerk, running
    assert "«Присутній»" not in clerk  # the secretariat does not vote

    notes_room = await registry.room_id(inst.kabinet.store, registry.notes(A))
    assert notes_room is not None
    mine = await command(inst, people[A], notes_room, "!допомога")
    assert "!нотатка (!note) <засідання>/<№ питання> <текст>" in mine
    for other in ("!реєстрація", "!голосування", "!відсутній", "!конфлікт", "«За»"):
        assert other not in mine, other
