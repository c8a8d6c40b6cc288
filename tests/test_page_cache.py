"""Public pages rendered once per revision (web/cache.py): ETag and 304, and never a stale page
after a change — a draft added, an item withdrawn by another process, a vote closed, an absence
re-worded, a new roster — with the language in the key, signed-in visitors never served from
or stored in the cache, and the security headers on every answer. On SQLite and PostgreSQL; the
holiday calendar is read once per version of its file."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from council import sittings as sittings_domain
from council import votes as domain
from council.law import holidays
from council.roster import parse_roster
from council.store import Store
from kabinet.features.sittings_demo import draft_pdf
from tests.test_votes_web import CLI, Site, close, open_vote, start_site
from tests.votes_support import plenary_with_items, roster_data, sittings_context, small_roster
from web import cache
from web import sittings as web_sittings
from web.app import SECURITY_HEADERS, SiteInfo, create_app
from web.pages import ROSTER, VIEWER

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
async def site(store: Store, tmp_path: Path) -> AsyncIterator[Site]:
    s = await start_site(store, tmp_path)
    yield s
    await s.server.close()


async def get(url: str, **headers: str) -> tuple[aiohttp.ClientResponse, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp, await resp.text()


def assert_site_headers(resp: aiohttp.ClientResponse, lang: str = "uk") -> None:
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers[name] == value
    assert resp.headers["Content-Language"] == lang


async def revalidate(url: str, etag: str) -> tuple[aiohttp.ClientResponse, str]:
    """A browser's second visit: 304 while nothing changed."""
    return await get(url, **{"If-None-Match": etag})


async def test_the_sitting_page_answers_304_until_a_draft_is_added(site: Site, tmp_path: Path
                                                                   ) -> None:
    url = f"{site.url}/sittings/{site.sid}"
    first, body = await get(url)
    assert first.status == 200 and "Про питання 3" in body and "Нове питання" not in body
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    again, _ = await get(url)
    assert again.headers["ETag"] == etag  # the same bytes, from the cache
    same, empty = await revalidate(url, etag)
    assert same.status == 304 and empty == "" and same.headers["ETag"] == etag
    assert_site_headers(same)
    weak, _ = await revalidate(url, f'"other", W/{etag}')
    assert weak.status == 304

    sctx = sittings_context(tmp_path, site.hall.ctx.roster)
    file = sittings_domain.prepare_file(sctx, draft_pdf("4", "Нове питання", "Секретаріат", ["Т"]),
                                        "new.pdf")
    async with site.hall.store.session() as s:
        await sittings_domain.add_draft(s, sctx, site.sid, sittings_domain.NewDraft(
            number="4", title="Нове питання", initiator="Секретаріат"), file, source="cli")
    changed, body = await revalidate(url, etag)
    assert changed.status == 200 and "Нове питання" in body
    assert changed.headers["ETag"] != etag
    assert_site_headers(changed)


