"""Every route of the signed-in side and the staff API, tried anonymously, with a forged cookie
and with the wrong role, on a site with every web feature that needs no homeserver. The list
of routes comes from the router: a route added later without a guard fails here until it is
listed as public on purpose."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from council import accounts, appeals
from council import sittings as sittings_domain
from council import votes as votes_domain
from council.roster import parse_roster
from council.store import Store
from tests.votes_support import KYIV, SERVER, context, plenary_with_items, roster_data, sittings_context
from web import accounts as web_accounts
from web import cabinet as web_cabinet
from web import demo as web_demo
from web import desk as web_desk
from web import metrics as web_metrics
from web import notes as web_notes
from web import sittings as web_sittings
from web import votes as web_votes
from web import widgets as web_widgets
from web.app import create_app
from web.desk import announcements as desk_announcements
from web.pages import SiteInfo

TOKEN = "access-staff-token-0123456789"
SECRET = "access-session-secret-0123456789"
# Open to everyone, on purpose: the public site, open data, sign-in itself.
PUBLIC = re.compile(r"^(/|/deputies(/\{id\}(/photo)?)?|/api/v1/deputies|/healthz|/readyz|/static"
                    r"|/api/openapi\.json|/calendar\.ics|/widgets/sittings/\{id\}(/live)?"
                    r"|/login(/link(/\{token\})?)?|/api/v1/session/openid|/sittings(/\{id\}(/.*)?)?"
                    r"|/open-data/.*|/api/v1/sittings(/\{id\}(/votes)?)?"
                    r"|/demo/mail(/\{name\})?)$")  # mounted only by `kabinet up --demo`'s catcher
# For anyone signed in (each sees only their own): the cabinet, notes, signing out.
ANY_MEMBER = re.compile(r"^(/cabinet(/.*)?|/logout|/api/v1/notes(/\{id\})?)$")
# For the operator only, never for a session or the staff token: a scraper on this machine, or
# web.metrics_token where one is set (web/metrics.py).
OPERATOR = re.compile(r"^/metrics$")
VALUES = {"id": "1", "token": "x", "number": "1", "item": "1", "version": "1"}


@pytest.fixture
async def site(store: Store, tmp_path: Path) -> AsyncIterator[tuple[str, web_accounts.Deps, list]]:
    data = roster_data()
    data["secretariat"].append({"id": "admin", "name": "Адміністратор Системи", "administrator": True})
    roster = parse_roster(data)
    await plenary_with_items(store, tmp_path, roster, items=1)
    vctx = context(roster)

    def sctx() -> sittings_domain.Context:
        return sittings_context(tmp_path, roster)

    app = create_app(SiteInfo(roster.council.name, SERVER, "http://127.0.0.1:1", "#c:" + SERVER,
                              "https://rada.example"), roster, {})
    deps = web_accounts.Deps(store, lambda: roster, SERVER, SECRET, TOKEN, "http://127.0.0.1:1",
                             "https://rada.example", False)
    web_accounts.setup(app, deps)
    web_cabinet.setup(app, web_cabinet.Deps(store, lambda: vctx))
    web_notes.setup(app, web_notes.Deps(store))
    web_sittings.setup(app, web_sittings.Deps(store, sctx, TOKEN))
    web_votes.setup(app, web_votes.Deps(store, lambda: vctx, TOKEN, votes_domain.Changes()))
    web_desk.setup(app, web_desk.Deps(store, sctx, lambda: vctx, appeals.Context(
        SERVER, "kabinet_", "https://rada.example", tz=KYIV)))
    web_widgets.setup(app, web_widgets.Deps())
    web_metrics.setup(app, web_metrics.Deps(CollectorRegistry(), _no_store_figures))
    web_demo.setup(app, web_demo.Deps(tmp_path / "demo-mail", lambda: KYIV))  # demo only
    desk_announcements.setup(app, desk_announcements.Deps(store, lambda: KYIV))
    routes = sorted({(r.method, r.resource.canonical) for r in app.router.routes()
                     if r.resource is not None and r.method != "HEAD"})
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), deps, routes
    await server.close()


async def _no_store_figures() -> None:
    pass


def guarded(routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(m, p) for m, p in routes if not OPERATOR.match(p) and (
        not PUBLIC.match(p) or (m not in ("GET",) and not p.startswith(("/login", "/api/v1/session"))))]


async def attempt(url: str, method: str, path: str, cookie: str | None = None,
                  csrf: str | None = None) -> tuple[int, str]:
    target = re.sub(r"\{(\w+)\}", lambda m: VALUES[m.group(1)], path)
    headers = {"Cookie": f"kb_session={cookie}"} if cookie else {}
    if csrf:
        headers["X-CSRF-Token"] = csrf
    data = {"csrf": csrf or ""} if not target.startswith("/api/") else None
    async with aiohttp.ClientSession() as http, http.request(
            method, url + target, headers=headers, data=data, allow_redirects=False) as resp:
        return resp.status, resp.headers.get("Location", "")


async def test_every_guarded_route_refuses_anonymous_visitors_and_forged_cookies(site, store: Store):
    url, _, routes = site
    checked = guarded(routes)
    assert len(checked) >= 30, checked  # the desk, the staff API, notes, cabinet, sign-out
    for method, path in checked:
        for cookie in (None, "forged-cookie"):
            status, location = await attempt(url, method, path, cookie)
            if path.startswith("/api/"):
                assert status == 401, (method, path, cookie, status)
            else:
                assert status == 303 and location.startswith("/login?next="), (
                    method, path, cookie, status, location)


async def test_staff_routes_refuse_a_deputy_and_write_nothing(site, store: Store):
    url, _, routes = site
    async with store.session() as s:
        token = await accounts.start_session(s, f"@bondar:{SERVER}", "test")
    csrf = web_accounts.session_csrf(SECRET, token)
    staff_only = [(m, p) for m, p in guarded(routes) if not ANY_MEMBER.match(p)]
    assert any(p.startswith("/desk") for _, p in staff_only)
    for method, path in staff_only:
        status, _ = await attempt(url, method, path, token, csrf)
        assert status == 403, (method, path, status)
    async with store.session() as s:  # nothing changed: one sitting, one item, no votes
        assert [e.action for e in await accounts.audit.recent(s)] == []
        assert len(await sittings_domain.list_sittings(s)) == 1


async def test_an_expired_session_is_no_session(site, store: Store):
    from datetime import timedelta

    url, _, _ = site
    async with store.session() as s:
        token = await accounts.start_session(s, f"@sekretar:{SERVER}", "test",
                                             lifetime=timedelta(seconds=-1))
    status, location = await attempt(url, "GET", "/desk", token)
    assert status == 303 and location == "/login?next=/desk"


async def test_only_an_administrator_signs_others_out(site, store: Store):
    url, _, _ = site
    async with store.session() as s:
        deputy = await accounts.start_session(s, f"@bondar:{SERVER}", "test")
        secretary = await accounts.start_session(s, f"@sekretar:{SERVER}", "test")
        admin = await accounts.start_session(s, f"@admin:{SERVER}", "test")
    assert (await attempt(url, "GET", "/desk/sessions", secretary))[0] == 403
    form = {"mxid": f"@bondar:{SERVER}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/desk/sessions/end", allow_redirects=False, data={
                **form, "csrf": web_accounts.session_csrf(SECRET, secretary)},
                headers={"Cookie": f"kb_session={secretary}"}) as resp:
            assert resp.status == 403
        async with http.get(url + "/desk/sessions", headers={"Cookie": f"kb_session={admin}"}) as page:
            assert page.status == 200 and f"@bondar:{SERVER}" in await page.text()
        assert (await attempt(url, "GET", "/cabinet", deputy))[0] == 200
        async with http.post(url + "/desk/sessions/end", allow_redirects=False, data={
                **form, "csrf": web_accounts.session_csrf(SECRET, admin)},
                headers={"Cookie": f"kb_session={admin}"}) as resp:
            assert resp.status == 303
    assert (await attempt(url, "GET", "/cabinet", deputy))[0] == 303  # signed out
    async with store.session() as s:
        assert [e.action for e in await accounts.audit.recent(s)] == ["signout.forced"]


async def test_operator_routes_answer_only_this_machine(site, store: Store):
    """Through a proxy (a visitor elsewhere), nobody reads them: not anonymously, not with a
    secretariat session, not with the staff token. A direct local scraper does."""
    url, _, routes = site
    operator = [(m, p) for m, p in routes if OPERATOR.match(p)]
    assert operator == [("GET", "/metrics")]
    async with store.session() as s:
        secretary = await accounts.start_session(s, f"@sekretar:{SERVER}", "test")
    proxied = {"X-Forwarded-For": "203.0.113.7"}
    async with aiohttp.ClientSession() as http:
        for method, path in operator:
            for extra in ({}, {"Cookie": f"kb_session={secretary}"},
                          {"Authorization": f"Bearer {TOKEN}"}):
                async with http.request(method, url + path, headers={**proxied, **extra},
                                        allow_redirects=False) as resp:
                    assert resp.status == 403, (method, path, extra, resp.status)
            async with http.request(method, url + path) as resp:
                assert resp.status == 200, (method, path, resp.status)
