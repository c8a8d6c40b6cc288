"""The sitting widget in headless Chromium, framed as Element frames it: a page of another site
(the "client", served here on `localhost` while Kabinet is on 127.0.0.1) frames
/widgets/sittings/{id}, speaks the widget API's side of the client (the capabilities request,
then an answer to the widget's `get_openid` with a real OpenID token from Synapse), and the
widget signs the deputy in with it. Phone and desktop sizes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from council.roster import load_roster
from kabinet.features import default_features
from kabinet.wiring import Kabinet, Running, start
from tests.browser_support import SIZES
from tests.conftest import SMALL_ROSTER, Deputies, test_settings
from tests.matrix_helpers import settle
from tests.test_web import browser  # noqa: F401  (the session's Chromium)
from tests.test_widgets_matrix import new_sitting

ROSTER = load_roster(SMALL_ROSTER)
# The client's half of the widget API (matrix-widget-api), as Element does it.
CLIENT = """<!doctype html><meta charset="utf-8"><title>client</title>
<iframe id="w" src="%(src)s" style="width:100%%;height:700px"></iframe>
<script>
var creds = %(creds)s, frame = document.getElementById("w");
window.seen = [];
window.addEventListener("message", function (ev) {
  if (ev.source !== frame.contentWindow) { return; }
  var m = ev.data; window.seen.push(m.api + ":" + m.action + (m.response ? ":answered" : ""));
  if (m.api === "fromWidget" && m.action === "get_openid" && !m.response) {
    m.response = Object.assign({state: "allowed"}, creds);
    frame.contentWindow.postMessage(m, "*");
  }
});
frame.addEventListener("load", function () {
  frame.contentWindow.postMessage({api: "toWidget", widgetId: "kabinet_sitting",
    requestId: "caps-1", action: "capabilities", data: {}}, "*");
});
</script>"""


@pytest.fixture(scope="module")
async def inst(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    settings = test_settings(tmp_path_factory.mktemp("widgets-browser"), SMALL_ROSTER)
    running = await start(Kabinet(settings, ROSTER, features=default_features()))
    await settle(running.kabinet, ROSTER)
    yield running
    await running.stop()


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    return request.param


async def openid_token(inst: Running) -> dict[str, Any]:
    """What Element's widget API hands a widget: a token from /openid/request_token."""
    people = Deputies(inst.kabinet.settings.homeserver.client_url)
    client = await people.login("bondar", "test-deputy-1")
    try:
        url = (f"{inst.kabinet.settings.homeserver.client_url}/_matrix/client/v3/user/"
               f"{client.user_id}/openid/request_token")
        async with aiohttp.ClientSession() as http, http.post(
                url, json={}, headers={"Authorization": f"Bearer {client.access_token}"}) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())
    finally:
        await people.close()


@pytest_asyncio.fixture(loop_scope="session")
async def client_site(inst: Running) -> AsyncIterator[tuple[str, int]]:
    sid, _ = await new_sitting(inst.kabinet, "Про віджет у браузері")
    creds = await openid_token(inst)
    src = f"{inst.web_url}/widgets/sittings/{sid}?widgetId=kabinet_sitting"

    async def client_page(_: web.Request) -> web.Response:
        return web.Response(text=CLIENT % {"src": src, "creds": json.dumps(creds)},
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/", client_page)
    server = TestServer(app, host="localhost")  # another site than 127.0.0.1: a real third party
    await server.start_server()
    yield str(server.make_url("/")), sid
    await server.close()


async def test_the_widget_is_framed_by_a_client_and_signs_the_deputy_in(
        browser: Browser, client_site: tuple[str, int], size: str) -> None:  # noqa: F811
    url, sid = client_site
    context = await browser.new_context(**SIZES[size])
    context.set_default_timeout(15_000)
    page = await context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "frame" in m.text.lower() else None)
    try:
        await page.goto(url)
        widget = page.frame_locator("#w")
        await expect(widget.locator("h1")).to_contain_text("Про віджет у браузері")
        await expect(widget.locator("#widget-who")).to_contain_text("@bondar:localhost")
        seen = await page.evaluate("window.seen")
        assert "toWidget:capabilities:answered" in seen and "fromWidget:get_openid" in seen
        # Links out of the widget open a new tab (the rest of the site may not be framed).
        out = widget.locator(f'a[href="/sittings/{sid}/live"], header a[href="/sittings"]').first
        await expect(out).to_have_attribute("target", "_blank")
        await widget.locator("#widget-bar a").nth(1).click()  # the live vote, inside the frame
        await expect(widget.locator("#live")).to_be_visible()
        assert refused == []
    finally:
        await context.close()
