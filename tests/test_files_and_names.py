"""Hostile files and hostile names.

Zip bombs: a DOCX whose member inflates past the caps, a ZIP of 115,000 entries, sizes that lie
— each refused fast, with bounded memory, off the event loop, while a good document next to it
is accepted: in the inspector itself, through the staff API, in a sitting room on Matrix and as
an appeal's attachment.

Names: a citizen's name is cleaned at intake (controls, bidi overrides, invisible characters)
and their ghost's display name says it is a citizen's, on a real Synapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import struct
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from mautrix.api import Method, Path
from sqlalchemy import func, select

from council import appeals
from council import sittings as domain
from council.files import kinds as filetypes
from council.files.kinds import UnsupportedFile, UnusualArchive
from council.names import DISPLAY_NAME_MAX, citizen_display_name, citizen_marker, clean_name
from council.roster import load_roster
from kabinet.features.appeals import Appeals
from kabinet.wiring import Running
from tests.appeals_support import appeal_fields, appeal_id, form, room_of
from tests.conftest import DEMO_ROSTER
from tests.matrix_helpers import wait_for
from tests.test_sittings_matrix import _bot_reply, _drop, joined, make_sitting, quiesce
from web.appeals import input as appeal_input
from web.appeals.input import check_appeal
from web.errors import domain_status
from web.security import RateLimiter
from web.sittings import DEPS

ROSTER = load_roster(DEMO_ROSTER)
DEPUTY = ROSTER.deputies[0].id
MIB = 1024 * 1024
BIDI_AND_INVISIBLE = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F,
                                       0x061C, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF)}
CONTENT_TYPES = ('<Types><Override ContentType="application/vnd.openxmlformats-officedocument.'
                 'wordprocessingml.document.main+xml"/></Types>')


# -- building hostile archives ---------------------------------------------------------------

def good_docx(text: str = "Текст проєкту рішення.") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("word/document.xml", f"<w:document><w:body><w:p><w:r><w:t>{text}</w:t></w:r>"
                   "</w:p></w:body></w:document>")
    return buf.getvalue()


def bomb_docx(member: str = "word/document.xml", mib: int = 40) -> bytes:
    """A valid DOCX but for one member of `mib` MiB of zeros (≈1 KB per MiB compressed);
    written in chunks, so building it takes no such memory either."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if member != "[Content_Types].xml":
            z.writestr("[Content_Types].xml", CONTENT_TYPES)
        with z.open(member, "w") as f:
            chunk = b"\0" * MIB
            for _ in range(mib):
                f.write(chunk)
        if member != "word/document.xml":
            z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def lying_sizes(data: bytes, size: int) -> bytes:
    """`data` with its first member's declared inflated size changed to `size`."""
    out = bytearray(data)
    struct.pack_into("<L", out, 22, size)  # the local header
    struct.pack_into("<L", out, data.find(b"PK\x01\x02") + 24, size)  # the central directory
    return bytes(out)