async def test_an_item_withdrawn_by_another_process_shows_at_once(site: Site, db_url: str) -> None:
    """The `kabinet sitting …` CLI or another web worker: nothing tells this process."""
    url = f"{site.url}/sittings/{site.sid}"
    first, body = await get(url)
    assert "withdrawn" not in body and "вилучено" not in body
    script = textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from council import sittings
        from council.store import Store
        from tests.votes_support import sittings_context, small_roster

        async def main():
            store = Store({db_url!r})
            async with store.session() as s:
                ctx = sittings_context(Path("/nonexistent"), small_roster())
                await sittings.withdraw_item(s, ctx, {site.sid}, "2")
            await store.close()
        asyncio.run(main())
    """)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=REPO)
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    changed, body = await revalidate(url, first.headers["ETag"])
    assert changed.status == 200
    assert 'class="agenda-item withdrawn" id="item-2"' in body


async def test_a_vote_shows_while_open_and_its_roll_call_once_closed(site: Site) -> None:
    url = f"{site.url}/sittings/{site.sid}"
    async with site.hall.store.session() as s:
        await domain.open_registration(s, site.hall.ctx, site.sid, CLI)
    await site.hall.register("bondar", "hnatiuk", "ivanyshyn", "kovalchuk", "holova")
    _, body = await get(url)
    assert 'id="registered-count">5<' in body and "vote-running" not in body
    vote_id = await open_vote(site.hall, "1", majority="procedural")
    running, body = await get(url)
    assert "vote-running" in body and 'id="vote-1"' not in body
    for member in ("bondar", "hnatiuk", "ivanyshyn"):
        await site.hall.answer(member, "for", f"vote:{vote_id}:poll")
    await close(site.hall, vote_id)
    closed, body = await revalidate(url, running.headers["ETag"])
    assert closed.status == 200 and 'id="vote-1"' in body and "vote-running" not in body


async def test_an_absence_reworded_in_place_changes_the_page(site: Site) -> None:
    """Absences (and conflicts) are updated, not inserted: a count would not see it."""
    url = f"{site.url}/sittings/{site.sid}"
    for reason in ("Відрядження", "Лікарняний"):
        async with site.hall.store.session() as s:
            await domain.notify_absence(s, site.hall.ctx, site.sid, CLI,
                                        domain.NewAbsence(member="marchuk", reason=reason))
        _, body = await get(url)
        assert reason in body
    assert "Відрядження" not in body


async def test_a_new_roster_changes_the_deputies_page(site: Site) -> None:
    url = f"{site.url}/deputies"
    first, body = await get(url)
    assert "Новий Депутат" not in body
    assert (await revalidate(url, first.headers["ETag"]))[0].status == 304
    data = roster_data()
    data["deputies"].append({"id": "novyi", "name": "Новий Депутат"})
    app = site.server.app
    assert app is not None
    with warnings.catch_warnings():  # as kabinet.control publishes an applied roster
        warnings.simplefilter("ignore", DeprecationWarning)
        app[ROSTER] = parse_roster(data, "<test>")
    changed, body = await revalidate(url, first.headers["ETag"])
    assert changed.status == 200 and "Новий Депутат" in body


async def test_the_language_is_part_of_the_key(site: Site) -> None:
    for path in ("/", "/deputies", f"/sittings/{site.sid}"):
        uk, uk_body = await get(site.url + path)
        en, en_body = await get(site.url + path + "?lang=en")
        assert uk.headers["ETag"] != en.headers["ETag"] and uk_body != en_body
        assert_site_headers(uk, "uk")
        assert_site_headers(en, "en")
        assert 'lang="en"' in en_body.split(">", 2)[1]
        assert en.cookies["lang"].value == "en"  # remembered, as web.pages.render does
        by_cookie, body = await get(site.url + path, Cookie="lang=en")
        assert by_cookie.headers["ETag"] == en.headers["ETag"] and body == en_body
        # The English tag does not make the Ukrainian page "not modified".
        assert (await revalidate(site.url + path, en.headers["ETag"]))[0].status == 200


async def test_pages_for_a_signed_in_person_are_neither_stored_nor_taken_from_the_cache(
        store: Store, tmp_path: Path) -> None:
    @web.middleware
    async def viewer(request: web.Request, handler: Any) -> web.StreamResponse:
        """Stands in for sign-in (web.accounts): it sets request[VIEWER] before the page."""
        if "X-Test-Viewer" in request.headers:
            request[VIEWER] = SimpleNamespace(person_id=request.headers["X-Test-Viewer"],
                                              is_staff=False)
        return await handler(request)

    roster = small_roster()
    sid = await plenary_with_items(store, tmp_path, roster, items=1)
    app = create_app(SiteInfo(roster.council.name, "kabinet.test", "http://127.0.0.1:1",
                              "#c:kabinet.test"), roster, {})
    app.middlewares.append(viewer)
    web_sittings.setup(app, web_sittings.Deps(
        store, lambda: sittings_context(tmp_path, roster), None))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url(f"/sittings/{sid}"))
        signed, _ = await get(url, **{"X-Test-Viewer": "bondar"})
        assert signed.status == 200 and signed.headers["ETag"]
        entries = cache.page_cache(app).entries
        assert not entries  # a signed-in person's page is not stored
        await get(url)
        assert len(entries) == 1
        (key, entry), = entries.items()
        entries[key] = cache.Rendered(entry.revision, b"kept for visitors", entry.content_type,
                                      entry.charset, entry.etag)
        _, body = await get(url, **{"X-Test-Viewer": "bondar"})
        assert "Про питання 1" in body  # rendered for them, not taken from the cache
        _, body = await get(url)
        assert body == "kept for visitors"
    finally:
        await server.close()


async def test_an_unknown_sitting_is_still_the_404_page(site: Site) -> None:
    resp, _ = await get(f"{site.url}/sittings/{site.sid + 100}")
    assert resp.status == 404 and "ETag" not in resp.headers
    assert_site_headers(resp)


async def test_requests_never_share_a_revision_read_that_began_before_they_came() -> None:
    started: list[int] = []
    release = asyncio.Event()
    value = 0

    async def read(_: str) -> int:
        seen = value  # a snapshot: what was committed when the read began
        started.append(seen)
        await release.wait()
        return seen

    reader: cache.Coalesced[str, int] = cache.Coalesced(read)
    early = [asyncio.create_task(reader.get("k")) for _ in range(5)]
    await asyncio.sleep(0)  # the read starts
    await asyncio.sleep(0)
    value = 1  # a change is committed after the read began
    late = [asyncio.create_task(reader.get("k")) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*early) == [0] * 5
    assert await asyncio.gather(*late) == [1] * 5  # one more read, shared by the late ones
    assert started == [0, 1]


def test_the_holiday_calendar_is_parsed_once_per_version_of_its_file(tmp_path: Path) -> None:
    path = tmp_path / "holidays.yaml"
    path.write_text("fixed:\n  '01-01': Новий рік\n", encoding="utf-8")
    first = holidays.load(path)
    assert holidays.load(path) is first  # not read again
    assert holidays.load() is holidays.load()
    path.write_text("fixed:\n  '01-01': Новий рік\n  '12-25': Різдво\n", encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    second = holidays.load(path)
    assert second is not first and second.fixed[(12, 25)] == "Різдво"
