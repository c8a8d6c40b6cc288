"""The site and Element link to each other (issue #12), in a real headless Chromium on the demo
council (real Synapse): a sitting page links its Matrix room and each delivered draft's file
message (checked against the homeserver with a deputy's matrix-nio client), says each law
warning once with the items marked, counts pages with Ukrainian plurals and sizes in КБ; the home
page's section for citizens and where to get Element; the deputy cards' appeal link for everyone
and their Element link for the signed-in only; a long e-mail address stays inside its card."""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from nio import RoomGetEventResponse
from playwright.async_api import Browser, Page, expect

from council import rooms as registry
from council import sittings as domain
from council.roster import Roster
from council.sittings.links import matrix_places
from council.types import utcnow
from kabinet.features.sittings import Sittings
from kabinet.features.sittings import context as sittings_context
from kabinet.features.sittings_demo import draft_pdf
from kabinet.wiring import Running
from tests.browser_support import SIZES, fits, watched
from tests.conftest import Deputies
from tests.matrix_helpers import wait_for
from tests.test_sittings_matrix import quiesce
from tests.test_web import browser  # noqa: F401  (the session's Chromium)
from web.accounts import DEPS as ACCOUNTS
from web.pages import ROSTER
from web.security import RateLimiter

DEPUTY, PASSWORD = "tkachuk", "deputat-demo"  # in every plenary sitting; internal contacts
COLLEAGUE = "melnyk-o"
PAGES = {"1": 1, "2": 2, "3": 5}  # agenda number -> the draft's pages
ELEMENT_APPS = {  # (app, store) -> the download link
    ("element", "play"): "https://play.google.com/store/apps/details?id=im.vector.app",
    ("element", "fdroid"): "https://f-droid.org/packages/im.vector.app",
    ("element", "appstore"): "https://apps.apple.com/app/element-messenger/id1083446067",
    ("element", "desktop"): "https://element.io/download",
    ("element", "web"): "https://app.element.io/",
    ("element-x", "play"): "https://play.google.com/store/apps/details?id=io.element.android.x",
    ("element-x", "fdroid"): "https://f-droid.org/packages/io.element.android.x",
    ("element-x", "appstore"):
        "https://apps.apple.com/app/element-x-secure-chat-call/id1631335820",
}


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(autouse=True)
async def _leave_it_quiet(settled: Running) -> AsyncIterator[None]:
    yield
    await quiesce(settled.kabinet)


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, settled: Running, size: str) -> AsyncIterator[Page]:  # noqa: F811
    deps = settled.runner.app[ACCOUNTS]
    deps.per_account, deps.per_address = RateLimiter(5, 900), RateLimiter(100, 900)
    async with watched(browser, settled.web_url, size) as page:
        yield page


@dataclass
class Published:
    sitting: int
    items: dict[str, int]  # agenda number -> item id
    files: dict[str, str]  # agenda number -> file name


async def publish_sitting(running: Running, tag: str) -> Published:
    """A plenary sitting in three days (too soon: the law warns about it and about each draft)
    with drafts of 1, 2 and 5 pages, delivered to its room."""
    kabinet = running.kabinet
    ctx = sittings_context(kabinet)
    async with kabinet.store.session() as s:
        sitting, _ = await domain.create_sitting(s, ctx, domain.NewSitting(
            kind="plenary", number=tag, title=f"Сесія {tag}", place="Сесійна зала",
            starts_at=utcnow() + timedelta(days=3)))
        items, files = {}, {}
        for number, pages in PAGES.items():
            title = f"Про питання {number} ({tag})"
            data = draft_pdf(number, title, "Виконком", ["Текст проєкту."], pages=pages)
            files[number] = f"proekt-{number}.pdf"
            item = await domain.add_draft(s, ctx, sitting.id, domain.NewDraft(
                number=number, title=title, initiator="Виконком"),
                domain.prepare_file(ctx, data, files[number]), source="cli")
            items[number] = item.id
    kabinet.feature(Sittings).rooms.poke()
    kabinet.delivery.poke()

    async def delivered() -> bool:
        async with kabinet.store.session() as s:
            places = await matrix_places(s, sitting.id)
        return places.room_id is not None and len(places.events) == len(PAGES)
    await wait_for(delivered, timeout=90, what="the sitting's room and its three drafts")
    return Published(sitting.id, items, files)


def matrix_to(room_id: str, event_id: str | None = None) -> str:
    """Room and event ids are made of URL-safe characters: the link carries them as they are."""
    return f"https://matrix.to/#/{room_id}{'/' + event_id if event_id else ''}?via=localhost"


