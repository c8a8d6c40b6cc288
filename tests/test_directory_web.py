"""The directory on the web (web/directory): /deputies with its search (form and JSON), the
deputy's page (card, photo, appeal link, internal contacts and the Element link for colleagues,
then the voting record from web.votes) and the photo itself; the roster's photo and internal
contacts as loading checks them. SQLite and PostgreSQL (the `store` fixture)."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from multidict import CIMultiDict

from council import accounts
from council import votes as votes_domain
from council.roster import PHOTO_MAX_BYTES, Roster, RosterError, parse_roster
from council.store import Store
from tests.votes_support import SERVER, context, plenary_with_items, roster_data
from web import accounts as web_accounts
from web import cache, i18n
from web import votes as web_votes
from web.app import create_app
from web.pages import SiteInfo

REPO = Path(__file__).resolve().parents[1]
SECRET = "directory-session-secret-0123456789"
INTERNAL = {"email": "bondar@rada.internal", "phone": "+380 67 000 00 01"}


def png(side: int = 4) -> bytes:
    """A valid PNG of `side`×`side` grey pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))
    raw = b"".join(b"\x00" + b"\x80\x80\x80" * side for _ in range(side))
    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def directory_data(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "photos").mkdir(exist_ok=True)
    (tmp_path / "photos" / "bondar.png").write_bytes(png())
    data = roster_data()
    bondar = next(d for d in data["deputies"] if d["id"] == "bondar")
    bondar.update(photo="photos/bondar.png", internal=dict(INTERNAL), district=3,
                  contacts={"email": "bondar@rada.example", "reception": "щопонеділка 10:00"})
    kovalchuk = next(d for d in data["deputies"] if d["id"] == "kovalchuk")
    kovalchuk["name"] = "Ковальчук Мар’яна Ігорівна"  # the typographic apostrophe
    return data


@dataclass
class Site:
    url: str
    server: TestServer
    roster: Roster
    photo: bytes
    cookie: str  # a deputy's signed-in session


@pytest.fixture
async def site(store: Store, tmp_path: Path) -> AsyncIterator[Site]:
    roster = parse_roster(directory_data(tmp_path), "<test>", tmp_path)
    await plenary_with_items(store, tmp_path, roster, items=1)
    vctx = context(roster)
    app = create_app(SiteInfo(roster.council.name, SERVER, "http://127.0.0.1:1", "#c:" + SERVER,
                              "https://rada.example"), roster, {})
    web_accounts.setup(app, web_accounts.Deps(store, lambda: roster, SERVER, SECRET, None,
                                              "http://127.0.0.1:1", "https://rada.example", False))
    web_votes.setup(app, web_votes.Deps(store, lambda: vctx, "t" * 32, votes_domain.Changes()))
    async with store.session() as s:
        token = await accounts.start_session(s, f"@hnatiuk:{SERVER}", "test")
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield Site(str(server.make_url("")).rstrip("/"), server, roster,
               (tmp_path / "photos" / "bondar.png").read_bytes(), token)
    await server.close()


async def get(url: str, cookie: str | None = None, **headers: str
              ) -> tuple[int, CIMultiDict[str], bytes]:
    cookies = {web_accounts.COOKIE: cookie} if cookie else {}
    async with aiohttp.ClientSession(cookies=cookies) as http, http.get(url, headers=headers) as r:
        return r.status, CIMultiDict(r.headers), await r.read()  # any case


def ids(body: bytes) -> list[str]:
    return [d["id"] for d in json.loads(body)["deputies"]]


# -- the roster ---------------------------------------------------------------------------------

def test_a_photo_is_checked_at_load_and_kept_as_an_absolute_path(tmp_path: Path) -> None:
    roster = parse_roster(directory_data(tmp_path), "<test>", tmp_path)
    bondar = next(d for d in roster.deputies if d.id == "bondar")
    assert bondar.photo == str((tmp_path / "photos" / "bondar.png").resolve())
    assert bondar.internal.email == INTERNAL["email"]
    assert next(d for d in roster.deputies if d.id == "marchuk").photo is None
    (tmp_path / "roster.yaml").write_text("x: 1")  # a file name as the source: its folder counts
    named = parse_roster(directory_data(tmp_path), str(tmp_path / "roster.yaml"))
    assert named.deputies[0].photo == bondar.photo
    # From no file (test data): nothing to be relative to, so the photo is kept unchecked.
    assert parse_roster(directory_data(tmp_path), "<test>").deputies[0].photo == "photos/bondar.png"


