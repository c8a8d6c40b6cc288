"""Nothing is wider than the screen: every public page, a deputy's signed-in pages and the
secretariat's desk, at 360, 390, 768 and 1366 px wide, in a real headless Chromium on the demo
council (real Synapse). tests/browser_support.fits checks the page's scroll width and every
element's right edge; each page loads without a failed answer or a console error (watched)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from council import appeals
from kabinet.features.appeals import context as appeals_context
from kabinet.wiring import Running
from tests.browser_support import ALL_SIZES, WIDTHS, fits, watched
from tests.test_links_browser import publish_sitting
from tests.test_sittings_matrix import quiesce
from tests.test_web import browser  # noqa: F401  (the session's Chromium)
from web.accounts import DEPS as ACCOUNTS
from web.security import RateLimiter

DEPUTY, PASSWORD = "tkachuk", "deputat-demo"


@dataclass
class Site:
    sitting: int
    appeal_token: str
    deputy: dict[str, Any]  # the signed-in browsers' storage states
    staff: dict[str, Any]


async def signed_in(browser: Browser, base_url: str, user: str, password: str  # noqa: F811
                    ) -> dict[str, Any]:
    """The cookies of a session signed in through /login, for new contexts to start with."""
    context = await browser.new_context(base_url=base_url, **ALL_SIZES["1366"])
    try:
        page = await context.new_page()
        await page.goto("/login")
        await page.fill("#f-user", user)
        await page.fill("#f-password", password)
        await page.click("#signin")
        await page.wait_for_url(lambda url: "/login" not in url)
        return await context.storage_state()
    finally:
        await context.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site(browser: Browser, settled: Running, demo_roster: Any  # noqa: F811
               ) -> AsyncIterator[Site]:
    """Once for the four widths: a sitting with three drafts and its law notes, an appeal to
    the deputy (its status page), and a deputy's and the administrator's sessions."""
    kabinet = settled.kabinet
    deps = settled.runner.app[ACCOUNTS]
    deps.per_account, deps.per_address = RateLimiter(50, 900), RateLimiter(500, 900)
    published = await publish_sitting(settled, "layout")
    async with kabinet.store.session() as s:
        _, token = await appeals.register(s, appeals_context(kabinet), appeals.NewAppeal(
            name="Петренко Марія", residence="вул. Незалежності, 5",
            subject="Ремонт під'їзду і тротуару біля будинку на вулиці Великої Житомирської",
            text="Прошу допомогти.", email="maria.petrenko.z.dovhoiu.adresoiu@example.org",
            addressee_kind="deputy", addressee_deputy=DEPUTY))
    assert token is not None
    secretary = demo_roster.secretariat[0]  # the administrator: /desk/sessions too
    yield Site(published.sitting, token,
               await signed_in(browser, settled.web_url, DEPUTY, PASSWORD),
               await signed_in(browser, settled.web_url, secretary.id, secretary.password))
    await quiesce(kabinet)


def public_pages(site: Site) -> list[str]:
    sid = site.sitting
    return ["/", "/?lang=en", "/deputies", f"/deputies/{DEPUTY}", "/deputies?q=xyz", "/sittings",
            f"/sittings/{sid}", f"/sittings/{sid}?lang=en", f"/sittings/{sid}/live",
            f"/widgets/sittings/{sid}", "/appeals/new", f"/appeals/{site.appeal_token}",
            "/login"]


def deputy_pages(site: Site) -> list[str]:
    return ["/cabinet", "/cabinet/notes", f"/deputies/{DEPUTY}", f"/sittings/{site.sitting}"]


def staff_pages(site: Site) -> list[str]:
    return ["/desk", f"/desk/sittings/{site.sitting}", "/desk/appeals", "/desk/paper",
            "/desk/log", "/desk/announcements", "/desk/sessions"]


@pytest.mark.parametrize("width", list(WIDTHS))
async def test_no_page_is_wider_than_the_screen(
        browser: Browser, settled: Running, site: Site, width: str) -> None:  # noqa: F811
    for pages, state in ((public_pages(site), None), (deputy_pages(site), site.deputy),
                         (staff_pages(site), site.staff)):
        options = {"storage_state": state} if state else {}
        async with watched(browser, settled.web_url, width, **options) as page:
            for path in pages:
                response = await page.goto(path, wait_until="load")
                assert response is not None and response.status == 200, path
                assert "/login" not in page.url or path == "/login", f"{path} asked to sign in"
                await fits(page, width)
                if await page.locator("details").count():  # the forms they hold, opened
                    await page.evaluate("document.querySelectorAll('details')"
                                        ".forEach(d => { d.open = true; })")
                    await fits(page, width)
