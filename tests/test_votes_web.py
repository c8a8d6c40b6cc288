"""Roll-call votes on the web, without a homeserver: the sitting page's results, open data (CSV),
the JSON API, the PDF, the hall view's event stream, the staff API and its refusals, and the
404s; on SQLite and PostgreSQL. The votes are made by the domain's own operations (tests/
votes_support.Hall plays the homeserver)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pypdf import PdfReader
from sqlalchemy import func, select

from council import language
from council import votes as domain
from council.models import OutboxMessage
from council.store import Store
from tests.votes_support import Hall, context, plenary_with_items, sittings_context, small_roster
from web import sittings as web_sittings
from web import votes as web_votes
from web.app import SiteInfo, create_app
from web.votes import models

TOKEN = "votes-staff-token-" + uuid.uuid4().hex
STAFF = {"Authorization": f"Bearer {TOKEN}"}
CLI = domain.Actor.staff_tool("cli")
CONFLICT = "Є членом наглядової ради підприємства, якого стосується рішення"
# Vote 1 (item 1, total majority: 4 of 7 needed): rejected with 3 "За".
VOTE_1 = {"bondar": "for", "hnatiuk": "for", "ivanyshyn": "against", "kovalchuk": "conflict",
          "lysenko": "not_voting", "marchuk": "absent", "holova": "for"}
# Vote 2 (item 2, procedural: 4 of the 6 registered): adopted.
VOTE_2 = {"bondar": "for", "hnatiuk": "for", "ivanyshyn": "for", "kovalchuk": "against",
          "lysenko": "abstain", "marchuk": "absent", "holova": "for"}
REGISTERED = ["bondar", "hnatiuk", "ivanyshyn", "kovalchuk", "lysenko", "holova"]


@dataclass
class Site:
    url: str
    hall: Hall
    deps: web_votes.Deps
    server: TestServer
    pokes: list[int] = field(default_factory=list)

    @property
    def sid(self) -> int:
        return self.hall.sitting_id


async def start_site(store: Store, tmp_path: Path) -> Site:
    roster = small_roster()
    sid = await plenary_with_items(store, tmp_path, roster, items=3)
    ctx = context(roster)
    hall = Hall(store, ctx, sid)
    app = create_app(SiteInfo(roster.council.name, "kabinet.test", "http://127.0.0.1:1",
                              "#c:kabinet.test", "https://rada.example"), roster, {})
    web_sittings.setup(app, web_sittings.Deps(store, lambda: sittings_context(tmp_path, roster), TOKEN))
    pokes: list[int] = []
    deps = web_votes.Deps(store, lambda: ctx, TOKEN, domain.Changes(), lambda: pokes.append(1))
    web_votes.setup(app, deps)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return Site(str(server.make_url("")).rstrip("/"), hall, deps, server, pokes)


@pytest.fixture
async def site(store: Store, tmp_path: Path) -> AsyncIterator[Site]:
    s = await start_site(store, tmp_path)
    yield s
    await s.server.close()


async def open_vote(hall: Hall, item: str, **kw: object) -> int:
    async with hall.store.session() as s:
        return (await domain.open_vote(s, hall.ctx, hall.sitting_id, CLI,
                                       domain.OpenVote(item=item, **kw))).id


async def close(hall: Hall, vote_id: int) -> None:
    async with hall.store.session() as s:
        await domain.request_close(s, hall.ctx, vote_id, "command", CLI)
    assert await hall.end(vote_id) is not None


async def seed_two_votes(hall: Hall) -> None:
    """Registration (marchuk absent, with a reason), a conflict, one rejected and one adopted vote."""
    async with hall.store.session() as s:
        await domain.open_registration(s, hall.ctx, hall.sitting_id, CLI)
        await domain.notify_absence(s, hall.ctx, hall.sitting_id, CLI,
                                    domain.NewAbsence(member="marchuk", reason="Службове відрядження"))
        await domain.declare_conflict(s, hall.ctx, hall.sitting_id, CLI,
                                      domain.NewConflict(item="1", member="kovalchuk", text=CONFLICT))
    await hall.register(*REGISTERED)
    for item, expected, majority in (("1", VOTE_1, "total"), ("2", VOTE_2, "procedural")):
        vote_id = await open_vote(hall, item, majority=majority)
        for member, result in expected.items():
            if result in domain.ANSWERS:
                await hall.answer(member, result, f"vote:{vote_id}:poll")
            elif result == "conflict":
                await hall.answer(member, "for", f"vote:{vote_id}:poll")  # not counted
        await close(hall, vote_id)


def roll_call(html: str, number: int) -> dict[str, str]:
    """member id -> result code, from the page's roll-call table of vote `number`."""
    article = html.split(f'id="vote-{number}"', 1)[1].split("</article>", 1)[0]
    return dict(re.findall(r'<tr data-member="([\w-]+)">.*?<td class="r-(\w+)">', article, re.S))