@pytest.mark.parametrize(("content", "reason"), [
    (None, "cannot read the file"),
    (b"GIF89a" + b"\x00" * 32, "not a JPEG or PNG"),
    (b"\xff\xd8\xff" + b"\x00" * PHOTO_MAX_BYTES, "larger than 2 MB"),
])
def test_a_missing_oversized_or_foreign_photo_is_refused_naming_the_deputy(
        tmp_path: Path, content: bytes | None, reason: str) -> None:
    data = directory_data(tmp_path)
    target = tmp_path / "photos" / "bondar.png"
    if content is None:
        target.unlink()
    else:
        target.write_bytes(content)
    with pytest.raises(RosterError) as caught:
        parse_roster(data, "council.yaml", tmp_path)
    assert any("deputies[0] (id 'bondar').photo" in p and reason in p for p in caught.value.problems)


def test_internal_contacts_take_only_email_and_phone(tmp_path: Path) -> None:
    data = directory_data(tmp_path)
    data["deputies"][0]["internal"]["room"] = "101"
    with pytest.raises(RosterError, match=r"internal\.room: unknown field"):
        parse_roster(data, "<test>", tmp_path)


# -- the pages ----------------------------------------------------------------------------------

async def test_the_directory_searches_by_name_faction_commission_and_district(site: Site) -> None:
    status, _, body = await get(f"{site.url}/deputies")
    html = body.decode()
    assert status == 200 and html.count('class="deputy"') == len(site.roster.deputies)
    assert 'id="directory-search"' in html and 'name="q"' in html
    cases = {"q=BONDAR": ["bondar"], "q=бондар": ["bondar"], "q=маряна": ["kovalchuk"],
             "q=Мар'яна": ["kovalchuk"], "q=Mariana": ["kovalchuk"], "q=округ 3": ["bondar"],
             "faction=Свобода": ["bondar", "hnatiuk", "marchuk"], "commission=budget":
             ["hnatiuk", "ivanyshyn", "kovalchuk"], "district=3": ["bondar"],
             "q=іван&faction=свобода&commission=budget": ["hnatiuk"], "q=нікого": []}
    for query, expected in cases.items():
        status, _, body = await get(f"{site.url}/deputies?{query}")
        html = body.decode()
        assert status == 200
        assert [d for d in (x.id for x in site.roster.deputies)
                if f'id="deputy-{d}"' in html] == expected, query
        assert ('id="nobody"' in html) == (not expected)
        status, _, body = await get(f"{site.url}/api/v1/deputies?{query}")
        assert status == 200 and ids(body) == expected, query
    status, _, body = await get(f"{site.url}/deputies?district=abc&q=bondar")  # a bad value: ignored
    assert status == 200 and 'id="deputy-bondar"' in body.decode()


async def test_a_search_is_never_kept_in_the_page_cache(site: Site) -> None:
    assert site.server.app is not None
    entries = cache.page_cache(site.server.app).entries
    await get(f"{site.url}/deputies")
    kept = set(entries)
    assert ("deputies", "uk") in kept
    for n in range(5):
        status, headers, _ = await get(f"{site.url}/deputies?q=x{n}")
        assert status == 200 and headers["ETag"]
    assert set(entries) == kept


