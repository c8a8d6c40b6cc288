"""Sittings in the store (SQLite and PostgreSQL): every change with its outbox rows, bad input
refused with nothing half-written, paper counted, file types judged by content."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from council import sittings as domain
from council.files.blobs import BlobStore
from council.files.kinds import ODT_MIME, UnsupportedFile, sniff
from council.law import holidays
from council.models import OutboxMessage
from council.roster import load_roster
from council.sittings.paper import CHARS_PER_PAGE, paper_for
from council.store import Store
from kabinet.features.sittings_demo import draft_pdf
from tests.conftest import DEMO_ROSTER

KYIV = ZoneInfo("Europe/Kyiv")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=KYIV)


@pytest.fixture
def ctx(tmp_path: Path) -> domain.Context:
    return domain.Context(load_roster(DEMO_ROSTER), BlobStore(tmp_path / "files"), holidays.load(),
                          KYIV, 1024 * 1024)


def pdf(n: str, pages: int = 1) -> bytes:
    return draft_pdf(n, f"Про питання {n}", "Секретаріат", [f"Текст проєкту {n}."], pages=pages)


def docx(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", '<Types><Override ContentType="application/vnd.'
                   'openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("word/document.xml", f"<w:document><w:body><w:p><w:r><w:t>{text}</w:t></w:r>"
                   "</w:p></w:body></w:document>")
    return buf.getvalue()


def odt(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", ODT_MIME, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", f"<office:document-content><text:p>{text}</text:p>"
                   "</office:document-content>")
    return buf.getvalue()


async def new_sitting(store: Store, ctx: domain.Context, **kw) -> domain.Sitting:
    spec = {"kind": "plenary", "number": "42", "title": "Сорок друга сесія", "place": "Зала",
            "starts_at": datetime(2026, 12, 24, 10, 0, tzinfo=KYIV), **kw}
    async with store.session() as s:
        sitting, created = await domain.create_sitting(s, ctx, domain.NewSitting(**spec), now=NOW)
    assert created
    return sitting


def draft(n: str, commission: str | None = "budget") -> domain.NewDraft:
    return domain.NewDraft(number=n, title=f"Про питання {n}", initiator="Фінансове управління",
                           commission=commission)


async def keys(store: Store) -> list[str]:
    async with store.session() as s:
        return list((await s.scalars(select(OutboxMessage.key).order_by(OutboxMessage.id))).all())


async def counts(store: Store) -> tuple[int, int, int]:
    async with store.session() as s:
        return (await s.scalar(select(func.count()).select_from(domain.AgendaItem)),
                await s.scalar(select(func.count()).select_from(domain.DraftVersion)),
                await s.scalar(select(func.count()).select_from(OutboxMessage)))


async def test_a_sitting_and_its_drafts_are_stored_with_their_messages(store, ctx):
    sitting = await new_sitting(store, ctx)
    sid = sitting.id
    assert await keys(store) == [f"sitting:{sid}:announce", f"agenda:{sid}", f"agenda:{sid}:pin"]
    async with store.session() as s:
        item = await domain.add_draft(s, ctx, sid, draft("1"), domain.prepare_file(ctx, pdf("1", 3), "a.pdf"),
                                      source="cli", now=NOW)
        await domain.revise_draft(s, ctx, sid, "1", domain.prepare_file(ctx, pdf("1b"), "b.pdf"),
                                  source="cli", now=NOW)
        words = domain.prepare_file(ctx, docx("слово " * 700), "c.docx")
        await domain.add_draft(s, ctx, sid, draft("2", None), words, source="api", now=NOW)
        await domain.reorder(s, ctx, sid, ["2", "1"])
        await domain.withdraw_item(s, ctx, sid, "2")
    i = item.id
    assert (await keys(store))[3:] == [
        f"draft:{i}:v1:sitting", f"draft:{i}:v1:commission", f"agenda:{sid}:rev:1",
        f"draft:{i}:v2:sitting", f"draft:{i}:v2:commission", f"agenda:{sid}:rev:2",
        f"draft:{i + 1}:v1:sitting", f"agenda:{sid}:rev:3", f"agenda:{sid}:rev:4",
        f"item:{i + 1}:withdrawn", f"agenda:{sid}:rev:5"]
    async with store.session() as s:
        rows = {m.key: m for m in (await s.scalars(select(OutboxMessage))).all()}
        v = await domain.view(s, ctx, sid)
    assert rows[f"draft:{i}:v1:sitting"].room_id == f"$room:sitting:{sid}"
    assert rows[f"draft:{i}:v1:commission"].room_id == "$room:commission:budget"
    assert rows[f"draft:{i}:v1:sitting"].media_type == "application/pdf"
    thread = rows[f"draft:{i}:v2:sitting"].content["m.relates_to"]
    assert thread["rel_type"] == "m.thread" and thread["event_id"] == f"$outbox:draft:{i}:v1:sitting"
    pin = rows[f"agenda:{sid}:pin"]
    assert pin.state_key == "" and pin.content == {"pinned": [f"$outbox:agenda:{sid}"]}
    last = rows[f"agenda:{sid}:rev:5"].content
    assert last["m.relates_to"] == {"rel_type": "m.replace", "event_id": f"$outbox:agenda:{sid}"}
    agenda_items = last["m.new_content"]["ua.kabinet.agenda"]["items"]
    assert [(x["number"], x["version"], x["status"]) for x in agenda_items] == [
        ("2", 1, "withdrawn"), ("1", 2, "active")]
    assert agenda_items[1]["event_id"] == f"$outbox:draft:{i}:v2:sitting"
    # Paper: 3 + 1 PDF pages and an estimated DOCX page (4,200 characters -> 3 pages),
    # to the 36 deputies, the head and 3 secretariat staff.
    pages = [x.pages for _, vs in v.items for x in vs]
    assert sorted(pages) == [1, 3, 3]
    assert v.paper.recipients == 40
    assert v.paper.copies == 7 * 40 and v.paper.sheets == (2 + 1 + 2) * 40


@pytest.mark.parametrize(("data", "code"), [
    (b"MZ\x90\x00" + b"\x00" * 100, "KB_UNSUPPORTED_FILE"),
    (b"%PDF-1.7\nthis is not really a pdf", "KB_CORRUPTED_FILE"),
    (b"PK\x03\x04 broken zip", "KB_UNSUPPORTED_FILE"),
    (b"%PDF-" + b"x" * (1024 * 1024), "KB_FILE_TOO_LARGE"),
    (b"", "KB_EMPTY_FILE"),
])
def test_bad_files_are_refused_by_content(ctx, data, code):
    with pytest.raises(domain.SittingError) as err:
        domain.prepare_file(ctx, data, "proekt.pdf")
    assert err.value.code == code


async def test_bad_input_changes_nothing(store, ctx):
    sitting = await new_sitting(store, ctx)
    good = domain.prepare_file(ctx, pdf("1"), "a.pdf")
    async with store.session() as s:
        await domain.add_draft(s, ctx, sitting.id, draft("1"), good, source="cli", now=NOW)
    before = await counts(store)
    cases = [
        (sitting.id, draft("1"), "KB_DUPLICATE_NUMBER"),
        (sitting.id, draft("3", "no-such-commission"), "KB_UNKNOWN_COMMISSION"),
        (999999, draft("4"), "KB_UNKNOWN_SITTING"),
    ]
    for sid, spec, code in cases:
        with pytest.raises(domain.SittingError) as err:
            async with store.session() as s:
                await domain.add_draft(s, ctx, sid, spec, good, source="cli", now=NOW)
        assert err.value.code == code
    # A folder where the last draft clashes: none of them is stored.
    with pytest.raises(domain.SittingError):
        async with store.session() as s:
            await domain.add_drafts(s, ctx, sitting.id, [(draft("5"), good), (draft("1"), good)],
                                    source="cli", now=NOW)
    with pytest.raises(domain.SittingError) as err:
        async with store.session() as s:
            await domain.reorder(s, ctx, sitting.id, ["1", "1"])
    assert err.value.code == "KB_BAD_ORDER"
    with pytest.raises(domain.SittingError) as err:
        await new_sitting(store, ctx, kind="commission", body="nope")
    assert err.value.code == "KB_UNKNOWN_COMMISSION"
    assert await counts(store) == before


async def test_late_announcement_and_late_drafts_are_flagged_not_refused(store, ctx):
    sitting = await new_sitting(store, ctx, starts_at=datetime(2026, 12, 8, 10, tzinfo=KYIV))
    async with store.session() as s:
        await domain.add_draft(s, ctx, sitting.id, draft("1"), domain.prepare_file(ctx, pdf("1"), "a.pdf"),
                               source="cli", now=NOW)
        v = await domain.view(s, ctx, sitting.id)
        rows = {m.key: m for m in (await s.scalars(select(OutboxMessage))).all()}
    assert [w.rule for w in v.warnings] == ["local_self_government_art46_p10"]
    assert [w.rule for ws in v.item_warnings.values() for w in ws] == [
        "access_to_public_information_art15_p3"]
    sid, iid = sitting.id, v.items[0][0].id
    [late] = v.warnings
    [[draft_late]] = v.item_warnings.values()
    assert rows[f"sitting:{sid}:law:local_self_government_art46_p10"].content["body"] == late.text
    assert rows[f"draft:{iid}:v1:law"].content["body"] == draft_late.text
    agenda = rows[f"agenda:{sid}:rev:1"].content["m.new_content"]
    assert late.text in agenda["body"] and "⚠️ < 10 робочих днів (ст. 15 ч. 3)" in agenda["body"]


async def test_creating_with_the_same_external_key_returns_the_same_sitting(store, ctx):
    first = await new_sitting(store, ctx, external_key="api:abc")
    async with store.session() as s:
        again, created = await domain.create_sitting(s, ctx, domain.NewSitting(
            kind="plenary", title="Інша назва", place="Зала",
            starts_at=datetime(2026, 12, 24, 10, tzinfo=KYIV), external_key="api:abc"))
    assert not created and again.id == first.id


def test_file_types_and_page_estimates():
    assert sniff(pdf("1")).kind == "pdf"
    assert sniff(docx("текст")).kind == "docx"
    assert sniff(odt("текст")).kind == "odt"
    with pytest.raises(UnsupportedFile):
        sniff(b"<html>not a document</html>")
    ctx = domain.Context(load_roster(DEMO_ROSTER), BlobStore(Path("/nonexistent")), holidays.load(),
                         KYIV, 10 * 1024 * 1024)
    assert domain.prepare_file(ctx, pdf("1", pages=4), "x").pages == 4
    assert domain.prepare_file(ctx, odt("я" * (CHARS_PER_PAGE + 1)), "x.odt").pages == 2
    assert domain.prepare_file(ctx, docx("коротко"), "назва.pdf").filename == "назва.docx"
    assert paper_for([3, 1], 10).copies == 40 and paper_for([3, 1], 10).sheets == 30


async def test_local_times_survive_the_round_trip(store, ctx):
    sitting = await new_sitting(store, ctx, starts_at=datetime(2026, 7, 1, 10, 30, tzinfo=KYIV))
    async with store.session() as s:
        [again] = [x for x in await domain.list_sittings(s) if x.id == sitting.id]
    moment = again.starts_at if again.starts_at.tzinfo else again.starts_at.replace(tzinfo=UTC)
    assert moment.astimezone(KYIV) == datetime(2026, 7, 1, 10, 30, tzinfo=KYIV)
    assert domain.agenda.when(again.starts_at, KYIV) == "01.07.2026 10:30"


def test_sitting_rooms_hold_the_body_and_the_secretariat_with_sitting_power_levels():
    from appservice.sittings.rooms import sitting_spec

    roster = load_roster(DEMO_ROSTER)
    staff = {s.mxid("localhost") for s in roster.secretariat}
    starts = datetime(2026, 12, 24, 8, tzinfo=UTC)

    def spec(kind: str, body: str):
        return sitting_spec(domain.Sitting(id=7, kind=kind, body=body, title="Т", place="З",
                                           starts_at=starts, number=None), roster, "localhost", KYIV)

    plenary = spec("plenary", "council")
    assert roster.head is not None  # the head votes at plenary sittings
    assert plenary.members == {d.mxid("localhost") for d in (*roster.deputies, roster.head)} | staff
    budget = spec("commission", "budget")
    assert budget.members == {f"@{d}:localhost" for d in roster.commission_members("budget")} | staff
    executive = spec("executive", "executive")
    body = next(b for b in roster.bodies if b.id == "executive")
    assert executive.members == {f"@{m}:localhost" for m in body.members} | staff
    assert (plenary.key, plenary.kind, plenary.ref) == ("sitting:7", "sitting", "7")
    levels = plenary.power_levels("@kabinet:localhost", "12")
    assert levels["redact"] == 100
    assert levels["events"]["org.matrix.msc3381.poll.start"] == 100
    assert all(levels["users"][m] == 50 for m in staff)
    assert "24.12.2026 10:00" in plenary.topic


def test_a_long_agenda_stays_within_the_matrix_event_size_limit():
    from council.sittings import agenda

    items = [agenda.ItemView(i, str(i), "Про затвердження Програми розвитку " * 10, "Виконавчий "
                             "комітет міської ради", None, "active", 3, f"proekt-{i}.pdf",
                             "$" + "e" * 43) for i in range(1, 301)]
    content = agenda.agenda_edit("agenda:1", agenda.agenda_message(
        1, "Сесія", "24.12.2026 10:00", "Зала", 5, items, []))
    size = len(json.dumps(content, ensure_ascii=False).encode())
    assert size < 64 * 1024 - 2048  # room for the event's envelope
    new = content["m.new_content"]
    assert len(new["ua.kabinet.agenda"]["items"]) == 300  # every item, for clients and tools
    assert "1. № 1 «" in new["body"] and "повний порядок денний на сайті" in new["body"]


async def test_a_commission_sitting_numbers_its_items_by_its_own_scheme(store, ctx):
    """One way to number a new item (a file dropped in the room, the desk): the sitting's scheme,
    after the largest number of that form; a number typed in another form is left alone."""
    commission = await new_sitting(store, ctx, kind="commission", body="budget", number=None)
    plenary = await new_sitting(store, ctx)
    async with store.session() as s:
        assert await domain.next_numbers(s, commission.id, 2) == ["К-1", "К-2"]
        assert await domain.next_number(s, plenary.id) == "1"
        for number in ("К-1", "7"):  # "7": typed by an API client, not the scheme's form
            await domain.add_draft(s, ctx, commission.id, draft(number, None),
                                   domain.prepare_file(ctx, pdf(number), "a.pdf"), source="api",
                                   edit=False)
        await domain.add_draft(s, ctx, plenary.id, draft("К-9", None),
                               domain.prepare_file(ctx, pdf("9"), "a.pdf"), source="api", edit=False)
        assert await domain.next_number(s, commission.id) == "К-2"
        assert await domain.next_number(s, plenary.id) == "1"



def test_the_agenda_and_the_sitting_room_speak_an_english_council_s_language(english):
    from appservice.sittings.drops import not_a_draft
    from appservice.sittings.rooms import sitting_spec
    from council.sittings import agenda

    roster = load_roster(DEMO_ROSTER)
    item = agenda.ItemView(1, "C-1", "On the budget", "Secretariat", None, "active", 2, "b.pdf", "$e")
    gone = agenda.ItemView(2, "C-2", "On the park", "Secretariat", None, "withdrawn", 1, "p.pdf", "$f")
    heading = agenda.sitting_heading("commission", "Budget", None)
    content = agenda.agenda_message(1, heading, "24.12.2026 10:00", "Room 5", 3, [item, gone], [])
    assert content["body"] == ("📋 Agenda — Commission sitting: Budget\n🕙 24.12.2026 10:00, Room 5\n"
                               "1. No. C-1 “On the budget” — Secretariat, version 2\n"
                               "2. [WITHDRAWN] No. C-2 “On the park” — Secretariat, version 1\n"
                               "Revision 3")
    assert "<strong>withdrawn</strong>" in content["formatted_body"]
    assert agenda.agenda_edit("agenda:1", content)["body"] == "* Agenda updated (revision 3)"
    assert domain.item_number("commission", 3) == "C-3" and domain.item_number("plenary", 3) == "3"
    room = sitting_spec(domain.Sitting(id=7, kind="plenary", body="council", title="Budget",
                                       place="Hall", number="42",
                                       starts_at=datetime(2026, 12, 24, 8, tzinfo=UTC)),
                        roster, "localhost", KYIV)
    assert room.name == "Session No. 42 · 24.12.2026 · Budget"
    assert room.topic == ("Plenary session No. 42: Budget — 24.12.2026 10:00, Hall. The agenda is "
                          "pinned; draft decisions come as files. The room is not encrypted: the "
                          "bot reads files and votes.")
    deputy = roster.deputies[0]
    told = not_a_draft(roster, deputy.mxid("localhost"), "localhost")
    assert told.startswith("ℹ️ This file was not added to the agenda") and "Cabinet — " in told
    with pytest.raises(domain.SittingError) as refused:
        domain.prepare_file(domain.Context(roster, BlobStore(Path("/nonexistent")), holidays.load(),
                                           KYIV, 1024 * 1024), b"", "x.pdf")
    assert str(refused.value) == "the file is empty" and refused.value.text("uk") == "файл порожній"
