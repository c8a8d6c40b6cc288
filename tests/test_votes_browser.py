"""The votes pages in a real headless Chromium (Debian's) at a phone's and a desktop's size: the
hall view follows a vote without a reload, and nothing is wider than the phone's screen.
Screenshots go to the test's tmp_path, as tests/test_web.py's do."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from council import votes as domain
from council.store import Store
from tests.browser_support import SIZES, fits, watched
from tests.test_votes_web import CLI, REGISTERED, Site, close, open_vote, seed_two_votes, start_site
from tests.test_web import browser  # noqa: F401  (the session's Chromium)


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'kabinet.db'}")
    await store.migrate()
    s = await start_site(store, tmp_path)
    yield s
    await s.server.close()
    await store.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, site: Site, size: str) -> AsyncIterator[Page]:  # noqa: F811
    async with watched(browser, site.url, size) as page:
        yield page


async def test_the_hall_view_follows_the_vote_without_a_reload(
        page: Page, site: Site, size: str, tmp_path: Path) -> None:
    hall = site.hall
    async with hall.store.session() as s:
        await domain.open_registration(s, hall.ctx, hall.sitting_id, CLI)
    await hall.register(*REGISTERED[:4])
    vote_id = await open_vote(hall, "1", duration=600)
    response = await page.goto(f"/sittings/{site.sid}/live")
    assert response is not None and response.status == 200
    counted = page.locator('[data-k="vote.counts.for"]')
    await expect(counted).to_have_text("0")
    # 600 s from the opening, counted down by live.js
    await expect(page.locator('[data-x="left"]')).to_have_text(re.compile(r"^(9|10):\d\d$"))
    await expect(page.locator('[data-x="conn"]')).to_have_text("оновлюється наживо")  # streaming
    await page.evaluate("window.kept = true")  # gone if the page reloads

    await hall.answer("bondar", "for", f"vote:{vote_id}:poll")
    await hall.answer("hnatiuk", "against", f"vote:{vote_id}:poll")
    site.deps.changes.changed(site.sid)
    await expect(counted).to_have_text("1")
    await expect(page.locator('[data-k="vote.counts.against"]')).to_have_text("1")
    await expect(page.locator('[data-k="vote.answered"]')).to_have_text("2")
    assert await page.evaluate("window.kept === true")
    await fits(page, size)
    await page.screenshot(path=str(tmp_path / f"live-open-{size}.png"), full_page=True)

    await close(hall, vote_id)
    site.deps.changes.changed(site.sid)
    outcome = page.locator('[data-show="outcome"]')
    await expect(outcome).to_be_visible()
    await expect(outcome).to_have_text("НЕ ПРИЙНЯТО")
    await expect(page.locator('[data-show="timer"]')).to_be_hidden()
    assert await page.evaluate("window.kept === true")
    await fits(page, size)
    shot = tmp_path / f"live-closed-{size}.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0


async def test_the_results_and_the_deputy_page_fit_a_phone(
        page: Page, site: Site, size: str, tmp_path: Path) -> None:
    await seed_two_votes(site.hall)
    await page.goto(f"/sittings/{site.sid}")
    vote = page.locator("#vote-1")
    await expect(vote.locator(".outcome")).to_have_text("НЕ ПРИЙНЯТО")
    await vote.locator("summary").click()
    await expect(vote.locator('tr[data-member="kovalchuk"] td').last).to_have_text("Конфлікт інтересів")
    await expect(vote.locator("tr[data-member]")).to_have_count(7)
    await fits(page, size)
    await page.screenshot(path=str(tmp_path / f"sitting-votes-{size}.png"), full_page=True)
    await page.goto("/deputies/marchuk")
    await expect(page.locator("#recall-2026")).to_be_visible()
    await expect(page.locator("#record li")).to_have_count(2)
    await fits(page, size)
    await page.screenshot(path=str(tmp_path / f"deputy-{size}.png"), full_page=True)
    await page.goto(f"/sittings/{site.sid}/live?lang=en")
    await expect(page.locator('[data-show="outcome"]')).to_have_text("Adopted")  # vote 2, last
    await fits(page, size)