async def get(url: str, **kw: object) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.get(url, **kw) as r:  # type: ignore[arg-type]
        return r.status, dict(r.headers), await r.read()


# -- the sitting page, the deputy's page -----------------------------------------------------

async def test_the_sitting_page_shows_each_closed_vote_with_its_exact_roll_call(site: Site) -> None:
    await seed_two_votes(site.hall)
    status, _, body = await get(f"{site.url}/sittings/{site.sid}")
    html = body.decode()
    assert status == 200
    assert roll_call(html, 1) == VOTE_1 and roll_call(html, 2) == VOTE_2
    vote_1 = html.split('id="vote-1"', 1)[1].split("</article>", 1)[0]
    assert "НЕ ПРИЙНЯТО" in vote_1 and CONFLICT in vote_1
    assert re.search(r"SHA-256: <code>[0-9a-f]{64}</code>", vote_1)
    assert "ПРИЙНЯТО" in html.split('id="vote-2"', 1)[1] and "НЕ ПРИЙНЯТО" not in \
        html.split('id="vote-2"', 1)[1].split("</article>", 1)[0]
    # Grouped by faction: the head last, in a group of their own; the independent before.
    groups = re.findall(r'scope="rowgroup">([^<(]+) \(', vote_1)
    assert [g.strip() for g in groups] == ["Свобода", "Європейська Солідарність", "Позафракційні",
                                           "Міський голова"]
    assert 'id="registered-count">6<' in html and "Службове відрядження" in html
    status, _, body = await get(f"{site.url}/sittings/{site.sid}?lang=en")
    assert "Roll-call" in body.decode() and "Not adopted" in body.decode()


async def test_the_deputy_page_shows_the_record_and_flags_a_year_of_absences(site: Site) -> None:
    await seed_two_votes(site.hall)
    status, _, body = await get(f"{site.url}/deputies/marchuk")
    html = body.decode()
    assert status == 200 and "Marchuk Іван Петрович" in html
    assert 'id="recall-2026"' in html and "ст. 37" in html  # 1 of 1 sittings missed
    assert html.count('<li data-sitting=') == 2 and html.count('class="r-absent"') == 2
    status, _, body = await get(f"{site.url}/deputies/bondar")
    assert status == 200 and 'id="recall-' not in body.decode()
    assert body.decode().count('class="r-for"') == 2
    status, _, body = await get(f"{site.url}/deputies/holova")  # the head has a record too
    assert status == 200 and "Марцінків Руслан Романович" in body.decode()


@pytest.mark.parametrize("path", [
    "/deputies/nobody", "/deputies/sekretar", "/sittings/999999/live", "/sittings/999999/votes.csv",
    "/sittings/999999/motions.csv", "/sittings/999999/votes.pdf", "/sittings/999999/live/events",
    "/sittings/1_0/live", "/api/v1/sittings/999999/votes"])
async def test_an_unknown_sitting_or_deputy_is_a_404(site: Site, path: str) -> None:
    status, headers, body = await get(site.url + path)
    assert status == 404
    if path.startswith("/api/"):
        assert json.loads(body)["errcode"] == "KB_UNKNOWN_SITTING"
    else:
        assert headers["Content-Type"].startswith("text/html")


# -- open data, JSON, PDF --------------------------------------------------------------------