async def test_a_sitting_page_links_its_room_and_each_draft_message_and_warns_once(
        page: Page, settled: Running, people: Deputies, size: str, tmp_path: Path) -> None:
    kabinet = settled.kabinet
    published = await publish_sitting(settled, f"links-{size}-{uuid.uuid4().hex[:4]}")
    room_id = await registry.room_id(kabinet.store, registry.sitting(published.sitting))
    assert room_id is not None
    async with kabinet.store.session() as s:
        places = await matrix_places(s, published.sitting)
        view = await domain.view(s, sittings_context(kabinet), published.sitting)
    [announced] = view.warnings  # three days ahead: art. 46 p.10
    late = {w.render("uk") for ws in view.item_warnings.values() for w in ws}
    assert len(late) == 1 and len(view.item_warnings) == 3  # art. 15 p.3, the same for all three

    await page.goto(f"/sittings/{published.sitting}")
    await expect(page.locator("#sitting-room")).to_have_attribute("href", matrix_to(room_id))
    client = await people.login(DEPUTY, PASSWORD)
    for number, item_id in published.items.items():
        event_id = places.events[(item_id, 1)]
        link = page.locator(f"#event-{item_id}-1")
        await expect(link).to_have_attribute("href", matrix_to(room_id, event_id))
        # The link names the draft's own file message in the sitting room.
        event = await client.room_get_event(room_id, event_id)
        assert isinstance(event, RoomGetEventResponse), event
        content = event.event.source["content"]
        assert content["msgtype"] == "m.file" and content["filename"] == published.files[number]
        assert (content["ua.kabinet.draft"]["id"], content["ua.kabinet.draft"]["version"]) == \
            (item_id, 1)
        meta = page.locator(f"#item-{number} .versions .meta")
        await expect(meta).to_contain_text(["1 сторінка", "2 сторінки", "5 сторінок"][
            list(PAGES).index(number)])
        await expect(meta).to_contain_text(re.compile(r"\d+(,\d)?\sКБ"))

    # Each warning once: the sitting's own (art. 46) and one note for the three drafts
    # (art. 15), which lists them; each item carries only a marker that leads to it.
    [text] = late
    await expect(page.locator(".law-warning")).to_have_count(2)
    await expect(page.locator(".law-warning").first).to_have_text(announced.render("uk"))
    note = page.locator("#law-notes li")
    await expect(note).to_have_count(1)
    await expect(note).to_have_text(f"Примітка 1 (питання № 1, 2, 3): {text}")
    for number in PAGES:
        mark = page.locator(f"#item-{number} .law-mark a")
        await expect(mark).to_have_attribute("href", "#law-note-1")
        await expect(mark).to_have_text("⚠ див. примітку 1")
        await expect(page.locator(f"#item-{number}")).not_to_contain_text(text)
    await fits(page, size)
    await page.screenshot(path=tmp_path / f"sitting-links-{size}.png", full_page=True)

    await page.goto(f"/sittings/{published.sitting}?lang=en")
    for number, words in zip(PAGES, ("1 page", "2 pages", "5 pages"), strict=True):
        meta = page.locator(f"#item-{number} .versions .meta")
        await expect(meta).to_contain_text(words)
        await expect(meta).to_contain_text(re.compile(r"\d+(\.\d)?\sKB"))
    await expect(page.locator("#law-notes li")).to_have_text(
        f"Note 1 (items № 1, 2, 3): {next(iter(view.item_warnings.values()))[0].render('en')}")
    await expect(page.locator("#item-1 .law-mark a")).to_have_text("⚠ see note 1")

    # The widget's page is the same page: the same links and notes.
    await page.goto(f"/widgets/sittings/{published.sitting}?lang=uk")
    await expect(page.locator("#sitting-room")).to_have_attribute("href", matrix_to(room_id))
    await expect(page.locator("#law-notes li")).to_have_count(1)
    await fits(page, size)


