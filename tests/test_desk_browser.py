"""The desk in a real headless Chromium (Debian's) at a phone's and a desktop's size, on the demo
installation with its real Synapse: the secretary signs in through /login, creates a sitting,
chooses one draft and drops another on the upload form, publishes both, and a deputy's Matrix
client (matrix-nio) receives both drafts in the sitting room. Screenshots go to tmp_path, as in
tests/test_votes_browser.py; nothing on the page is wider than the screen."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from council import rooms as registry
from kabinet.features.sittings import context as sittings_context
from kabinet.features.sittings_demo import draft_pdf
from kabinet.wiring import Running
from tests.browser_support import SIZES, fits, watched
from tests.matrix_helpers import next_events, wait_for
from tests.test_sittings_matrix import joined, quiesce
from tests.test_web import browser  # noqa: F401  (the session's Chromium)


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(autouse=True)
async def _leave_it_quiet(settled: Running) -> AsyncIterator[None]:
    yield
    await quiesce(settled.kabinet)


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, settled: Running, size: str) -> AsyncIterator[Page]:  # noqa: F811
    async with watched(browser, settled.web_url, size, timeout=20_000) as page:
        yield page


async def drop(page: Page, selector: str, name: str, data: bytes) -> None:
    """A file dropped on `selector` as a person's drag and drop would deliver it."""
    await page.evaluate("""([selector, name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: "application/pdf"}));
        const zone = document.querySelector(selector);
        for (const type of ["dragenter", "dragover", "drop"]) {
            zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
        }
    }""", [selector, name, base64.b64encode(data).decode()])


async def test_the_secretary_publishes_two_drafts_and_a_deputy_receives_them(
        page: Page, settled: Running, people: Any, demo_roster: Any, size: str,
        tmp_path: Path) -> None:
    kabinet = settled.kabinet
    secretary = demo_roster.secretariat[0]
    await page.goto("/login?next=/desk")
    await page.fill("#f-user", secretary.id)
    await page.fill("#f-password", secretary.password)
    await page.click("#signin")
    await expect(page).to_have_url(re.compile(r"/desk$"))
    await fits(page, size)
    await page.screenshot(path=str(tmp_path / f"desk-{size}.png"), full_page=True)

    title = f"Сесія зі столу {uuid.uuid4().hex[:6]}"
    day = (datetime.now(sittings_context(kabinet).tz) + timedelta(days=21)).date().isoformat()
    await page.fill("#title", title)
    await page.fill("#date", day)
    await page.fill("#place", "Сесійна зала")
    await page.click("#create")
    await expect(page).to_have_url(re.compile(r"/desk/sittings/\d+\?done=created"))
    await expect(page.locator("#done")).to_be_visible()
    found = re.search(r"/desk/sittings/(\d+)", page.url)
    assert found
    sid = int(found.group(1))

    first = draft_pdf("1", "Про міський бюджет", "Виконком", ["Текст першого проєкту. " * 20])
    second = draft_pdf("2", "Про земельні ділянки", "Виконком", ["Текст другого проєкту. " * 20])
    await page.set_input_files("#files", files=[
        {"name": "Про міський бюджет.pdf", "mimeType": "application/pdf", "buffer": first}])
    await expect(page.locator("#dropzone")).to_be_visible()  # desk.js is running
    await drop(page, "#dropzone", "Про земельні ділянки.pdf", second)
    await expect(page.locator("#chosen li")).to_have_count(2)
    await expect(page.locator("#titles")).to_have_value("Про міський бюджет\nПро земельні ділянки")
    await page.fill("#initiator", "Виконавчий комітет")
    await fits(page, size)
    await page.click("#publish")
    await expect(page.locator("#added")).to_have_text(re.compile(r"№ 1, № 2"))
    await expect(page.locator("#agenda > li")).to_have_count(2)
    await fits(page, size)
    await page.screenshot(path=str(tmp_path / f"desk-sitting-{size}.png"), full_page=True)

    deputy_entry = demo_roster.deputies[0]
    deputy = await people.login(deputy_entry.id, deputy_entry.password)

    async def room() -> str | None:
        return (await registry.room_map(kabinet.store)).get(f"sitting:{sid}")

    room_id = await wait_for(room, timeout=60, what="the sitting room")
    await joined(deputy, room_id)
    seen: dict[str, dict] = {}

    async def both() -> bool:
        try:
            found = await next_events(deputy, room_id, lambda e: e["content"].get(
                "ua.kabinet.draft", {}).get("sitting") == sid, timeout=10)
        except AssertionError:  # nothing new in these 10 s: sync again
            found = []
        seen.update({e["content"]["ua.kabinet.draft"]["number"]: e for e in found})
        return set(seen) == {"1", "2"}

    await wait_for(both, timeout=90, what="both drafts in the sitting room")
    assert seen["1"]["content"]["msgtype"] == "m.file"
    assert "Про земельні ділянки" in seen["2"]["content"]["body"]  # the title from the file name

    await page.goto("/desk/log")
    await expect(page.locator("#log li").first).to_contain_text("draft.add")
    await fits(page, size)
    await page.screenshot(path=str(tmp_path / f"desk-log-{size}.png"), full_page=True)
