"""Sign-in answers that need no real homeserver (its OpenID userinfo endpoint is faked here; the
real one is tested in test_accounts_matrix.py): the widget's cookie, and the redirect targets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from council.store import Store
from tests.votes_support import SERVER, small_roster
from web import accounts as web_accounts
from web.accounts.signin import matrix_id, safe_next
from web.app import SiteInfo, create_app


async def fake_homeserver() -> TestServer:
    async def userinfo(request: web.Request) -> web.Response:
        if request.query.get("access_token") != "good-token":
            return web.json_response({"errcode": "M_UNKNOWN_TOKEN"}, status=401)
        return web.json_response({"sub": f"@bondar:{SERVER}"})

    app = web.Application()
    app.router.add_get("/_matrix/federation/v1/openid/userinfo", userinfo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture(params=[False, True], ids=["http", "https"])
async def site(request: pytest.FixtureRequest, store: Store, tmp_path: Path
               ) -> AsyncIterator[tuple[str, bool]]:
    hs = await fake_homeserver()
    roster = small_roster()
    app = create_app(SiteInfo(roster.council.name, SERVER, "http://x", "#c:" + SERVER,
                              "https://rada.example"), roster, {})
    web_accounts.setup(app, web_accounts.Deps(
        store, lambda: roster, SERVER, "secret-0123456789abcdef", None,
        str(hs.make_url("")).rstrip("/"), "https://rada.example", secure_cookies=request.param))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), request.param
    await server.close()
    await hs.close()


async def test_a_widget_session_reaches_the_widget_over_https_only(site: tuple[str, bool]):
    url, https = site
    async with aiohttp.ClientSession() as http, http.post(url + "/api/v1/session/openid", json={
            "access_token": "good-token", "matrix_server_name": SERVER}) as resp:
        assert resp.status == 200
        cookie = resp.cookies["kb_session"]
    # In a widget the site is framed by Element on another site: only SameSite=None reaches it,
    # and browsers take that only with Secure.
    assert (cookie["samesite"], bool(cookie["secure"])) == (("None", True) if https else ("Lax", False))
    assert cookie["httponly"]


async def test_a_token_the_homeserver_does_not_know_signs_nobody_in(site: tuple[str, bool]):
    url, _ = site
    async with aiohttp.ClientSession() as http, http.post(url + "/api/v1/session/openid", json={
            "access_token": "stolen", "matrix_server_name": SERVER}) as resp:
        assert resp.status == 401 and "kb_session" not in resp.cookies
    for body in ({}, {"access_token": "", "matrix_server_name": SERVER}, [1], "x"):
        async with aiohttp.ClientSession() as http, http.post(
                url + "/api/v1/session/openid", json=body) as resp:
            assert 400 <= resp.status < 500 and "kb_session" not in resp.cookies


@pytest.mark.parametrize(("target", "safe"), [
    ("/cabinet", "/cabinet"), ("/desk/sittings/3?x=1", "/desk/sittings/3?x=1"),
    ("//evil.example/x", "/home"), ("https://evil.example", "/home"), ("/\\evil", "/home"),
    ("", "/home"), (None, "/home")])
def test_only_a_path_on_this_site_is_a_redirect_target(target: str | None, safe: str):
    assert safe_next(target, "/home") == safe


def test_a_bare_localpart_is_on_the_councils_server():
    assert matrix_id("Tkachuk", "rada.example") == "@tkachuk:rada.example"
    assert matrix_id("@t:other.example", "rada.example") == "@t:other.example"
    assert matrix_id("no spaces allowed", "rada.example") is None
