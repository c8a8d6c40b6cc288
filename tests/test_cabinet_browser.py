"""The signed-in side in a real headless Chromium at a phone's and a desktop's size, against the
demo council on a real Synapse: sign in with the Matrix password and by the bot's link, see my
appeals, write and edit a note on a draft, sign out. Screenshots go to the test's tmp_path."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from council import appeals
from council import sittings as sittings_domain
from council.types import utcnow
from kabinet.features.appeals import context as appeals_context
from kabinet.features.sittings import context as sittings_context
from kabinet.features.sittings_demo import draft_pdf
from kabinet.wiring import Running
from tests.browser_support import SIZES, fits, watched
from tests.conftest import Deputies
from tests.matrix_helpers import next_events, resolve
from tests.test_web import browser  # noqa: F401  (the session's Chromium)
from web.accounts import DEPS
from web.security import RateLimiter

DEPUTY, PASSWORD = "tkachuk", "deputat-demo"
LINK = re.compile(r"(https?://\S+/login/link/[A-Za-z0-9_-]+)")


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, settled: Running, size: str) -> AsyncIterator[Page]:  # noqa: F811
    deps = settled.runner.app[DEPS]
    deps.per_account, deps.per_address = RateLimiter(5, 900), RateLimiter(100, 900)
    async with watched(browser, settled.web_url, size) as page:
        yield page


async def draft_and_appeal(running: Running, tag: str) -> tuple[int, str]:
    """A coming sitting with one draft, and an appeal to the deputy; the draft's item id and
    the appeal's subject."""
    kabinet = running.kabinet
    sctx = sittings_context(kabinet)
    async with kabinet.store.session() as s:
        sitting, _ = await sittings_domain.create_sitting(s, sctx, sittings_domain.NewSitting(
            kind="plenary", number=tag, title=f"Сесія {tag}", place="Зала засідань",
            starts_at=utcnow() + timedelta(days=20)))
        data = draft_pdf("1", f"Про бюджет {tag}", "Секретаріат", ["Текст."])
        item = await sittings_domain.add_draft(s, sctx, sitting.id, sittings_domain.NewDraft(
            number="1", title=f"Про бюджет {tag}", initiator="Секретаріат"),
            sittings_domain.prepare_file(sctx, data, "draft.pdf"), source="cli")
        subject = f"Ремонт під'їзду {tag}"
        await appeals.register(s, appeals_context(kabinet), appeals.NewAppeal(
            name="Петренко Марія", residence="вул. Незалежності, 5", subject=subject,
            text="Прошу допомогти.", email="maria@example.org", addressee_kind="deputy",
            addressee_deputy=DEPUTY))
    kabinet.delivery.poke()
    return item.id, subject


async def test_a_deputy_signs_in_sees_their_appeal_writes_and_edits_a_note_and_signs_out(
        page: Page, settled: Running, size: str, tmp_path: Path) -> None:
    item_id, subject = await draft_and_appeal(settled, f"b-{size}")
    await page.goto("/cabinet")
    await expect(page).to_have_url(re.compile(r"/login\?next=/cabinet$"))
    await page.fill("#f-user", DEPUTY)
    await page.fill("#f-password", PASSWORD)
    await page.click("#signin")
    await expect(page).to_have_url(re.compile(r"/cabinet$"))
    await expect(page.locator("h1")).to_have_text("Мій кабінет")
    await expect(page.get_by_text(subject)).to_be_visible()
    await page.screenshot(path=tmp_path / f"cabinet-{size}.png", full_page=True)
    await fits(page, size)

    await page.locator(f"#notes-draft-{item_id} a.note-link").click()
    await expect(page.locator("#notes-subject")).to_contain_text(f"Про бюджет b-{size}")
    box = page.locator(f"#notes-draft-{item_id}")
    await box.locator("form.note-new textarea").fill("Уточнити джерела фінансування")
    await box.locator("form.note-new button").click()
    await expect(box.locator(".note-body")).to_have_text("Уточнити джерела фінансування")
    await box.locator("details.note-edit summary").click()
    await box.locator("details.note-edit textarea").fill("Уточнити джерела фінансування (ст. 5)")
    await box.locator("details.note-edit button").click()
    await expect(box.locator(".note-body")).to_have_text("Уточнити джерела фінансування (ст. 5)")
    await fits(page, size)
    await page.goto("/cabinet")  # the note is listed under its draft
    await expect(page.locator(f"#notes-draft-{item_id} .note-body")).to_have_text(
        "📝 Уточнити джерела фінансування (ст. 5)")
    await page.screenshot(path=tmp_path / f"cabinet-note-{size}.png", full_page=True)

    await page.click("#signout")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto("/cabinet")
    await expect(page).to_have_url(re.compile(r"/login\?next=/cabinet$"))
    await fits(page, size)


async def test_a_deputy_signs_in_by_the_link_the_bot_posts(
        page: Page, settled: Running, people: Deputies, size: str, tmp_path: Path) -> None:
    if size == "desktop":
        pytest.skip("the link's path is the same at every size; the phone is the case")
    client = await people.login(DEPUTY, PASSWORD)
    server = settled.kabinet.settings.homeserver.server_name
    notes_room = await resolve(client, f"#kabinet_notes_{DEPUTY}:{server}")
    await client.sync(timeout=0)
    await page.goto("/login")
    await page.fill("#f-link-user", DEPUTY)
    await page.click("#send-link")
    await expect(page.locator("#form-notice")).to_contain_text("поставлено в чергу")
    found = await next_events(client, notes_room, lambda e: bool(
        LINK.search(e.get("content", {}).get("body", ""))))
    url = LINK.search(found[-1]["content"]["body"]).group(1)  # type: ignore[union-attr]
    await page.goto(url.removeprefix(settled.web_url))
    await page.click("#use-link")
    await expect(page).to_have_url(re.compile(r"/cabinet$"))
    await page.screenshot(path=tmp_path / "signed-in-by-link.png", full_page=True)
