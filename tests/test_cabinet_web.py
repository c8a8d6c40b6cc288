"""The signed-in cabinet without a homeserver, on SQLite and PostgreSQL: who sees which appeals,
new drafts marked until the next visit, the roll-call answers, access for each role."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from council import accounts, appeals
from council import sittings as sittings_domain
from council.store import Store
from kabinet.features.sittings_demo import draft_pdf
from tests.votes_support import (
    SERVER,
    context,
    mxid,
    plenary_with_items,
    sittings_context,
    small_roster,
)
from web import accounts as web_accounts
from web import cabinet as web_cabinet
from web.app import SiteInfo, create_app

SECRET = "cabinet-test-secret-0123456789"


@dataclass
class Cabinet:
    url: str
    store: Store
    sitting_id: int
    server: TestServer

    async def session_for(self, member: str) -> str:
        async with self.store.session() as s:
            return await accounts.start_session(s, mxid(member), "test")

    async def page(self, member: str | None, path: str = "/cabinet") -> tuple[int, str]:
        cookies = {"kb_session": await self.session_for(member)} if member else {}
        async with aiohttp.ClientSession(cookies=cookies) as http, http.get(
                self.url + path, allow_redirects=False) as resp:
            return resp.status, await resp.text()


async def appeal_for(store: Store, subject: str, deputy: str | None, days_ago: int) -> int:
    ctx = appeals.Context(server_name=SERVER, ghost_prefix="kabinet_", base_url="https://r.example")
    async with store.session() as s:
        appeal, _ = await appeals.register(s, ctx, appeals.NewAppeal(
            name="Петренко Марія", residence="вул. Січових Стрільців, 1", subject=subject,
            text="Прошу розглянути.", email="maria@example.org",
            addressee_kind="deputy" if deputy else "unknown", addressee_deputy=deputy),
            today=date.today() - timedelta(days=days_ago))
        return appeal.id


@pytest.fixture
async def cabinet(store: Store, tmp_path: Path) -> AsyncIterator[Cabinet]:
    roster = small_roster()
    sid = await plenary_with_items(store, tmp_path, roster, items=2)
    app = create_app(SiteInfo(roster.council.name, SERVER, "http://127.0.0.1:1", "#c:" + SERVER,
                              "https://rada.example"), roster, {})
    web_accounts.setup(app, web_accounts.Deps(
        store, lambda: roster, SERVER, SECRET, None, "http://127.0.0.1:1", "https://rada.example",
        secure_cookies=False))
    vctx = context(roster)
    web_cabinet.setup(app, web_cabinet.Deps(store, lambda: vctx))
    from web import notes as web_notes  # the note boxes' forms

    web_notes.setup(app, web_notes.Deps(store))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield Cabinet(str(server.make_url("")).rstrip("/"), store, sid, server)
    await server.close()


async def test_anonymous_visitors_are_sent_to_sign_in(cabinet: Cabinet):
    status, _ = await cabinet.page(None)
    assert status == 303
    async with aiohttp.ClientSession(cookies={"kb_session": "forged"}) as http, http.get(
            cabinet.url + "/cabinet", allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/login?next=/cabinet"


async def test_a_deputy_sees_their_own_appeals_overdue_first_and_nobody_elses(cabinet: Cabinet):
    late = await appeal_for(cabinet.store, "Ремонт даху", "bondar", days_ago=40)
    fresh = await appeal_for(cabinet.store, "Освітлення двору", "bondar", days_ago=1)
    other = await appeal_for(cabinet.store, "Парковка біля школи", "hnatiuk", days_ago=2)
    status, html = await cabinet.page("bondar")
    assert status == 200
    assert html.index(f'id="appeal-{late}"') < html.index(f'id="appeal-{fresh}"')
    assert "Парковка біля школи" not in html and f'id="appeal-{other}"' not in html
    assert re.search(r'appeal-' + str(late) + r'"[^>]*>|overdue', html)
    assert "Прострочено на" in html
    # The head and the secretariat see the council's.
    for member in ("holova", "sekretar"):
        status, html = await cabinet.page(member)
        assert status == 200 and all(f'id="appeal-{a}"' in html for a in (late, fresh, other))


async def test_new_drafts_are_marked_until_the_next_visit(cabinet: Cabinet, tmp_path: Path):
    _, first = await cabinet.page("bondar")
    assert first.count('class="new-badge"') == 2  # everything is new on a first visit
    _, second = await cabinet.page("bondar")
    assert 'class="new-badge"' not in second
    sctx = sittings_context(tmp_path, small_roster())
    async with cabinet.store.session() as s:
        file = sittings_domain.prepare_file(sctx, draft_pdf("1", "Про питання 1", "Секретаріат",
                                                            ["Нова редакція."]), "draft1-v2.pdf")
        await sittings_domain.revise_draft(s, sctx, cabinet.sitting_id, "1", file, source="cli")
    _, third = await cabinet.page("bondar")
    assert third.count('class="new-badge"') == 1 and "версія 2" in third


async def test_a_citizen_or_a_stranger_has_no_cabinet(cabinet: Cabinet):
    async with cabinet.store.session() as s:  # a session for someone the roster does not know
        token = await accounts.start_session(s, "@citizen:" + SERVER, "test")
    async with aiohttp.ClientSession(cookies={"kb_session": token}) as http, http.get(
            cabinet.url + "/cabinet", allow_redirects=False) as resp:
        assert resp.status == 303


async def test_the_kept_page_follows_every_change_it_shows(cabinet: Cabinet):
    """The cabinet is kept per revision: an appeal handed over, a note written and a roll-call
    answer each show on the very next load."""
    from council import notes
    from council.appeals.queries import by_id

    moved = await appeal_for(cabinet.store, "Вивіз сміття", "bondar", days_ago=3)
    token = await cabinet.session_for("bondar")

    async def page() -> str:
        async with aiohttp.ClientSession(cookies={"kb_session": token}) as http, http.get(
                cabinet.url + "/cabinet") as resp:
            return await resp.text()

    assert "Вивіз сміття" in await page() and await page() == await page()  # kept, unchanged
    async with cabinet.store.session() as s:
        appeal = await by_id(s, moved, lock=True)
        assert appeal is not None
        await appeals.transfer(s, appeal, "hnatiuk", "sekretar")
    assert "Вивіз сміття" not in await page()
    async with cabinet.store.session() as s:
        await notes.write(s, notes.Author(mxid("bondar"), "bondar"),
                          notes.NewNote(subject=None, body="Подзвонити в ЖЕК"))
    assert "Подзвонити в ЖЕК" in await page()
