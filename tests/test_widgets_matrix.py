"""The sitting widget and the remote sitting's video widget on a real Synapse: the state a new
sitting room carries (read by a deputy with matrix-nio, as Element would), the video line in
the room, and the widget pages' framing headers. One installation (the small roster) with the
widgets feature and a video service configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import aiohttp
import pytest
from nio import AsyncClient, RoomGetStateEventResponse, RoomMessagesResponse

from appservice.sittings import widgets
from council import rooms as registry
from council import sittings as domain
from council.roster import load_roster
from kabinet.features import default_features
from kabinet.features.sittings import Sittings
from kabinet.features.sittings import context as sittings_context
from kabinet.wiring import Kabinet, Running, start
from tests.conftest import SMALL_ROSTER, Deputies, test_settings
from tests.matrix_helpers import settle, wait_for

ROSTER = load_roster(SMALL_ROSTER)
VIDEO = "https://meet.example.org"


@pytest.fixture(scope="module")
async def inst(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    settings = test_settings(tmp_path_factory.mktemp("widgets"), SMALL_ROSTER,
                             **{"sittings.video_url": VIDEO})
    features = default_features()
    running = await start(Kabinet(settings, ROSTER, features=features))
    await settle(running.kabinet, ROSTER)
    yield running
    await running.stop()


@pytest.fixture
async def deputy(inst: Running) -> AsyncIterator[AsyncClient]:
    who = Deputies(inst.kabinet.settings.homeserver.client_url)
    yield await who.login("bondar", "test-deputy-1")
    await who.close()


async def new_sitting(kabinet: Kabinet, title: str) -> tuple[int, str]:
    ctx = sittings_context(kabinet)
    spec = domain.NewSitting(kind="plenary", title=title, place="Сесійна зала",
                             starts_at=datetime.now(ctx.tz) + timedelta(days=14))
    async with kabinet.store.session() as s:
        sitting, _ = await domain.create_sitting(s, ctx, spec)
    kabinet.feature(Sittings).rooms.poke()

    async def room() -> str | None:
        return (await registry.room_map(kabinet.store)).get(registry.sitting(sitting.id))

    return sitting.id, await wait_for(room, timeout=60, what="the sitting room")


async def state(client: AsyncClient, room_id: str, event_type: str, key: str) -> dict | None:
    """The state event's content as the deputy reads it (None until they joined and it is set)."""
    resp = await client.room_get_state_event(room_id, event_type, key)
    return resp.content if isinstance(resp, RoomGetStateEventResponse) and resp.content else None


async def widget_state(client: AsyncClient, room_id: str) -> tuple[dict, dict, dict]:
    async def read() -> tuple[dict, dict, dict] | None:
        page = await state(client, room_id, widgets.WIDGETS, widgets.SITTING_WIDGET)
        video = await state(client, room_id, widgets.WIDGETS, widgets.VIDEO_WIDGET)
        layout = await state(client, room_id, widgets.LAYOUT, "")
        return (page, video, layout) if page and video and layout else None

    return await wait_for(read, timeout=60, interval=0.5, what="the widget state")


async def test_the_widget_state_is_present_in_a_new_sitting_room(inst: Running, deputy: AsyncClient
                                                                  ) -> None:
    kabinet = inst.kabinet
    sid, room_id = await new_sitting(kabinet, "Про віджет засідання")
    page, video, layout = await widget_state(deputy, room_id)

    assert page["type"] == "m.custom"
    assert page["url"] == f"{kabinet.settings.web.base_url}/widgets/sittings/{sid}"
    assert page["creatorUserId"] == kabinet.hs.bot_mxid
    assert page["name"] and page["data"]["sitting"] == sid
    assert layout["widgets"][widgets.SITTING_WIDGET]["container"] == "top"

    assert video["type"] == "jitsi"
    conference = video["data"]["conferenceId"]
    assert video["url"] == f"{VIDEO}/{conference}"
    assert conference.startswith(f"kabinet-{sid}-") and len(conference) > len(f"kabinet-{sid}-") + 8
    assert video["data"]["domain"] == "meet.example.org"

    # The announcement of the remote sitting says how to join (clients without widgets too).
    async def joining_line() -> bool:
        resp = await deputy.room_messages(room_id, start="", limit=50)
        return isinstance(resp, RoomMessagesResponse) and any(
            video["url"] in (e.source.get("content", {}).get("body") or "") for e in resp.chunk)

    await wait_for(joining_line, timeout=60, interval=0.5, what="the video line in the room")
    # The room was made with the widget state: nothing was sent again (the homeserver would
    # make a second event even of identical content).
    resp = await deputy.room_messages(room_id, start="", limit=100)
    assert isinstance(resp, RoomMessagesResponse)
    kinds = [(e.source["type"], e.source.get("state_key")) for e in resp.chunk]
    assert kinds.count((widgets.WIDGETS, widgets.SITTING_WIDGET)) == 1
    assert kinds.count((widgets.LAYOUT, "")) == 1


async def test_a_room_made_without_widgets_gets_them_once(inst: Running, deputy: AsyncClient) -> None:
    """Rooms from before (or from another config) get the state from the worker, once."""
    kabinet = inst.kabinet
    rooms = kabinet.feature(Sittings).rooms
    plan, rooms.widgets = rooms.widgets, None
    try:
        sid, room_id = await new_sitting(kabinet, "Про кімнату без віджета")
    finally:
        rooms.widgets = plan
    assert await state(deputy, room_id, widgets.WIDGETS, widgets.SITTING_WIDGET) is None
    rooms._widgets_due = None  # as after a restart: every sitting room is checked
    rooms.poke()
    page, _, _ = await widget_state(deputy, room_id)
    assert page["url"].endswith(f"/widgets/sittings/{sid}")
    rooms._widgets_due = None  # another start with the same config: every room is in order
    assert await rooms.place_widgets() == 0


async def test_only_the_widget_pages_may_be_framed(inst: Running) -> None:
    sid, _ = await new_sitting(inst.kabinet, "Про рамку віджета")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{inst.web_url}/widgets/sittings/{sid}") as resp:
            assert resp.status == 200
            csp = resp.headers["Content-Security-Policy"]
            assert "frame-ancestors * vector:" in csp and "X-Frame-Options" not in resp.headers
            html = await resp.text()
            assert 'src="/static/widget.js"' in html and 'id="widget-bar"' in html
            assert "Про рамку віджета" in html  # the sitting page itself (sitting.html)
        async with http.get(f"{inst.web_url}/widgets/sittings/{sid}/live") as resp:
            assert resp.status == 200 and "frame-ancestors *" in resp.headers["Content-Security-Policy"]
            assert 'id="live"' in await resp.text()
        async with http.get(f"{inst.web_url}/sittings/{sid}") as resp:
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        async with http.get(f"{inst.web_url}/widgets/sittings/999999") as resp:
            assert resp.status == 404