async def test_the_api_gives_anonymous_callers_public_fields_only(site: Site) -> None:
    status, headers, body = await get(f"{site.url}/api/v1/deputies?district=3")
    assert status == 200 and headers["Vary"] == "Cookie"  # a session adds fields
    bondar = json.loads(body)["deputies"][0]
    assert bondar["contacts"] == {"email": "bondar@rada.example", "phone": None,
                                  "reception": "щопонеділка 10:00"}
    assert bondar["internal"] is None and bondar["matrix_id"] is None
    assert bondar["element_url"] is None and INTERNAL["email"] not in body.decode()
    assert bondar["photo_url"].startswith("/deputies/bondar/photo?v=")
    assert bondar["appeal_url"] == "/appeals/new?deputy=bondar"
    assert json.loads(body)["total"] == len(site.roster.deputies)

    status, _, body = await get(f"{site.url}/api/v1/deputies?district=3", site.cookie)
    bondar = json.loads(body)["deputies"][0]
    assert bondar["internal"] == INTERNAL
    assert bondar["matrix_id"] == f"@bondar:{SERVER}"
    assert bondar["element_url"] == f"https://matrix.to/#/@bondar:{SERVER}"

    for bad in ("district=0", "district=abc", "commission=" + "x" * 64):
        status, _, body = await get(f"{site.url}/api/v1/deputies?{bad}")
        assert status == 422 and json.loads(body)["errcode"] == "KB_INVALID", bad


async def test_the_api_is_in_the_openapi_document(site: Site) -> None:
    _, _, body = await get(f"{site.url}/api/openapi.json")
    doc = json.loads(body)
    operation = doc["paths"]["/api/v1/deputies"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"q", "faction", "commission", "district"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DeputyList"}
    assert "internal" in doc["components"]["schemas"]["DeputyOut"]["properties"]


async def test_the_deputy_page_shows_the_card_then_the_record(site: Site) -> None:
    status, _, body = await get(f"{site.url}/deputies/bondar")
    html = body.decode()
    assert status == 200 and 'id="card"' in html and 'id="votes-record"' in html
    assert html.index('id="card"') < html.index('id="votes-record"')
    assert 'href="/appeals/new?deputy=bondar"' in html and 'id="photo"' in html
    assert "щопонеділка 10:00" in html and 'id="district">3<' in html
    assert 'id="internal"' not in html and INTERNAL["email"] not in html
    assert "matrix.to" not in html

    status, _, body = await get(f"{site.url}/deputies/bondar", site.cookie)
    html = body.decode()
    assert status == 200 and 'id="internal"' in html and INTERNAL["email"] in html
    assert f'href="https://matrix.to/#/@bondar:{SERVER}"' in html

    status, _, body = await get(f"{site.url}/deputies/holova")  # the head: the record, no card
    assert status == 200 and 'id="votes-record"' in body.decode() and 'id="card"' not in body.decode()
    for nobody in ("sekretar", "nobody"):
        status, headers, _ = await get(f"{site.url}/deputies/{nobody}")
        assert status == 404 and headers["Content-Type"].startswith("text/html")


async def test_the_photo_is_served_with_its_type_and_kept_by_version(site: Site) -> None:
    _, _, body = await get(f"{site.url}/api/v1/deputies?district=3")
    url = site.url + json.loads(body)["deputies"][0]["photo_url"]
    status, headers, body = await get(url)
    assert status == 200 and body == site.photo and headers["Content-Type"] == "image/png"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = await get(f"{site.url}/deputies/bondar/photo")  # no version: ask each time
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    status, _, body = await get(url, **{"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""
    for nobody in ("marchuk", "holova", "nobody"):
        status, _, _ = await get(f"{site.url}/deputies/{nobody}/photo")
        assert status == 404


def test_every_word_of_the_directory_pages_is_translated() -> None:
    """Ukrainian first: each msgid of the directory's templates has a Ukrainian text (from
    directory.po, or messages.po for the site's common words) with the same {fields}."""
    uk = i18n.translations("uk")
    found = [msg for name in ("directory.html", "directory_person.html")
             for _line, msg, _comments, _ctx in extract_from_file(
                 "jinja2", REPO / "web/templates" / name, keywords=DEFAULT_KEYWORDS)]
    assert len(found) > 20
    for msg in found:
        if isinstance(msg, tuple):
            assert uk.ngettext(msg[0], msg[1], 5) != msg[1], msg
        else:
            assert uk.gettext(msg) != msg, msg
