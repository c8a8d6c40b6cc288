"""The desk's announcements page (/desk/announcements) on SQLite and PostgreSQL: the
secretariat posts (pinned, with an expiry date), the row and its outbox messages are written,
the page lists it; a deputy is refused, a visitor sent to sign in, a form without the session's
CSRF token changes nothing, and a past date is refused with the form kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from council import accounts
from council import announcements as domain
from council.models import OutboxMessage
from council.store import Store
from tests.votes_support import KYIV, SERVER, small_roster
from web import accounts as web_accounts
from web.app import create_app
from web.desk import announcements as desk_page
from web.pages import SiteInfo

SECRET = "announcements-session-secret"
SECRETARY = f"@sekretar:{SERVER}"
DEPUTY = f"@bondar:{SERVER}"


@pytest.fixture
async def site(store: Store, tmp_path: Path) -> AsyncIterator[tuple[str, list[str]]]:
    roster = small_roster()
    app = create_app(SiteInfo(roster.council.name, SERVER, "http://127.0.0.1:1", "#c:kabinet.test",
                              "https://rada.example"), roster, {})
    web_accounts.setup(app, web_accounts.Deps(
        store, lambda: roster, SERVER, SECRET, None, "http://127.0.0.1:1", "https://rada.example",
        False))
    pokes: list[str] = []
    desk_page.setup(app, desk_page.Deps(store, lambda: KYIV, lambda: pokes.append("delivery")))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), pokes
    await server.close()


async def session_of(store: Store, mxid: str) -> tuple[dict[str, str], str]:
    async with store.session() as s:
        token = await accounts.start_session(s, mxid, "test")
    return {"Cookie": f"{web_accounts.COOKIE}={token}"}, web_accounts.session_csrf(SECRET, token)


async def test_the_secretariat_posts_a_pinned_announcement_from_the_desk(
        store: Store, site: tuple[str, list[str]]) -> None:
    url, pokes = site
    headers, csrf = await session_of(store, SECRETARY)
    until = date.today() + timedelta(days=3)
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{url}/desk/announcements") as resp:
            assert resp.status == 200 and 'id="announce"' in await resp.text()
        form = {"csrf": csrf, "text": "Прийом громадян\nу четвер о 10:00", "pinned": "on",
                "expires": until.isoformat()}
        async with http.post(f"{url}/desk/announcements", data=form, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/desk/announcements?done=posted"
        async with http.get(f"{url}/desk/announcements?done=posted") as resp:
            page = await resp.text()
            assert 'id="done"' in page and "Прийом громадян" in page
    assert pokes == ["delivery"]
    async with store.session() as s:
        [row] = await domain.recent(s)
        sent = list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())
    assert row.pinned and row.author == SECRETARY and row.origin == "desk"
    assert row.text == "Прийом громадян\nу четвер о 10:00"  # paragraphs kept
    assert row.expires_at is not None and row.expires_at.astimezone(KYIV).date() == until + timedelta(days=1)
    assert [m.event_type for m in sent] == ["m.room.message", "m.room.pinned_events"]


async def test_who_may_not_post_changes_nothing(store: Store, site: tuple[str, list[str]]) -> None:
    url, _ = site
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/desk/announcements", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/login")
    headers, csrf = await session_of(store, DEPUTY)
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{url}/desk/announcements", data={"csrf": csrf, "text": "x"}) as resp:
            assert resp.status == 403
    headers, _ = await session_of(store, SECRETARY)
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{url}/desk/announcements", data={"csrf": "forged", "text": "x"}) as resp:
            assert resp.status == 403
    async with store.session() as s:
        assert await domain.recent(s) == []


async def test_a_past_date_is_refused_and_the_form_kept(store: Store, site: tuple[str, list[str]]) -> None:
    url, pokes = site
    headers, csrf = await session_of(store, SECRETARY)
    form = {"csrf": csrf, "text": "Застаріле оголошення", "pinned": "on",
            "expires": (date.today() - timedelta(days=2)).isoformat()}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{url}/desk/announcements", data=form) as resp:
            assert resp.status in (400, 422)  # 422 once web/errors.py lists KB_EXPIRY_PAST
            page = await resp.text()
            assert 'id="desk-error"' in page and "Застаріле оголошення" in page
        form["expires"] = "31.12.2030"
        async with http.post(f"{url}/desk/announcements", data=form) as resp:
            assert resp.status == 422
    async with store.session() as s:
        assert await domain.recent(s) == []
    assert pokes == []
