"""Sittings on the web: the staff JSON API, downloads from the store, calendar.ics, and the pages
in a real Chromium at phone and desktop sizes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import aiohttp
import pytest
from icalendar import Calendar
from playwright.async_api import Page, expect

from kabinet.features.sittings_demo import draft_pdf
from tests.test_sittings_matrix import quiesce
from tests.test_web import (  # noqa: F401  (fixtures)
    assert_fits_horizontally,
    browser,
    page,
    viewport,
)
from web.sittings import DEPS

TOKEN = "test-staff-token-" + uuid.uuid4().hex


@pytest.fixture(autouse=True)
async def _leave_it_quiet(settled):
    yield
    await quiesce(settled.kabinet)


@pytest.fixture
def staff(settled):
    """The demo installation with a staff token configured (as `staff_api_token` would)."""
    deps = settled.runner.app[DEPS]
    before = deps.staff_token
    deps.staff_token = TOKEN
    yield {"Authorization": f"Bearer {TOKEN}"}
    deps.staff_token = before


def sitting_body(title: str, **kw) -> dict:
    return {"kind": "plenary", "number": "43", "title": title, "place": "Сесійна зала",
            "starts_at": (datetime.now() + timedelta(days=30)).replace(microsecond=0).isoformat(),
            **kw}


def form(number: str, data: bytes, filename: str = "proekt.pdf", **fields: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    for k, v in {"number": number, "title": f"Про питання {number}", "initiator": "Виконком",
                 **fields}.items():
        f.add_field(k, v)
    f.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return f


async def test_the_staff_api_creates_a_sitting_and_publishes_drafts(settled, staff):
    base = settled.web_url
    title = f"Сесія API {uuid.uuid4().hex[:6]}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/sittings", json=sitting_body(title)) as r:
            assert r.status == 401 and (await r.json())["errcode"] == "KB_UNAUTHORIZED"
        async with http.post(f"{base}/api/v1/sittings", json=sitting_body(title),
                             headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
        async with http.post(f"{base}/api/v1/sittings", json={"kind": "plenary"},
                             headers=staff) as r:
            body = await r.json()
            assert r.status == 422 and {"title", "starts_at", "place"} <= set(body["fields"])
        async with http.post(f"{base}/api/v1/sittings", headers=staff, json=sitting_body(
                title, kind="commission", body="no-such")) as r:
            assert r.status == 404 and (await r.json())["errcode"] == "KB_UNKNOWN_COMMISSION"
        async with http.post(f"{base}/api/v1/sittings", data=b"{not json", headers=staff) as r:
            assert r.status == 400 and (await r.json())["errcode"] == "KB_BAD_JSON"
        async with http.post(f"{base}/api/v1/sittings", json=sitting_body(title), headers=staff) as r:
            assert r.status == 201, await r.text()
            sitting = await r.json()
        sid = sitting["id"]
        assert sitting["starts_at"].endswith(("+02:00", "+03:00"))  # local time in Kyiv

        data = draft_pdf("1", "Про питання 1", "Виконком", ["Текст."], pages=2)
        async with http.post(f"{base}/api/v1/sittings/{sid}/drafts", headers=staff,
                             data=form("1", data, "proekt.pdf", commission="budget")) as r:
            assert r.status == 201, await r.text()
            created = await r.json()
        bad = [
            (form("2", b"GIF89a not a document"), 415, "KB_UNSUPPORTED_FILE"),
            (form("2", b"%PDF-1.4 truncated"), 400, "KB_CORRUPTED_FILE"),
            (form("1", data), 409, "KB_DUPLICATE_NUMBER"),
            (form("2", data, commission="nope"), 404, "KB_UNKNOWN_COMMISSION"),
            (form("", data), 422, "KB_INVALID"),
        ]
        for payload, status, code in bad:
            async with http.post(f"{base}/api/v1/sittings/{sid}/drafts", data=payload,
                                 headers=staff) as r:
                assert (r.status, (await r.json())["errcode"]) == (status, code)
        async with http.post(f"{base}/api/v1/sittings/999999/drafts", data=form("1", data),
                             headers=staff) as r:
            assert r.status == 404 and (await r.json())["errcode"] == "KB_UNKNOWN_SITTING"
        settings = settled.kabinet.settings.sittings
        limit = settings.max_file_bytes
        settings.max_file_bytes = 4096
        try:
            async with http.post(f"{base}/api/v1/sittings/{sid}/drafts", headers=staff,
                                 data=form("3", b"%PDF-" + b"0" * 10_000)) as r:
                assert r.status == 413 and (await r.json())["errcode"] == "KB_FILE_TOO_LARGE"
        finally:
            settings.max_file_bytes = limit

        async with http.get(f"{base}/api/v1/sittings/{sid}") as r:
            detail = await r.json()
        [item] = detail["items"]  # nothing from the refused uploads
        assert (item["number"], item["commission"], item["versions"][0]["pages"]) == ("1", "budget", 2)
        assert detail["paper"]["pages"] == 2 and detail["paper"]["copies"] == 2 * 40
        async with http.get(f"{base}{created['download']}") as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/pdf"
            assert "attachment" in r.headers["Content-Disposition"]
            assert "filename*=UTF-8''proekt.pdf" in r.headers["Content-Disposition"]
            assert await r.read() == data
        async with http.get(f"{base}/api/v1/sittings") as r:
            assert sid in [x["id"] for x in (await r.json())["sittings"]]
        async with http.get(f"{base}/api/openapi.json") as r:
            doc = await r.json()
        assert {"/api/v1/sittings", "/api/v1/sittings/{id}", "/api/v1/sittings/{id}/drafts"} \
            <= set(doc["paths"])
        async with http.get(f"{base}/sittings/{sid}/drafts/{item['id']}/9") as r:
            assert r.status == 404


async def test_the_openapi_document_with_sittings_is_valid(settled):
    from openapi_spec_validator import validate

    async with aiohttp.ClientSession() as http, http.get(f"{settled.web_url}/api/openapi.json") as r:
        validate(await r.json())


async def test_calendar_ics_parses_and_lists_every_sitting(settled, staff):
    base = settled.web_url
    title = f"Сесія для календаря {uuid.uuid4().hex[:6]}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/sittings", json=sitting_body(title), headers=staff) as r:
            sid = (await r.json())["id"]
        async with http.get(f"{base}/calendar.ics") as r:
            assert r.status == 200 and r.content_type == "text/calendar"
            cal = Calendar.from_ical(await r.read())
        async with http.get(f"{base}/api/v1/sittings") as r:
            total = len((await r.json())["sittings"])
    events = cal.walk("VEVENT")
    assert len(events) == total
    [ours] = [e for e in events if str(e["UID"]).startswith(f"sitting-{sid}@")]
    assert title in str(ours["SUMMARY"])
    assert str(ours["LOCATION"]) == "Сесійна зала"
    assert ours.decoded("DTSTART").tzinfo is not None
    assert ours.decoded("DTEND") - ours.decoded("DTSTART") == timedelta(hours=3)


async def test_the_sitting_page_renders_the_agenda(page: Page, settled, staff, viewport):  # noqa: F811
    base = settled.web_url
    title = f"Сесія для сторінки {uuid.uuid4().hex[:6]}"
    long_title = "Про затвердження Програми розвитку громадського транспорту на 2027–2029 роки"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/sittings", headers=staff, json=sitting_body(
                title, starts_at=(datetime.now() + timedelta(days=3)).isoformat())) as r:
            sid = (await r.json())["id"]
        for n in ("1", "2"):
            async with http.post(f"{base}/api/v1/sittings/{sid}/drafts", headers=staff,
                                 data=form(n, draft_pdf(n, long_title, "Виконком", ["Текст."]),
                                           title=long_title if n == "1" else "Про сквер")) as r:
                assert r.status == 201
    response = await page.goto(f"/sittings/{sid}")
    assert response is not None and response.status == 200
    await expect(page.locator("h1")).to_contain_text(title)
    await expect(page.locator("#agenda > li")).to_have_count(2)
    await expect(page.locator("#item-1 h3")).to_contain_text(long_title)
    await expect(page.locator("#item-2 a[download]")).to_have_attribute(
        "href", f"/sittings/{sid}/drafts/{await _item_id(base, sid, '2')}/1")
    # Three days ahead: both law checks warn, on the page too.
    await expect(page.locator(".law-warning").first).to_contain_text("ст. 46")
    await expect(page.locator("#law-note-1")).to_contain_text("ст. 15")  # said once, marked
    await expect(page.locator("#item-1 .law-mark a")).to_have_attribute("href", "#law-note-1")
    await expect(page.locator("#paper")).to_contain_text("80")
    await assert_fits_horizontally(page, viewport)
    await page.goto("/sittings")
    await expect(page.locator("#upcoming").get_by_role("link", name=title, exact=False)).to_be_visible()
    await assert_fits_horizontally(page, viewport)
    await page.goto(f"/sittings/{sid}?lang=en")
    await expect(page.get_by_role("heading", name="Agenda")).to_be_visible()


async def _item_id(base: str, sid: int, number: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/api/v1/sittings/{sid}") as r:
        return next(i["id"] for i in (await r.json())["items"] if i["number"] == number)