def lying_docx(member: str) -> bytes:
    """A DOCX whose `member` inflates to 40 MiB but claims 1000 bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open(member, "w") as f:  # first, so that `lying_sizes` finds it
            for _ in range(40):
                f.write(b"\0" * MIB)
        for name, content in (("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", "<w/>")):
            if name != member:
                z.writestr(name, content)
    return lying_sizes(buf.getvalue(), 1000)


def many_entries(n: int, claim: int | None = None) -> bytes:
    """A ZIP of `n` empty stored entries, written directly (zipfile takes seconds for 100k);
    ZIP64 end records when n needs them. `claim`: the entry count the end record states."""
    local, central, offset = [], [], 0
    for i in range(n):
        name = f"e{i:06d}".encode()
        header = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 33, 0, 0, 0, len(name), 0) + name
        central.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 33, 0, 0, 0,
                                   len(name), 0, 0, 0, 0, 0, offset) + name)
        local.append(header)
        offset += len(header)
    directory = b"".join(central)
    count = n if claim is None else claim
    tail = b""
    if count > 0xFFFE:
        zip64_at = offset + len(directory)
        tail = (struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count,
                            len(directory), offset)
                + struct.pack("<4sLQL", b"PK\x06\x07", 0, zip64_at, 1))
        count = 0xFFFF
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), offset, 0)
    return b"".join(local) + directory + tail + end


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return bomb_docx()


@pytest.fixture(scope="module")
def crowd() -> bytes:
    return many_entries(115_000)


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of Python allocations inside the block, in bytes (tracemalloc)."""
    result = [0]
    tracemalloc.start()
    try:
        yield result
    finally:
        result[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@contextlib.asynccontextmanager
async def loop_lag() -> AsyncIterator[list[float]]:
    """The longest the event loop was held while the block ran (a ticker every 5 ms)."""
    loop = asyncio.get_running_loop()
    worst = [0.0]

    async def tick() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            worst[0] = max(worst[0], loop.time() - before - 0.005)

    task = asyncio.create_task(tick())
    await asyncio.sleep(0)
    try:
        yield worst
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- the inspector ---------------------------------------------------------------------------

def test_the_test_archives_are_what_they_claim(bomb, crowd):
    with zipfile.ZipFile(io.BytesIO(bomb)) as z:
        assert z.getinfo("word/document.xml").file_size == 40 * MIB
    assert len(bomb) < 100_000
    with zipfile.ZipFile(io.BytesIO(crowd)) as z:
        assert len(z.infolist()) == 115_000
    with zipfile.ZipFile(io.BytesIO(many_entries(12_000, claim=1))) as z:
        assert len(z.infolist()) == 12_000


@pytest.mark.parametrize("member", ["word/document.xml", "[Content_Types].xml", "media/zeros.bin"])
def test_a_zip_bomb_is_refused_fast_and_without_inflating_it(member):
    data = bomb_docx(member)
    with peak_memory() as peak:
        started = time.perf_counter()
        with pytest.raises(UnusualArchive) as refused:
            filetypes.sniff(data)
        assert appeal_input.sniff(data) is None  # the appeals form uses the same inspection
        elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert peak[0] < 4 * MIB  # the member is 40 MiB inflated
    assert "32 MiB" in refused.value.text("en") and "32 МіБ" in refused.value.text("uk")
    assert str(refused.value) == refused.value.text("uk")  # the council's language


def test_a_member_larger_than_the_peek_cap_is_not_read_whole():
    """[Content_Types].xml of 16 MiB: under the member cap, far over what is read of it."""
    data = bomb_docx("[Content_Types].xml", mib=16)
    with peak_memory() as peak:
        with pytest.raises(UnusualArchive, match="Content_Types"):
            filetypes.sniff(data)
    assert peak[0] < 3 * filetypes.PEEK_BYTES


def test_a_member_that_lies_about_its_size_is_never_inflated_whole():
    """zipfile cuts a member's output to its declared size only after inflating what one read
    asked for: a whole-member read of these would take 40 MiB (or 1 GiB of a bigger bomb)."""
    ctx = domain.Context(roster=ROSTER, blobs=None, holidays=None, tz=None,  # type: ignore[arg-type]
                         max_bytes=25 * MIB)
    content_types, body = lying_docx("[Content_Types].xml"), lying_docx("word/document.xml")
    with peak_memory() as peak:
        with pytest.raises(UnsupportedFile, match="damaged"):
            filetypes.sniff(content_types)
        assert filetypes.sniff(body).kind == "docx"  # the body is not read to know the type
        with pytest.raises(domain.SittingError) as refused:
            domain.prepare_file(ctx, body, "proekt.docx")  # the page count reads the body
    assert refused.value.code == "KB_CORRUPTED_FILE"  # its CRC check fails
    assert peak[0] < MIB


def test_a_broken_deflate_stream_is_a_damaged_file_not_a_server_error():
    ctx = domain.Context(roster=ROSTER, blobs=None, holidays=None, tz=None,  # type: ignore[arg-type]
                         max_bytes=25 * MIB)
    for member, code in (("[Content_Types].xml", "KB_UNSUPPORTED_FILE"), ("word/document.xml",
                                                                           "KB_CORRUPTED_FILE")):
        data = bytearray(lying_docx(member))  # the member comes first: its data at 30 + name
        data[30 + len(member)] = 0xFF  # a deflate block of the reserved type: zlib.error
        with pytest.raises(domain.SittingError) as refused:
            domain.prepare_file(ctx, bytes(data), "proekt.docx")
        assert refused.value.code == code


def test_archives_with_too_many_entries_are_refused_before_their_directory_is_parsed(crowd):
    started = time.perf_counter()
    with pytest.raises(UnusualArchive, match="115000"):
        filetypes.sniff(crowd)
    assert time.perf_counter() - started < 0.05  # zipfile alone takes >1 s to list them
    # The end record may lie about the count: the directory's size, then the real count, hold.
    with pytest.raises(UnusualArchive, match="каталог архіву"):
        filetypes.sniff(many_entries(25_000, claim=1))
    with pytest.raises(UnusualArchive, match="12000"):
        filetypes.sniff(many_entries(12_000, claim=1))
    assert appeal_input.sniff(crowd) is None


def test_encrypted_or_unusually_compressed_archives_are_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_LZMA) as z:  # LZMA inflates without a bound
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("word/document.xml", "<w:document/>")
    with pytest.raises(UnusualArchive, match="незвичним методом"):
        filetypes.sniff(buf.getvalue())


