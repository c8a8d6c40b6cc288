"""Signing in with Matrix against a real Synapse: the password checked by the homeserver (and
its device logged out), the one-time link the bot posts, a widget's OpenID token, signing out."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import pytest
from nio import AsyncClient, DevicesResponse
from yarl import URL

from kabinet.wiring import Running
from tests.conftest import Deputies
from tests.matrix_helpers import next_events, resolve
from web.accounts import DEPS
from web.security import RateLimiter

DEPUTY, PASSWORD = "tkachuk", "deputat-demo"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LINK = re.compile(r"(https?://\S+/login/link/[A-Za-z0-9_-]+)")


@pytest.fixture
async def browser(settled: Running) -> AsyncIterator[aiohttp.ClientSession]:
    deps = settled.runner.app[DEPS]  # a fresh failure budget for each test
    deps.per_account, deps.per_address = RateLimiter(5, 900), RateLimiter(100, 900)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(settled.web_url, cookie_jar=jar) as http:
        yield http


async def form_token(http: aiohttp.ClientSession, path: str = "/login") -> str:
    async with http.get(path) as resp:
        assert resp.status == 200, await resp.text()
        match = CSRF.search(await resp.text())
    assert match
    return match.group(1)


async def sign_in(http: aiohttp.ClientSession, user: str, password: str) -> aiohttp.ClientResponse:
    token = await form_token(http)
    async with http.post("/login", data={"user": user, "password": password, "csrf": token},
                         allow_redirects=False) as resp:
        await resp.read()
        return resp


async def test_a_deputy_signs_in_with_the_matrix_password_and_no_device_is_left(
        browser: aiohttp.ClientSession, people: Deputies):
    async with browser.get("/cabinet", allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/login?next=/cabinet"
    resp = await sign_in(browser, DEPUTY, PASSWORD)  # the localpart alone is enough
    assert resp.status == 303 and resp.headers["Location"] == "/cabinet"
    cookie = resp.cookies["kb_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    async with browser.get("/cabinet") as page:
        assert page.status == 200
        html = await page.text()
    assert "Ткачук Олег Васильович" in html and 'id="signout"' in html
    assert page.headers["Cache-Control"] == "private, no-store"
    # Kabinet's check left no device (and so no access token) on the deputy's account.
    client = await people.login(DEPUTY, PASSWORD)
    devices = await client.devices()
    assert isinstance(devices, DevicesResponse)
    assert [d.display_name for d in devices.devices if d.display_name == "Kabinet web sign-in"] == []


async def test_a_wrong_password_or_an_outsider_gets_one_answer_and_the_account_is_throttled(
        browser: aiohttp.ClientSession):
    for user, password in ((DEPUTY, "wrong-password"), ("nobody-here", PASSWORD),
                           ("@tkachuk:elsewhere.example", PASSWORD)):
        resp = await sign_in(browser, user, password)
        assert resp.status == 401 and "kb_session" not in resp.cookies
    for _ in range(4):  # five failures for the account in all
        assert (await sign_in(browser, DEPUTY, "wrong-again")).status == 401
    refused = await sign_in(browser, DEPUTY, PASSWORD)  # even the right password now waits
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0
    assert "kb_session" not in refused.cookies
    # Another deputy from the same address is not held back by it.
    assert (await sign_in(browser, "melnyk-o", "deputat-demo")).status == 303


async def test_a_form_without_its_token_signs_nobody_in(browser: aiohttp.ClientSession):
    async with browser.post("/login", data={"user": DEPUTY, "password": PASSWORD},
                            allow_redirects=False) as resp:
        assert resp.status == 403 and "kb_session" not in resp.cookies


async def test_a_one_time_link_from_the_bot_signs_in_once(
        browser: aiohttp.ClientSession, people: Deputies, settled: Running):
    client = await people.login(DEPUTY, PASSWORD)
    server = settled.kabinet.settings.homeserver.server_name
    notes_room = await resolve(client, f"#kabinet_notes_{DEPUTY}:{server}")
    await client.sync(timeout=0)
    token = await form_token(browser)
    async with browser.post("/login/link", data={"user": f"@{DEPUTY}:{server}", "csrf": token}) as r:
        assert r.status == 200
        assert "поставлено в чергу" in await r.text()
    found = await next_events(client, notes_room, lambda e: bool(LINK.search(
        e.get("content", {}).get("body", ""))) and e["sender"] == settled.kabinet.hs.bot_mxid)
    url = LINK.search(found[-1]["content"]["body"]).group(1)  # type: ignore[union-attr]
    path = url.removeprefix(settled.web_url)
    async with browser.get(path) as page:  # opening it (a link preview would) signs nobody in
        assert page.status == 200 and "kb_session" not in page.cookies
    confirm = await form_token(browser, path)
    async with browser.post(path, data={"csrf": confirm}, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/cabinet"
        assert resp.cookies["kb_session"].value
    async with browser.post(path, data={"csrf": confirm}, allow_redirects=False) as again:
        assert again.status == 400 and "kb_session" not in again.cookies  # used
    forged = path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB")
    async with browser.post(forged, data={"csrf": confirm}, allow_redirects=False) as bad:
        assert bad.status == 400


async def test_an_outsider_asking_for_a_link_gets_the_same_answer_and_no_message(
        browser: aiohttp.ClientSession, settled: Running):
    from sqlalchemy import func, select

    from council.models import OutboxMessage

    async with settled.kabinet.store.session() as s:
        before = await s.scalar(select(func.count()).select_from(OutboxMessage))
    token = await form_token(browser)
    async with browser.post("/login/link", data={"user": "@mallory:localhost", "csrf": token}) as r:
        assert r.status == 200 and "поставлено в чергу" in await r.text()
    async with settled.kabinet.store.session() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == before


async def test_a_widget_signs_in_with_an_openid_token(
        browser: aiohttp.ClientSession, people: Deputies, settled: Running):
    client: AsyncClient = await people.login(DEPUTY, PASSWORD)
    hs = settled.kabinet.settings.homeserver.client_url
    async with aiohttp.ClientSession() as raw, raw.post(
            f"{hs}/_matrix/client/v3/user/{quote(client.user_id)}/openid/request_token", json={},
            headers={"Authorization": f"Bearer {client.access_token}"}) as resp:
        openid = await resp.json()
    async with browser.post("/api/v1/session/openid", json={
            "access_token": "forged", "matrix_server_name": openid["matrix_server_name"]}) as bad:
        assert bad.status == 401
    async with browser.post("/api/v1/session/openid", json={
            "access_token": openid["access_token"], "matrix_server_name": "evil.example"}) as bad:
        assert bad.status == 403
    async with browser.post("/api/v1/session/openid", json={
            "access_token": openid["access_token"],
            "matrix_server_name": openid["matrix_server_name"]}) as ok:
        assert ok.status == 200
        assert await ok.json() == {"user_id": client.user_id, "role": "deputy", "home": "/cabinet"}
    async with browser.get("/cabinet", allow_redirects=False) as page:
        assert page.status == 200


async def test_a_stolen_cookie_stops_working_after_sign_out_everywhere(
        browser: aiohttp.ClientSession, settled: Running):
    assert (await sign_in(browser, DEPUTY, PASSWORD)).status == 303
    stolen = browser.cookie_jar.filter_cookies(URL(settled.web_url))["kb_session"].value
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(settled.web_url, cookie_jar=jar) as thief:
        thief.cookie_jar.update_cookies({"kb_session": stolen})
        async with thief.get("/cabinet", allow_redirects=False) as page:
            assert page.status == 200
        html = await (await browser.get("/cabinet")).text()
        csrf = CSRF.search(html).group(1)  # type: ignore[union-attr]
        async with browser.post("/logout", data={"csrf": "forged"}, allow_redirects=False) as r:
            assert r.status == 403  # no sign-out without the session's token
        async with browser.post("/logout", data={"csrf": csrf, "everywhere": "1"},
                                allow_redirects=False) as r:
            assert r.status == 303
        async with thief.get("/cabinet", allow_redirects=False) as page:
            assert page.status == 303  # to /login
        async with browser.get("/cabinet", allow_redirects=False) as page:
            assert page.status == 303