async def test_open_data_csvs_have_exactly_the_columns_and_one_row_per_motion_and_answer(
        site: Site) -> None:
    await seed_two_votes(site.hall)
    cases = [(f"/sittings/{site.sid}/motions.csv", domain.MOTION_COLUMNS, 2,
              f"sitting-{site.sid}-motions.csv"),
             (f"/sittings/{site.sid}/votes.csv", domain.VOTER_COLUMNS, 14,
              f"sitting-{site.sid}-votes.csv"),
             ("/open-data/motions.csv", domain.MOTION_COLUMNS, 2, "motions.csv"),
             ("/open-data/votes.csv", domain.VOTER_COLUMNS, 14, "votes.csv")]
    for path, columns, count, filename in cases:
        status, headers, body = await get(site.url + path)
        assert status == 200 and headers["Content-Type"] == "text/csv; charset=utf-8"
        assert headers["Content-Disposition"] == f'attachment; filename="{filename}"'
        assert not body.startswith(b"\xef\xbb\xbf")  # no BOM
        reader = csv.DictReader(io.StringIO(body.decode("utf-8"), newline=""))
        rows = list(reader)
        assert tuple(reader.fieldnames or ()) == columns and len(rows) == count, path
    _, _, body = await get(f"{site.url}/sittings/{site.sid}/motions.csv")
    first, second = csv.DictReader(io.StringIO(body.decode(), newline=""))
    assert (first["votingFor"], first["votingAgainst"], first["notVoting"], first["absent"]) == \
        ("3", "1", "2", "1")  # the conflict is "not voting" on the portal
    assert (first["votingResult"], second["votingResult"]) == ("Не прийнято", "Прийнято")
    _, _, body = await get(f"{site.url}/sittings/{site.sid}/votes.csv")
    voters = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
    assert {r["voterId"]: r["result"] for r in voters[:7]}["ivanyshyn"] == "Проти"


async def test_the_json_api_gives_the_roll_call_conflicts_and_attendance(site: Site) -> None:
    await seed_two_votes(site.hall)
    status, _, body = await get(f"{site.url}/api/v1/sittings/{site.sid}/votes")
    assert status == 200
    data = models.SittingVotes.model_validate_json(body)  # the documented shape
    first, second = data.votes
    assert {x.member_id: x.result for x in first.roll_call} == VOTE_1
    assert {x.member_id: x.result for x in second.roll_call} == VOTE_2
    line = next(x for x in first.roll_call if x.member_id == "kovalchuk")
    assert (line.result_uk, line.result_en) == ("Конфлікт інтересів", "Conflict of interest")
    assert [(c.member_id, c.text) for c in first.conflicts] == [("kovalchuk", CONFLICT)]
    assert (first.outcome, first.outcome_uk, first.threshold) == ("rejected", "не прийнято", 4)
    assert (second.outcome, second.majority) == ("adopted", "procedural")
    assert first.totals == {"for": 3, "against": 1, "abstain": 0, "not_voting": 1, "absent": 1,
                            "conflict": 1}
    assert first.digest and re.fullmatch(r"[0-9a-f]{64}", first.digest)
    assert [m.member_id for m in data.attendance.registered] == REGISTERED
    assert [(a.member_id, a.reason) for a in data.attendance.absences] == [
        ("marchuk", "Службове відрядження")]


async def test_the_pdf_has_one_page_per_closed_vote_with_the_names(site: Site) -> None:
    status, headers, body = await get(f"{site.url}/sittings/{site.sid}/votes.pdf")
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    empty = PdfReader(io.BytesIO(body))
    assert len(empty.pages) == 1 and "немає завершених" in empty.pages[0].extract_text()
    await seed_two_votes(site.hall)
    await open_vote(site.hall, "3")  # open: not in the PDF
    status, _, body = await get(f"{site.url}/sittings/{site.sid}/votes.pdf")
    reader = PdfReader(io.BytesIO(body))
    assert len(reader.pages) == 2
    first = reader.pages[0].extract_text()
    assert "Bondar Іван Петрович" in first and "Марцінків Руслан Романович" in first
    assert "НЕ ПРИЙНЯТО" in first and "Позафракційні" in first
    assert re.search(r"SHA-256: [0-9a-f]{64}", first)
    # The council's official document, in the council's language only: no English halves.
    assert "Результати поіменного голосування № 1" in first and "Поріг 4 «За»" in first
    assert "Рішення НЕ ПРИЙНЯТО" in first and "Конфлікт інтересів:" in first
    every = "\n".join(page.extract_text() for page in [*empty.pages, *reader.pages])
    assert " / " not in every and not re.search(r"\b(Roll-call|For|needed|Conflicts|Decision)\b",
                                                 every)