def test_good_documents_next_to_the_bombs_are_still_accepted(bomb, crowd):
    ctx = domain.Context(roster=ROSTER, blobs=None, holidays=None, tz=None,  # type: ignore[arg-type]
                         max_bytes=25 * MIB)
    for hostile in (bomb, crowd):
        with pytest.raises(domain.SittingError) as refused:
            domain.prepare_file(ctx, hostile, "bomb.docx")
        assert domain_status(refused.value) == (422, "KB_UNUSUAL_ARCHIVE")
    file = domain.prepare_file(ctx, good_docx(), "good.docx")
    assert (file.filetype.kind, file.pages, file.filename) == ("docx", 1, "good.docx")
    assert filetypes.sniff(bomb_docx(mib=1)).kind == "docx"  # 1 MiB inflated: a normal document
    assert appeal_input.sniff(good_docx()) == filetypes.DOCX_MIME


async def test_inspection_runs_off_the_event_loop(bomb, crowd):
    ctx = domain.Context(roster=ROSTER, blobs=None, holidays=None, tz=None,  # type: ignore[arg-type]
                         max_bytes=25 * MIB)
    async with loop_lag() as lag:
        for hostile in (bomb, crowd):
            with pytest.raises(domain.SittingError, match="архів"):
                await domain.prepare_file_off_loop(ctx, hostile, "bomb.docx")
            assert await appeal_input.sniff_off_loop(hostile) is None
        good = await domain.prepare_file_off_loop(ctx, good_docx(), "good.docx")
        assert await appeal_input.sniff_off_loop(good_docx()) == filetypes.DOCX_MIME
    assert good.filetype.kind == "docx"
    assert lag[0] < 0.25


async def test_a_slow_inspection_is_cut_off_by_the_time_cap_without_holding_the_loop(monkeypatch):
    """Whatever makes an inspection slow (the caps keep it far from this), the loop is free and
    the sender gets a refusal once the time cap has passed."""
    monkeypatch.setattr(domain, "prepare_file", lambda *a: time.sleep(1.0))
    monkeypatch.setattr(appeal_input, "sniff", lambda data: time.sleep(1.0))
    monkeypatch.setattr(appeal_input, "INSPECT_SECONDS", 0.2)
    started = time.perf_counter()
    async with loop_lag() as lag:
        with pytest.raises(domain.SittingError) as refused:
            await domain.prepare_file_off_loop(None, b"", "x", timeout=0.2)  # type: ignore[arg-type]
        assert await appeal_input.sniff_off_loop(b"PK\x03\x04") is None
    assert domain_status(refused.value) == (422, "KB_FILE_TOO_COMPLEX")
    assert time.perf_counter() - started < 0.9
    assert lag[0] < 0.25


