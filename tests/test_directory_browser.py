"""The directory in a real headless Chromium at a phone's and a desktop's size, on the demo
council (real Synapse): search on /deputies without JavaScript, a deputy's page with the photo
the site serves, "write an appeal" opening the form with the deputy chosen, and, signed in, the
internal contacts and the Element link. Screenshots go to the test's tmp_path."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from council.roster import Roster
from kabinet.wiring import Running
from tests.browser_support import SIZES, fits, watched
from tests.test_web import browser  # noqa: F401  (the session's Chromium)
from web.accounts import DEPS
from web.security import RateLimiter

DEPUTY, PASSWORD = "tkachuk", "deputat-demo"  # the demo deputy with a photo and internal contacts


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, settled: Running, size: str) -> AsyncIterator[Page]:  # noqa: F811
    deps = settled.runner.app[DEPS]
    deps.per_account, deps.per_address = RateLimiter(5, 900), RateLimiter(100, 900)
    async with watched(browser, settled.web_url, size) as page:
        yield page


async def test_the_directory_searches_and_a_deputy_page_opens_the_appeal_form_for_them(
        page: Page, demo_roster: Roster, size: str, tmp_path: Path) -> None:
    await page.goto("/deputies")
    await expect(page.locator("li.deputy")).to_have_count(len(demo_roster.deputies))
    await fits(page, size)
    await page.screenshot(path=tmp_path / f"directory-{size}.png", full_page=True)

    members = [d.id for d in demo_roster.deputies if "budget" in d.commissions]
    await page.select_option("#s-commission", "budget")
    await page.click("#directory-search button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/deputies\?.*commission=budget"))
    await expect(page.locator("li.deputy")).to_have_count(len(members))
    await expect(page.locator("#found")).to_contain_text(str(len(members)))

    deputy = next(d for d in demo_roster.deputies if d.id == DEPUTY)
    await page.goto("/deputies")
    await page.fill("#s-q", deputy.name.split()[0].upper())  # the surname, in capitals
    await page.click("#directory-search button[type=submit]")
    await expect(page.locator("li.deputy")).to_have_count(1)
    await page.locator(f"#deputy-{DEPUTY} h2 a").click()

    await expect(page).to_have_url(re.compile(rf"/deputies/{DEPUTY}$"))
    await expect(page.locator("h1")).to_have_text(deputy.name)
    photo = page.locator("#photo")
    await expect(photo).to_be_visible()
    assert await photo.evaluate("img => img.complete && img.naturalWidth > 0")  # served, not refused
    await expect(page.locator("#reception")).to_have_text(deputy.contacts.reception or "")
    await expect(page.locator("#votes-record")).to_be_attached()
    await expect(page.locator("#internal")).to_have_count(0)  # a visitor: public contacts only
    await expect(page.locator("#write-element")).to_have_count(0)
    await fits(page, size)
    await page.screenshot(path=tmp_path / f"deputy-{size}.png", full_page=True)

    await page.get_by_role("link", name="Написати звернення цьому депутатові").click()
    await expect(page).to_have_url(re.compile(rf"/appeals/new\?deputy={DEPUTY}$"))
    await expect(page.locator("#f-addressee")).to_have_value(f"deputy:{DEPUTY}")
    await page.goto("/appeals/new?deputy=nobody")  # an unknown id chooses nobody
    await expect(page.locator("#f-addressee option[selected]")).to_have_count(0)


async def test_a_signed_in_deputy_sees_internal_contacts_and_the_element_link(
        page: Page, settled: Running, demo_roster: Roster, size: str, tmp_path: Path) -> None:
    deputy = next(d for d in demo_roster.deputies if d.id == DEPUTY)
    await page.goto(f"/login?next={quote(f'/deputies/{DEPUTY}', safe='/')}")
    await page.fill("#f-user", "melnyk-o")  # a colleague
    await page.fill("#f-password", PASSWORD)
    await page.click("#signin")
    await expect(page).to_have_url(re.compile(rf"/deputies/{DEPUTY}$"))
    internal = page.locator("#internal")
    await expect(internal).to_be_visible()
    await expect(internal).to_contain_text(deputy.internal.phone or "")
    mxid = deputy.mxid(settled.kabinet.settings.homeserver.server_name)
    await expect(page.locator("#write-element")).to_have_attribute("href", f"https://matrix.to/#/{mxid}")
    await fits(page, size)
    await page.screenshot(path=tmp_path / f"deputy-signed-in-{size}.png", full_page=True)