async def test_the_pdf_is_in_an_english_councils_language(site: Site) -> None:
    await seed_two_votes(site.hall)
    language.use("en")
    try:
        status, _, body = await get(f"{site.url}/sittings/{site.sid}/votes.pdf")
    finally:
        language.use("uk")
    assert status == 200
    first = PdfReader(io.BytesIO(body)).pages[0].extract_text()
    assert "Roll-call vote results No. 1" in first and "Decision: NOT ADOPTED" in first
    assert "Independent" in first and "Conflict of interest" in first
    assert not re.search(r"Результати|Поріг|Рішення|Позафракційні", first)


# -- the hall view ---------------------------------------------------------------------------

async def read_event(stream: aiohttp.StreamReader, timeout: float = 10) -> dict:
    """The next `live` event's data (comments and the retry line skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            block = (await stream.readuntil(b"\n\n")).decode()
            data = [x[6:] for x in block.splitlines() if x.startswith("data: ")]
            if "event: live" in block and data:
                return json.loads("".join(data))


async def test_the_event_stream_sends_a_new_event_after_a_change(site: Site) -> None:
    hall = site.hall
    async with hall.store.session() as s:
        await domain.open_registration(s, hall.ctx, hall.sitting_id, CLI)
    await hall.register(*REGISTERED[:4])
    vote_id = await open_vote(hall, "1")
    status, _, body = await get(f"{site.url}/sittings/{site.sid}/live")
    assert status == 200 and 'data-k="vote.counts.for">0<' in body.decode()
    async with aiohttp.ClientSession() as http, \
            http.get(f"{site.url}/sittings/{site.sid}/live/events") as r:
        assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        first = await read_event(r.content)
        assert first["registered"] == 4 and first["vote"]["counts"]["for"] == 0
        await hall.answer("bondar", "for", f"vote:{vote_id}:poll")
        site.deps.changes.changed(site.sid)  # what the appservice side says after its commit
        second = await read_event(r.content)
        assert second["vote"]["counts"]["for"] == 1 and second["vote"]["answered"] == 1
        assert second["revision"] != first["revision"]
        async with hall.store.session() as s:
            await domain.request_close(s, hall.ctx, vote_id, "command", CLI)
        await hall.end(vote_id)
        site.deps.changes.changed(site.sid)
        third = await read_event(r.content)
        assert third["vote"]["status"] == "closed" and third["vote"]["outcome"] == "rejected"


async def test_an_idle_stream_gets_heartbeats_and_rereads_a_change_it_was_not_told_of(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from web.votes import live

    monkeypatch.setattr(live, "HEARTBEAT", 0.3)
    hall = site.hall
    async with aiohttp.ClientSession() as http, \
            http.get(f"{site.url}/sittings/{site.sid}/live/events") as r:
        assert (await read_event(r.content))["registered"] == 0
        async with asyncio.timeout(5):
            assert (await r.content.readuntil(b"\n\n")) == b": keep-alive\n\n"
        async with hall.store.session() as s:  # as another web process would see it: no signal
            await domain.open_registration(s, hall.ctx, hall.sitting_id, CLI)
        await hall.register("bondar")
        assert (await read_event(r.content, timeout=5))["registered"] == 1


async def test_an_open_event_stream_ends_when_the_app_shuts_down(site: Site) -> None:
    async with aiohttp.ClientSession() as http, \
            http.get(f"{site.url}/sittings/{site.sid}/live/events") as r:
        await read_event(r.content)
        closing = asyncio.ensure_future(site.server.close())
        async with asyncio.timeout(10):  # not the runner's 60 s grace
            assert await r.content.read() is not None  # to the end of the stream
            await closing
    assert site.deps.stopping.is_set()


# -- the staff API ---------------------------------------------------------------------------

async def counts(store: Store) -> tuple[int, ...]:
    async with store.session() as s:
        return tuple([await s.scalar(select(func.count()).select_from(m)) or 0 for m in (
            OutboxMessage, domain.Registration, domain.Vote, domain.Absence, domain.Conflict)])


async def post(url: str, body: object = None, headers: dict[str, str] | None = None
               ) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.post(
            url, json=body, headers=headers or {}) as r:
        return r.status, await r.json()


async def test_the_staff_api_refuses_anonymous_and_wrong_input_and_changes_nothing(site: Site) -> None:
    base = f"{site.url}/api/v1/sittings/{site.sid}"
    writes = [("/registration", None), ("/votes", {"item": "1"}), ("/votes/current/close", None),
              ("/absences", {"member": "marchuk", "reason": "Хвороба"}),
              ("/conflicts", {"item": "1", "member": "bondar", "text": "Родинні зв'язки"})]
    before = await counts(site.hall.store)
    for path, body in writes:
        status, answer = await post(base + path, body)
        assert (status, answer["errcode"]) == (401, "KB_UNAUTHORIZED"), path
        status, _ = await post(base + path, body, {"Authorization": "Bearer wrong"})
        assert status == 401
    bad: list[tuple[str, object, int, str]] = [
           ("/votes", {}, 422, "KB_INVALID"),
           ("/votes", {"item": "1", "majority": "most"}, 422, "KB_INVALID"),
           ("/votes", {"item": "1", "duration": 1}, 422, "KB_INVALID"),
           ("/votes", ["1"], 400, "KB_BAD_JSON"),
           ("/votes", {"item": "1"}, 409, "KB_NO_QUORUM"),
           ("/votes", {"item": "99"}, 404, "KB_UNKNOWN_ITEM"),
           ("/votes/current/close", None, 409, "KB_NO_VOTE"),
           ("/absences", {"member": "marchuk"}, 422, "KB_INVALID"),
           ("/absences", {"member": "sekretar", "reason": "Хвороба"}, 422, "KB_NOT_A_MEMBER"),
           ("/conflicts", {"item": "9", "member": "bondar", "text": "Родинні зв'язки"}, 404,
            "KB_UNKNOWN_ITEM"),
           ("/conflicts", {"item": "1", "member": "bondar", "text": "Р", "extra": 1}, 422,
            "KB_INVALID")]
    for path, payload, want, code in bad:
        status, answer = await post(base + path, payload, STAFF)
        assert (status, answer["errcode"]) == (want, code), (path, payload, answer)
        assert answer["error"]  # the bilingual reason
    status, answer = await post(f"{site.url}/api/v1/sittings/999999/registration", None, STAFF)
    assert (status, answer["errcode"]) == (404, "KB_UNKNOWN_SITTING")
    assert await counts(site.hall.store) == before and site.pokes == []


async def test_the_staff_api_runs_a_vote(site: Site) -> None:
    base = f"{site.url}/api/v1/sittings/{site.sid}"
    status, reg = await post(base + "/registration", None, STAFF)
    assert status == 201 and (reg["round"], reg["total"], reg["quorum"]) == (1, 7, 4)
    status, _ = await post(base + "/absences", {"member": "marchuk", "reason": "Хвороба"}, STAFF)
    assert status == 201
    status, conflict = await post(base + "/conflicts", {"item": "2", "member": "lysenko",
                                                        "text": CONFLICT}, STAFF)
    assert status == 201 and conflict["member"] == "lysenko"
    await site.hall.register(*REGISTERED[:4])
    status, vote = await post(base + "/votes", {"item": "2", "majority": "two_thirds",
                                                "duration": 60}, STAFF)
    assert status == 201, vote
    assert (vote["number"], vote["threshold"], vote["status"]) == (1, 5, "open")
    assert vote["closes_at"] is not None
    status, answer = await post(base + "/votes", {"item": "1"}, STAFF)
    assert (status, answer["errcode"]) == (409, "KB_VOTE_OPEN")
    status, closing = await post(base + "/votes/current/close", None, STAFF)
    assert status == 202 and (closing["id"], closing["status"]) == (vote["id"], "closing")
    status, answer = await post(base + "/votes/current/close", None, STAFF)
    assert (status, answer["errcode"]) == (409, "KB_VOTE_CLOSED")
    assert len(site.pokes) == 5  # every accepted write woke delivery
    async with site.hall.store.session() as s:
        row = await s.get(domain.Vote, vote["id"])
        assert row is not None and (row.status, row.close_reason) == ("closing", "command")


async def test_the_openapi_document_describes_the_votes_api(site: Site) -> None:
    from openapi_spec_validator import validate

    _, _, body = await get(f"{site.url}/api/openapi.json")
    doc = json.loads(body)
    validate(doc)
    paths = doc["paths"]
    assert set(paths["/api/v1/sittings/{id}/votes"]) == {"get", "post"}
    for path in ("registration", "votes/current/close", "absences", "conflicts"):
        op = paths[f"/api/v1/sittings/{{id}}/{path}"]["post"]
        assert op["security"] == [{"staffToken": []}] and "401" in op["responses"]
    assert {"SittingVotes", "OpenVote", "NewAbsence", "NewConflict"} <= set(doc["components"]["schemas"])