# -- names -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "clean"), [
    ("Литвин Ганна Степанівна", "Литвин Ганна Степанівна"),
    ("Секретаріат\u202e", "Секретаріат"),
    ("Kabinet bot\n", "Kabinet bot"),
    ("  Іван\n\tПетренко\r\n ", "Іван Петренко"),
    ("Іван\u2028Петренко\u2029", "Іван Петренко"),
    ("\u202etob tenibaK\u202c", "tob tenibaK"),
    ("\u2066Бондар\u2069 \u2067О.\u2068\u200e\u200f\u061c", "Бондар О."),
    ("Ос\u200bт\u200cа\u200dп\u2060\ufeffенко", "Остапенко"),
    ("Андрій\x00\x07\x1b[31m\x7f\x85 Коваль", "Андрій[31m Коваль"),
    ("\u3164\u115f\u2800 Мельник \ufe0f\U000e0041", "Мельник"),
    ("Ле\ud800ся \ue000", "Леся"),
    ("Олексій ʼЄ", "Олексій ʼЄ"),  # the Ukrainian apostrophe is a letter: it stays
    ("И\u0306осип", "Йосип"),  # NFC: й from и + U+0306 is one letter
    ("\u202e\u200b\u2066\u2069 \n", ""),
    (None, ""),
    (42, ""),
])
def test_clean_name(raw, clean):
    assert clean_name(raw) == clean


def test_a_citizen_display_name_is_marked_cleaned_and_capped():
    assert citizen_display_name("Секретаріат\u202e") == "Громадянин: Секретаріат"
    assert citizen_display_name("Kabinet bot\n") == "Громадянин: Kabinet bot"
    long = citizen_display_name("Я" * 500)
    assert long.startswith(citizen_marker()) and long.endswith("…")
    assert len(long) == len(citizen_marker()) + DISPLAY_NAME_MAX
    assert citizen_display_name("\u202e") == citizen_marker().strip() == "Громадянин:"


def test_intake_stores_the_name_cleaned_and_refuses_one_that_is_empty_once_cleaned():
    fields = appeal_fields(addressee_deputy=DEPUTY)
    checked = check_appeal({**fields, "name": "  Секретаріат\u202e\nКабінету "}, ROSTER)
    assert not checked.errors and checked.values["name"] == "Секретаріат Кабінету"
    hidden = check_appeal({**fields, "name": "\u202e\u200b\u2066\u2069"}, ROSTER)
    assert hidden.anonymous and "name" in hidden.errors
    short = check_appeal({**fields, "name": "Я\u202e\u202e\u202e"}, ROSTER)
    assert "name" in short.errors and not short.anonymous


# -- end to end on the demo installation (real Synapse) ----------------------------------------

STAFF_TOKEN = "test-staff-token-" + uuid.uuid4().hex


@pytest.fixture
async def quiet(settled: Running) -> AsyncIterator[Running]:
    """The shared demo, left settled for the next test (others count appservice events)."""
    yield settled
    await quiesce(settled.kabinet)


@pytest.fixture
def staff(settled: Running) -> Iterator[dict[str, str]]:
    deps = settled.runner.app[DEPS]
    before, deps.staff_token = deps.staff_token, STAFF_TOKEN
    yield {"Authorization": f"Bearer {STAFF_TOKEN}"}
    deps.staff_token = before


@pytest.fixture
def generous(settled: Running) -> Iterator[None]:
    """Several appeals from 127.0.0.1 in a row: a roomy rate limit."""
    cfg = settled.kabinet.feature(Appeals).web
    saved, cfg.limiter = cfg.limiter, RateLimiter(10_000, 60)
    yield
    cfg.limiter = saved


