"""The web site end to end, in a real headless Chromium (Debian's, never a downloaded one).

Every browser test runs twice: at a phone viewport and at a desktop one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from council.roster import Roster
from kabinet.wiring import Running

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1366, "height": 900}},
}
SPACE_LINK = "https://matrix.to/#/#kabinet_council:localhost"
DEMO_PASSWORD = "deputat-demo"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium; `make test` does)")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, demo: Running, viewport: str) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) on the demo site at the chosen viewport."""
    context = await browser.new_context(base_url=demo.web_url, **VIEWPORTS[viewport])
    context.set_default_timeout(15_000)
    page = await context.new_page()
    yield page
    await context.close()


async def assert_fits_horizontally(page: Page, viewport: str) -> None:
    width = VIEWPORTS[viewport]["viewport"]["width"]
    scroll_width, inner_width = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]")
    # A phone browser zooms out to fit wide content, which would widen innerWidth as well.
    assert inner_width == width, f"the layout viewport grew to {inner_width}px (set {width}px)"
    assert scroll_width <= inner_width, (
        f"{page.url} overflows horizontally: {scroll_width}px wide in a {inner_width}px window")


async def test_the_home_page_greets_in_ukrainian_by_default(
    page: Page, demo: Running, demo_roster: Roster, viewport: str, tmp_path: Path
) -> None:
    response = await page.goto("/")
    assert response is not None and response.status == 200
    await expect(page.locator("html")).to_have_attribute("lang", "uk")
    await expect(page.locator("h1")).to_have_text(demo_roster.council.name)
    space = page.get_by_role("link", name="Відкрити простір ради")
    await expect(space).to_have_attribute("href", SPACE_LINK)
    await expect(space).to_be_visible()
    await expect(page.locator("#homeserver-url")).to_have_text(
        demo.kabinet.settings.homeserver.public_client_url)
    # The stylesheet got past the Content-Security-Policy: the header is painted in the accent.
    header_bg = await page.locator("header.top").evaluate(
        "el => getComputedStyle(el).backgroundColor")
    assert header_bg == "rgb(11, 92, 173)"
    shot = tmp_path / f"home-{viewport}.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0


@pytest.mark.parametrize("path", ["/", "/deputies"])
async def test_nothing_overflows_horizontally(page: Page, viewport: str, path: str) -> None:
    response = await page.goto(path)
    assert response is not None and response.status == 200
    await assert_fits_horizontally(page, viewport)


async def test_switching_to_english_in_the_header_sticks_on_the_next_page(page: Page) -> None:
    await page.goto("/")
    await page.locator("header nav").get_by_role("link", name="English").click()
    await page.wait_for_url("**/?lang=en")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("link", name="Open the council Space")).to_be_visible()
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    assert cookies.get("lang") == "en"

    await page.locator("header nav").get_by_role("link", name="Deputies").click()
    await page.wait_for_url("**/deputies")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("h1")).to_have_text("Deputies")
    await expect(page.locator("header nav").get_by_role("link", name="Українська")).to_be_visible()


async def test_the_deputies_directory_lists_everyone_with_public_contacts_and_no_password(
    page: Page, demo_roster: Roster
) -> None:
    response = await page.goto("/deputies")
    assert response is not None and response.status == 200
    await expect(page.locator("li.deputy")).to_have_count(len(demo_roster.deputies))
    for deputy in demo_roster.deputies:
        await expect(page.locator(f"#deputy-{deputy.id} h2")).to_have_text(deputy.name)

    with_email = next(d for d in demo_roster.deputies if d.contacts.email)
    email = with_email.contacts.email
    link = page.locator(f"#deputy-{with_email.id} a[href='mailto:{email}']")
    await expect(link).to_have_text(email)

    content = await page.content()
    assert DEMO_PASSWORD not in content
    for person in (*demo_roster.deputies, *demo_roster.secretariat):
        if person.password:
            assert person.password not in content, f"the password of {person.id} is on the page"


async def test_healthz_reports_every_dependency_ok(demo: Running) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{demo.web_url}/healthz") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.json() == {"database": "ok", "homeserver": "ok", "appservice": "ok",
                                     "events": {"waiting": 0, "parked": 0},
                                     "leader": {"leading": True, "alone": True}, "ready": True}


async def test_an_unknown_page_gives_a_404_not_a_stack_trace(page: Page) -> None:
    response = await page.goto("/no-such-page")
    assert response is not None and response.status == 404
    content = await page.content()
    assert "Traceback" not in content
    assert 'File "' not in content
    assert await page.locator("h1").inner_text() == "Сторінку не знайдено"
    assert (await response.all_headers()).get("x-content-type-options") == "nosniff"


async def test_the_home_page_sends_security_headers(page: Page) -> None:
    response = await page.goto("/")
    assert response is not None and response.status == 200
    headers = await response.all_headers()
    assert "default-src" in headers.get("content-security-policy", "")
    assert headers.get("x-content-type-options") == "nosniff"


def _documented() -> dict[str, Any]:
    """The OpenAPI document of both JSON APIs, as the site serves it (no installation needed)."""
    from aiohttp import web as aioweb

    from web import appeals as web_appeals
    from web import openapi
    from web import sittings as web_sittings

    app = aioweb.Application()
    openapi.setup(app, "test")
    web_sittings.setup(app, None)  # type: ignore[arg-type]  # routes and document only
    web_appeals.setup(app, None)  # type: ignore[arg-type]
    return app[openapi.OPENAPI]


def _body_schema(doc: dict[str, Any], path: str, media: str) -> dict[str, Any]:
    schema = doc["paths"][path]["post"]["requestBody"]["content"][media]["schema"]
    return {**schema, "components": doc["components"]}


DRAFT = {"number": "12-а", "title": "Про бюджет", "initiator": "Виконком"}


@pytest.mark.parametrize("fields, accepted", [
    ({}, True),
    ({"number": "№ 12"}, False),  # the validator's pattern: the old schema allowed any text
    ({"number": "1" * 33}, False),  # at most 32 characters
    ({"initiator": "В"}, False),
    ({"commission": "x" * 65}, False),
])
def test_the_draft_form_schema_refuses_what_the_validator_refuses(fields: dict, accepted: bool):
    """The documented multipart body of addDraft and the validator (NewDraft) agree: the
    hand-written schema documented `number` as any text, and the validator refused "№ 12"."""
    import jsonschema

    from council.sittings import NewDraft

    body = {**DRAFT, **fields}
    schema = _body_schema(_documented(), "/api/v1/sittings/{id}/drafts", "multipart/form-data")
    schema_ok = jsonschema.Draft202012Validator(schema).is_valid({**body, "file": "x"})
    try:
        NewDraft.model_validate(body)
        model_ok = True
    except ValueError:
        model_ok = False
    assert (schema_ok, model_ok) == (accepted, accepted)



def test_every_sitting_error_code_has_its_answer_in_the_one_table():
    """Domain errors carry no HTTP status: web.errors maps each code the domain raises."""
    import re

    from council.sittings import SittingError
    from web.errors import DOMAIN_ERRORS

    raised = set()
    for source in (Path(__file__).parent.parent / "council").rglob("*.py"):
        raised |= set(re.findall(r'SittingError\(\s*"(KB_[A-Z_]+)"', source.read_text()))
    listed = {code for cls, code, *_ in DOMAIN_ERRORS if cls is SittingError}
    assert raised and raised <= listed, raised - listed
    assert "status" not in SittingError.__init__.__code__.co_varnames
