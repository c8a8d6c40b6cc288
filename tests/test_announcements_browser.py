"""The desk's announcements page in headless Chromium, phone and desktop: a secretariat member
fills the form (text, pin, date), posts, and sees the notice and the announcement listed; the
page fits the phone's width; nothing is refused (CSP, missing files)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.async_api import Browser, expect

from council.store import Store
from tests.browser_support import SIZES
from tests.test_announcements_web import SECRETARY, session_of, site  # noqa: F401  (fixture)
from tests.test_web import browser  # noqa: F401  (the session's Chromium)
from web import accounts as web_accounts


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_secretariat_posts_from_the_desk_page(
        browser: Browser, store: Store, site: tuple[str, list[str]], size: str) -> None:  # noqa: F811
    url, _ = site
    headers, _ = await session_of(store, SECRETARY)
    token = headers["Cookie"].split("=", 1)[1]
    context = await browser.new_context(base_url=url, **SIZES[size])
    context.set_default_timeout(15_000)
    await context.add_cookies([{"name": web_accounts.COOKIE, "value": token, "url": url}])
    page = await context.new_page()
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    try:
        await page.goto("/desk/announcements")
        await expect(page.locator('nav.desk-nav a[aria-current="page"]')).to_have_attribute(
            "href", "/desk/announcements")
        await page.fill("#text", "Засідання комісії перенесено на 15:00")
        await page.check("#pinned")
        await page.fill("#expires", (date.today() + timedelta(days=2)).isoformat())
        await page.click("#post")
        await expect(page.locator("#done")).to_be_visible()
        row = page.locator("#announcements tbody tr").first
        await expect(row).to_contain_text("Засідання комісії перенесено")
        await expect(row.locator(".badge")).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert failed == []
    finally:
        await context.close()