def draft_form(number: str, data: bytes, filename: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    for k, v in {"number": number, "title": f"Про питання {number}", "initiator": "Виконком"}.items():
        f.add_field(k, v)
    f.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return f


async def test_the_staff_api_refuses_bombs_without_stalling_and_accepts_a_good_draft(
        quiet, staff, bomb, crowd):
    base = quiet.web_url
    async with aiohttp.ClientSession() as http:
        body = {"kind": "plenary", "title": f"Сесія з бомбами {uuid.uuid4().hex[:6]}",
                "place": "Сесійна зала", "starts_at": "2027-03-01T10:00:00+02:00"}
        async with http.post(f"{base}/api/v1/sittings", json=body, headers=staff) as r:
            assert r.status == 201, await r.text()
            sid = (await r.json())["id"]
        async with loop_lag() as lag:
            for number, hostile in (("1", bomb), ("2", crowd)):
                started = time.perf_counter()
                async with http.post(f"{base}/api/v1/sittings/{sid}/drafts", headers=staff,
                                     data=draft_form(number, hostile, "proekt.docx")) as r:
                    error = await r.json()
                    assert (r.status, error["errcode"]) == (422, "KB_UNUSUAL_ARCHIVE"), error
                assert time.perf_counter() - started < 3.0
            async with http.post(f"{base}/api/v1/sittings/{sid}/drafts", headers=staff,
                                 data=draft_form("3", good_docx(), "proekt.docx")) as r:
                assert r.status == 201, await r.text()
        assert lag[0] < 0.5  # listing 115,000 entries on the loop held it for >1.5 s
        async with http.get(f"{base}/api/v1/sittings/{sid}") as r:
            assert [i["number"] for i in (await r.json())["items"]] == ["3"]


async def test_bombs_dropped_in_a_sitting_room_get_a_refusal_and_a_good_draft_is_registered(
        quiet, people, demo_roster, bomb, crowd):
    kabinet = quiet.kabinet
    sitting_id, room_id = await make_sitting(kabinet, f"Засідання з бомбами {uuid.uuid4().hex[:6]}")
    staff = demo_roster.secretariat[0]
    secretary = await people.login(staff.id, staff.password)
    await joined(secretary, room_id)
    async with loop_lag() as lag:
        dropped = [await _drop(secretary, room_id, data, name, name) for data, name in (
            (bomb, "bomba.docx"), (crowd, "natovp.docx"), (good_docx(), "Про бюджет.docx"))]
        kabinet.delivery.poke()
        replies = [await wait_for(lambda e=e: _bot_reply(kabinet, room_id, e), timeout=60,
                                  what="the bot's reply") for e in dropped]
    bodies = [r["content"]["body"] for r in replies]
    assert bodies[0].startswith("❌") and "понад 32 МіБ" in bodies[0], bodies[0]
    assert bodies[1].startswith("❌") and "забагато файлів" in bodies[1], bodies[1]
    assert bodies[2].startswith("✅") and "№ 1 «Про бюджет» (1 сторінка, " in bodies[2], bodies[2]
    assert lag[0] < 0.5
    async with kabinet.store.session() as s:
        items = (await s.scalars(select(domain.AgendaItem)
                                 .where(domain.AgendaItem.sitting_id == sitting_id))).all()
    assert [(i.number, i.room_event_id) for i in items] == [("1", dropped[2])]


async def _submit(base: str, fields: dict, files=()) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{base}/api/v1/appeals", data=form(fields, list(files))) as resp:
        return resp.status, await resp.json()


async def test_an_appeal_with_a_zip_bomb_attached_is_refused_and_a_good_docx_accepted(
        quiet, generous, bomb):
    fields = appeal_fields(addressee_deputy=DEPUTY)
    docx = filetypes.DOCX_MIME
    async with loop_lag() as lag:
        status, body = await _submit(quiet.web_url, fields, [("rishennia.docx", bomb, docx)])
        assert (status, body["errcode"]) == (415, "KB_UNSUPPORTED_MEDIA_TYPE"), body
        status, body = await _submit(quiet.web_url, fields, [("lyst.docx", good_docx(), docx)])
        assert status == 201, body
    assert lag[0] < 0.5


async def _displayname(kabinet, room_id: str, user_id: str) -> str | None:
    state = await kabinet.hs.request(Method.GET, Path.v3.rooms[room_id].state["m.room.member"][user_id])
    name = state.get("displayname")
    return name if name and name.startswith(citizen_marker()) else None


@pytest.mark.parametrize(("hostile", "shown"), [
    ("Секретаріат\u202e", "Громадянин: Секретаріат"),
    ("Kabinet bot\n", "Громадянин: Kabinet bot"),
])
async def test_a_citizen_ghost_is_visibly_a_citizen_with_nothing_hidden_in_its_name(
        quiet, generous, hostile, shown):
    kabinet = quiet.kabinet
    status, created = await _submit(quiet.web_url, appeal_fields(name=hostile, addressee_deputy=DEPUTY))
    assert status == 201, created
    aid = await appeal_id(kabinet, created["number"])
    async with kabinet.store.session() as s:
        assert (await appeals.by_id(s, aid)).name == clean_name(hostile)
    room_id = await room_of(kabinet, aid)
    ghost = kabinet.feature(Appeals).web.ctx.ghost(aid)
    name = await wait_for(lambda: _displayname(kabinet, room_id, ghost), timeout=60,
                          what="the ghost's display name")
    assert name == shown
    assert not set(name) & (BIDI_AND_INVISIBLE | {"\n", "\r", "\t"})


async def test_a_name_that_is_empty_once_cleaned_is_refused_and_nothing_is_stored(quiet, generous):
    async def stored() -> int:
        async with quiet.kabinet.store.session() as s:
            return await s.scalar(select(func.count()).select_from(appeals.Appeal))

    before = await stored()
    status, body = await _submit(quiet.web_url, appeal_fields(name="\u202e\u200b\u2066\u2069\u200f",
                                                               addressee_deputy=DEPUTY))
    assert (status, body["errcode"]) == (422, "KB_APPEAL_ANONYMOUS"), body
    assert "name" in body["fields"]
    assert await stored() == before


# -- one sniffer and one safe-name policy for drafts and attachments -------------------------

@pytest.mark.parametrize("given, draft, attachment", [
    ("назва.pdf", "назва.pdf", "назва.pdf"),
    ("C:\\Users\\ivan\\scan.pdf", "scan.pdf", "scan.pdf"),  # appeals kept "C_Users_ivan_scan.pdf"
    ("../../etc/passwd", "passwd.pdf", "passwd.pdf"),
    ("проєкт\u202efdp.exe", "проєктfdp.pdf", "проєктfdp.pdf"),  # drafts kept the bidi override
    ("звіт\u200b.pdf", "звіт.pdf", "звіт.pdf"),
    ('a"b<c>|d.pdf', "a_b_c_d.pdf", "a_b_c_d.pdf"),
    ("", "draft.pdf", "attachment.pdf"),
])
def test_drafts_and_attachments_are_named_by_one_policy(given: str, draft: str, attachment: str):
    pdf = filetypes.PDF
    assert domain.safe_filename(given, pdf) == draft
    assert appeal_input.safe_name(given, pdf.mimetype) == attachment


def test_a_long_name_is_cut_but_keeps_its_extension():
    name = domain.safe_filename("д" * 500 + ".pdf", filetypes.PDF)
    assert len(name) == filetypes.NAME_MAX and name.endswith(".pdf")


def test_one_sniffer_takes_each_feature_s_own_list_of_types():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    assert filetypes.sniff(png, filetypes.ATTACHMENTS) is filetypes.PNG
    assert appeal_input.sniff(png) == "image/png"
    with pytest.raises(UnsupportedFile):
        filetypes.sniff(png)  # a scan is no draft decision
    assert appeal_input.sniff(b"%PDF-1.7\n") == "application/pdf"
    odt = io.BytesIO()
    with zipfile.ZipFile(odt, "w") as z:
        z.writestr("mimetype", filetypes.ODT_MIME)
    assert filetypes.sniff(odt.getvalue()) is filetypes.ODT
    assert appeal_input.sniff(odt.getvalue()) is None  # not on the appeals' list