async def test_the_home_page_leads_citizens_and_says_where_to_get_element(
        page: Page, size: str, tmp_path: Path) -> None:
    await page.goto("/")
    citizens = page.locator("#citizens")
    await expect(citizens.get_by_role("heading", level=2)).to_have_text("Громадянам")
    await expect(page.locator("#citizen-status")).to_contain_text("особисте посилання")
    await expect(page.locator("#citizen-sittings")).to_have_attribute("href", "/sittings")
    await expect(page.locator("#citizen-open-data")).to_have_attribute(
        "href", "/open-data/votes.csv")
    stores = {"Google Play": "play", "F-Droid": "fdroid", "App Store": "appstore",
              "element.io/download": "desktop", "app.element.io": "web"}
    found = {}
    for link in await page.locator("#get-element a").all():
        found[(await link.get_attribute("data-app"), stores[await link.inner_text()])] = \
            await link.get_attribute("href")
    assert found == ELEMENT_APPS
    await expect(page.locator("#platform-android")).to_contain_text("Element X")
    await fits(page, size)
    await page.screenshot(path=tmp_path / f"home-{size}.png", full_page=True)

    await page.locator("#citizen-appeal").click()
    await expect(page).to_have_url(re.compile(r"/appeals/new$"))
    await page.goto("/?lang=en")
    await expect(page.locator("#citizens h2")).to_have_text("For citizens")
    await expect(page.locator("#get-element h2")).to_have_text("Get Element")


async def test_deputy_cards_link_the_appeal_form_and_element_only_for_the_signed_in(
        page: Page, settled: Running, size: str) -> None:
    await page.goto("/deputies")
    card = page.locator(f"#deputy-{DEPUTY}")
    await expect(card.locator(".write-appeal")).to_have_attribute(
        "href", f"/appeals/new?deputy={DEPUTY}")
    await expect(page.locator(".write-element")).to_have_count(0)  # a visitor: none at all
    await fits(page, size)
    await card.locator(".write-appeal").click()
    await expect(page.locator("#f-addressee")).to_have_value(f"deputy:{DEPUTY}")

    await page.goto("/login?next=/deputies")
    await page.fill("#f-user", COLLEAGUE)
    await page.fill("#f-password", PASSWORD)
    await page.click("#signin")
    await expect(page).to_have_url(re.compile(r"/deputies$"))
    server = settled.kabinet.settings.homeserver.server_name
    await expect(card.locator(".write-element")).to_have_attribute(
        "href", f"https://matrix.to/#/@{DEPUTY}:{server}")
    await expect(card.locator(".write-element")).to_have_text("Написати в Element")
    await expect(card.locator(".write-appeal")).to_have_text("Написати звернення")
    await fits(page, size)
    await page.goto(f"/deputies/{DEPUTY}")
    await expect(page.locator("#write-element")).to_have_attribute(
        "href", f"https://matrix.to/#/@{DEPUTY}:{server}")


async def test_a_long_email_address_stays_inside_the_deputy_card(
        page: Page, settled: Running, size: str, tmp_path: Path) -> None:
    app = settled.runner.app
    roster: Roster = app[ROSTER]
    long_email = ("priimalna.deputata.z.pytan.zhytlovo-komunalnoho.hospodarstva."
                  "ta.blahoustroiu@miska-rada.zhytomyrska-oblast.example.gov.ua")
    deputy = next(d for d in roster.deputies if d.id == DEPUTY)
    changed = deputy.model_copy(update={
        "contacts": deputy.contacts.model_copy(update={"email": long_email}),
        "internal": deputy.internal.model_copy(update={"email": "internal." + long_email})})
    publish = roster.model_copy(update={
        "deputies": [changed if d.id == DEPUTY else d for d in roster.deputies]})
    with warnings.catch_warnings():  # as kabinet.control publishes an applied roster
        warnings.simplefilter("ignore", DeprecationWarning)
        app[ROSTER] = publish
    try:
        await page.goto("/deputies")
        await expect(page.locator(f"#deputy-{DEPUTY} .contacts")).to_contain_text(long_email)
        await fits(page, size)
        await page.goto(f"/deputies/{DEPUTY}")
        await expect(page.locator("#email")).to_have_text(long_email)
        await fits(page, size)
        box = await page.locator("#card").bounding_box()
        email = await page.locator("#email").bounding_box()
        assert box is not None and email is not None
        assert email["x"] + email["width"] <= box["x"] + box["width"] + 0.5
        await page.screenshot(path=tmp_path / f"long-email-{size}.png", full_page=True)
        await page.goto(f"/login?next=/deputies/{DEPUTY}")  # a colleague: internal contacts too
        await page.fill("#f-user", COLLEAGUE)
        await page.fill("#f-password", PASSWORD)
        await page.click("#signin")
        await expect(page.locator("#internal")).to_contain_text("internal." + long_email)
        await fits(page, size)
        await page.goto("/deputies")
        await expect(page.locator(f"#deputy-{DEPUTY} .write-element")).to_be_visible()
        await fits(page, size)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            app[ROSTER] = roster
