"""The citizen's side on the web: the form in a real Chromium (phone and desktop), the JSON API,
and bad input — each refused with the right 4xx and nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from openapi_spec_validator import validate
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from council import appeals
from council.roster import load_roster
from kabinet.features.appeals import Appeals
from kabinet.wiring import Running
from tests.appeals_support import PDF, PNG, counts, docx, form
from tests.appeals_support import appeal_fields as _fields
from tests.conftest import DEMO_ROSTER
from tests.test_web import VIEWPORTS, assert_fits_horizontally, browser  # noqa: F401 — fixture
from web.appeals import Limits
from web.security import RateLimiter

DEPUTY = load_roster(DEMO_ROSTER).deputies[0].id


def appeal_fields(**over):
    return _fields(**{"addressee_deputy": DEPUTY, **over})


SMALL = Limits(max_attachments=5, max_attachment_bytes=200_000, max_total_bytes=600_000)


@pytest.fixture(autouse=True)
def generous(demo: Running) -> AsyncIterator[None]:
    """These tests submit many appeals from 127.0.0.1: a roomy limit, small file limits."""
    cfg = demo.kabinet.feature(Appeals).web
    saved = cfg.limiter, cfg.limits
    cfg.limiter, cfg.limits = RateLimiter(10_000, 60), SMALL
    yield
    cfg.limiter, cfg.limits = saved


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, demo: Running, viewport: str) -> AsyncIterator[Page]:  # noqa: F811
    context = await browser.new_context(base_url=demo.web_url, **VIEWPORTS[viewport])
    context.set_default_timeout(15_000)
    page = await context.new_page()
    yield page
    await context.close()


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_a_citizen_sends_an_appeal_through_the_form_and_sees_its_number(
        page: Page, demo: Running, viewport: str):
    response = await page.goto("/appeals/new")
    assert response is not None and response.status == 200
    await expect(page.locator("h1")).to_have_text("Написати депутату")
    await assert_fits_horizontally(page, viewport)
    deputy = demo.kabinet.roster.deputies[0]
    await page.get_by_label("Прізвище, ім'я та по батькові").fill("Гуменюк Петро Васильович")
    await page.get_by_label("Місце проживання (адреса)").fill("м. Івано-Франківськ, вул. Весняна, 5")
    await page.get_by_label("Електронна пошта").fill("petro@example.org")
    await page.get_by_label("Кому").select_option(f"deputy:{deputy.id}")
    await page.get_by_label("Тема").fill("Зупинка транспорту")
    await page.get_by_label("Ваше звернення").fill(f"Прошу встановити навіс <b>на зупинці</b> ({viewport}).")
    await page.get_by_label("Додатки").set_input_files(
        [{"name": "foto.png", "mimeType": "image/png", "buffer": PNG}])
    await page.locator("input[name=consent]").check()
    await page.get_by_role("button", name="Надіслати звернення").click()
    await page.wait_for_url("**/appeals/*?new=1")
    number = await page.locator("#appeal-number").inner_text()
    assert number.startswith("Д-") and len(number) == len("Д-2026/000001")
    await expect(page.locator("#appeal-status")).to_have_text("зареєстровано")
    await assert_fits_horizontally(page, viewport)
    content = await page.content()
    assert "petro@example.org" not in content and "Весняна" not in content  # not even to them
    async with demo.kabinet.store.session() as s:
        stored = await s.scalar(select(appeals.Appeal).where(appeals.Appeal.number == number))
        files = await appeals.attachments(s, stored.id)
    assert stored.text.endswith(f"<b>на зупинці</b> ({viewport}).")  # stored as given
    assert [f.mimetype for f in files] == ["image/png"]


async def test_the_form_explains_each_problem_in_place_and_stores_nothing(page: Page, demo: Running):
    await page.goto("/appeals/new?lang=en")
    await expect(page.locator("h1")).to_have_text("Write to a deputy")
    before = await counts(demo.kabinet)
    await page.get_by_label("Subject").fill("Без імені")
    await page.get_by_label("Your appeal").fill("Анонімне звернення без підпису.")
    await page.get_by_label("E-mail").fill("not-an-address")
    await page.locator("input[name=consent]").check()
    await page.get_by_role("button", name="Send the appeal").click()
    await expect(page.locator("#form-message")).to_have_text("Anonymous appeals are not considered.")
    await expect(page.locator("#e-name")).to_contain_text("art. 8")
    await expect(page.locator("#e-email")).to_have_text("Not a valid e-mail address.")
    await expect(page.get_by_label("Subject")).to_have_value("Без імені")  # kept for correcting
    assert await counts(demo.kabinet) == before


async def test_the_status_page_renders_the_citizens_text_escaped(demo: Running):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{demo.web_url}/api/v1/appeals", json=appeal_fields(
                addressee_deputy=None, subject="<script>alert(1)</script>")) as resp:
            token = (await resp.json())["token"]
        async with http.get(f"{demo.web_url}/appeals/{token}") as resp:
            page = await resp.text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def post_api(demo: Running, data) -> tuple[int, dict, dict]:
    async with aiohttp.ClientSession() as http:
        kw = {"json": data} if isinstance(data, dict) else {"data": data}
        async with http.post(f"{demo.web_url}/api/v1/appeals", **kw) as resp:
            return resp.status, await resp.json(), dict(resp.headers)


BAD = {
    "missing name": (lambda: appeal_fields(name=""), 422, "KB_APPEAL_ANONYMOUS", "name"),
    "missing residence": (lambda: appeal_fields(residence=" "), 422, "KB_APPEAL_ANONYMOUS",
                          "residence"),
    "bad e-mail": (lambda: appeal_fields(email="ivan@"), 422, "KB_INVALID_APPEAL", "email"),
    "no contact": (lambda: appeal_fields(email=None, phone=None), 422, "KB_INVALID_APPEAL", "email"),
    "no consent": (lambda: appeal_fields(consent=False), 422, "KB_INVALID_APPEAL", "consent"),
    "unknown deputy": (lambda: appeal_fields(addressee_deputy="nobody"), 422, "KB_INVALID_APPEAL",
                       "addressee_deputy"),
    "oversize file": (lambda: form(appeal_fields(), [("big.pdf", PDF + b"0" * 300_000,
                                                      "application/pdf")]), 413, "KB_TOO_LARGE", None),
    "too many files": (lambda: form(appeal_fields(), [(f"{i}.png", PNG, "image/png")
                                                      for i in range(6)]), 413, "KB_TOO_LARGE", None),
    "wrong type": (lambda: form(appeal_fields(), [("virus.pdf", b"MZ\x90\x00 not a pdf",
                                                   "application/pdf")]), 415,
                   "KB_UNSUPPORTED_MEDIA_TYPE", None),
    "zip posing as docx": (lambda: form(appeal_fields(), [("a.docx", b"PK\x03\x04broken",
                                                           "application/zip")]), 415,
                           "KB_UNSUPPORTED_MEDIA_TYPE", None),
}


@pytest.mark.parametrize("case", list(BAD))
async def test_bad_api_input_is_refused_with_the_reason_and_nothing_is_stored(demo: Running, case):
    make, status, errcode, field = BAD[case]
    before = await counts(demo.kabinet)
    got, body, _ = await post_api(demo, make())
    assert (got, body["errcode"]) == (status, errcode), body
    if field:
        assert field in body["fields"], body
    assert "Литвин" not in str(body) and "hanna@" not in str(body)  # no personal data echoed
    assert await counts(demo.kabinet) == before


async def test_all_four_file_types_are_accepted_by_content(demo: Running):
    files = [("a.pdf", PDF, "application/pdf"), ("b.png", PNG, "image/png"),
             ("c.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 32, "image/jpeg"),
             ("d.docx", docx(), "application/octet-stream")]
    status, body, _ = await post_api(demo, form(appeal_fields(), files))
    assert status == 201, body
    async with aiohttp.ClientSession() as http, http.get(
            f"{demo.web_url}/api/v1/appeals/{body['token']}") as resp:
        assert (await resp.json())["number"] == body["number"]


async def test_a_forged_token_finds_nothing(demo: Running):
    before = await counts(demo.kabinet)
    forged = "A" * 32
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{demo.web_url}/api/v1/appeals/{forged}") as resp:
            assert resp.status == 404 and (await resp.json())["errcode"] == "KB_NOT_FOUND"
        async with http.post(f"{demo.web_url}/api/v1/appeals/{forged}/messages",
                             json={"text": "Підкинуте повідомлення"}) as resp:
            assert resp.status == 404
        async with http.get(f"{demo.web_url}/appeals/{forged}") as resp:
            assert resp.status == 404
    assert await counts(demo.kabinet) == before


async def test_a_form_post_without_the_csrf_token_or_with_the_honeypot_is_refused(demo: Running):
    before = await counts(demo.kabinet)
    fields = {**appeal_fields(), "addressee": "unknown"}
    # unsafe=True: keep cookies from an IP-address host (127.0.0.1), as a browser does.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{demo.web_url}/appeals/new", data=form(fields),
                             allow_redirects=False) as resp:
            assert resp.status == 403
        async with http.get(f"{demo.web_url}/appeals/new") as resp:  # a real visitor's token
            html = await resp.text()
        token = html.split('name="csrf" value="')[1].split('"')[0]
        async with http.post(f"{demo.web_url}/appeals/new", data=form(
                {**fields, "csrf": token + "x"}), allow_redirects=False) as resp:
            assert resp.status == 403
        async with http.post(f"{demo.web_url}/appeals/new", data=form(
                {**fields, "csrf": token, "website": "http://spam.example"}),
                allow_redirects=False) as resp:
            assert resp.status == 400
        assert await counts(demo.kabinet) == before
        async with http.post(f"{demo.web_url}/appeals/new", data=form({**fields, "csrf": token}),
                             allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/appeals/")
    assert (await counts(demo.kabinet))[0] == before[0] + 1


async def test_intake_is_rate_limited_per_client_address(demo: Running):
    demo.kabinet.feature(Appeals).web.limiter = RateLimiter(2, 60)
    for _ in range(2):
        status, _, _ = await post_api(demo, appeal_fields(name=""))
        assert status == 422
    before = await counts(demo.kabinet)
    status, body, headers = await post_api(demo, appeal_fields())
    assert status == 429 and body["errcode"] == "KB_RATE_LIMITED"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert await counts(demo.kabinet) == before


async def test_the_openapi_document_describes_the_appeals_api(demo: Running):
    async with aiohttp.ClientSession() as http, http.get(f"{demo.web_url}/api/openapi.json") as resp:
        doc = await resp.json()
    validate(doc)
    assert {"/api/v1/appeals", "/api/v1/appeals/{token}",
            "/api/v1/appeals/{token}/messages"} <= doc["paths"].keys()
    assert "422" in doc["paths"]["/api/v1/appeals"]["post"]["responses"]


async def test_a_follow_up_is_checked_by_the_model_that_documents_it(demo: Running):
    status, created, _ = await post_api(demo, appeal_fields())
    assert status == 201
    url = f"{demo.web_url}/api/v1/appeals/{created['token']}/messages"
    async with aiohttp.ClientSession() as http, http.get(f"{demo.web_url}/api/openapi.json") as resp:
        schemas = (await resp.json())["components"]["schemas"]
    limit = next(s["maxLength"] for s in schemas["AppealMessage"]["properties"]["text"]["anyOf"]
                 if s.get("type") == "string")
    before = await counts(demo.kabinet)
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"text": "я" * (limit + 1)}) as resp:
            assert resp.status == 422, await resp.text()
        async with http.post(url, json={"text": " \x00 "}) as resp:  # nothing left to say
            assert resp.status == 422
        assert await counts(demo.kabinet) == before
        async with http.post(url, json={"text": "Дод\x00аток: " + "я" * (limit - 20)}) as resp:
            assert resp.status in (200, 201, 202), await resp.text()
    async with demo.kabinet.store.session() as s:
        appeal = await appeals.by_token(s, created["token"])
        texts = [m.text for m in await appeals.messages(s, appeal.id)]
    assert any(t.startswith("Додаток: ") for t in texts)


async def test_without_a_mail_server_the_status_page_says_e_mails_are_not_sent(demo: Running):
    """The demo has no mail server: a citizen who gave an e-mail is told to follow the page;
    one who gave none is not told about e-mail at all."""
    assert demo.kabinet.settings.mail.host is None
    pages = []
    async with aiohttp.ClientSession() as http:
        for fields in (appeal_fields(), appeal_fields(email=None, phone="+380501234567")):
            async with http.post(f"{demo.web_url}/api/v1/appeals", json=fields) as resp:
                token = (await resp.json())["token"]
            async with http.get(f"{demo.web_url}/appeals/{token}") as resp:
                pages.append(await resp.text())
    assert 'id="mail-waits"' in pages[0] and "Листи e-mail зараз не надсилаються" in pages[0]
    assert 'id="mail-waits"' not in pages[1]
