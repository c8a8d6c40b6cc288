"""`!announce` on a real Synapse: a secretariat member posts from the secretariat's room, the
bot's announcement lands in the announcements room and is pinned there; a deputy's command is
refused; at expiry the message is edited to say so and unpinned. Read by a deputy with
matrix-nio, as Element would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from nio import AsyncClient, RoomGetStateEventResponse, RoomMessagesResponse, RoomSendResponse
from sqlalchemy import update

from council import announcements as domain
from council import rooms as registry
from council.models import utcnow
from council.roster import load_roster
from kabinet.features import default_features
from kabinet.features.announcements import Announcements
from kabinet.wiring import Kabinet, Running, start
from tests.conftest import SMALL_ROSTER, Deputies, test_settings
from tests.matrix_helpers import settle, wait_for

ROSTER = load_roster(SMALL_ROSTER)


@pytest.fixture(scope="module")
async def inst(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    settings = test_settings(tmp_path_factory.mktemp("announcements"), SMALL_ROSTER)
    running = await start(Kabinet(settings, ROSTER, features=default_features()))
    await settle(running.kabinet, ROSTER)
    yield running
    await running.stop()


@pytest.fixture
async def people(inst: Running) -> AsyncIterator[Deputies]:
    who = Deputies(inst.kabinet.settings.homeserver.client_url)
    yield who
    await who.close()


async def say(client: AsyncClient, room_id: str, text: str) -> str:
    resp = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text})
    assert isinstance(resp, RoomSendResponse), resp
    return resp.event_id


async def messages(client: AsyncClient, room_id: str) -> list[dict]:
    resp = await client.room_messages(room_id, start="", limit=100)
    assert isinstance(resp, RoomMessagesResponse), resp
    return [e.source for e in resp.chunk]


async def pinned(client: AsyncClient, room_id: str) -> list[str]:
    resp = await client.room_get_state_event(room_id, "m.room.pinned_events", "")
    return list(resp.content.get("pinned", [])) if isinstance(resp, RoomGetStateEventResponse) else []


async def test_the_secretariat_announces_pins_and_the_pin_expires(inst: Running, people: Deputies
                                                                 ) -> None:
    kabinet = inst.kabinet
    rooms = await registry.room_map(kabinet.store)
    board, staff_room = rooms[registry.announcements()], rooms[registry.secretariat()]
    clerk = await people.login("clerk", "test-clerk-1")
    deputy = await people.login("bondar", "test-deputy-1")

    command = await say(clerk, staff_room, "!announce pin 7d Прийом громадян перенесено на п'ятницю")

    async def posted() -> dict | None:
        return next((e for e in await messages(deputy, board) if domain.ANNOUNCEMENT_KEY in
                     e.get("content", {}) and "п'ятницю" in e["content"]["body"]), None)

    post = await wait_for(posted, timeout=60, interval=0.5, what="the announcement")
    assert post["sender"] == kabinet.hs.bot_mxid and "закріплено" in post["content"]["body"]
    await wait_for(lambda: pinned(deputy, board), timeout=60, interval=0.5, what="the pin")
    assert await pinned(deputy, board) == [post["event_id"]]

    async def replied(room_id: str, to: str) -> str | None:
        return next((e["content"]["body"] for e in await messages(clerk, room_id)
                     if e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == to),
                    None)

    assert "✅" in await wait_for(lambda: replied(staff_room, command), timeout=60, what="the reply")

    # A deputy's command (in their commission room) is refused: nothing more is posted.
    commission = rooms[registry.commission("budget")]
    refused = await say(deputy, commission, "!оголосити Не від секретаріату")
    assert "секретаріат" in await wait_for(lambda: replied(commission, refused), timeout=60,
                                           what="the refusal")
    assert not any("Не від секретаріату" in (e["content"].get("body") or "")
                   for e in await messages(deputy, board))

    # Expiry: the worker edits the message and unpins it.
    async with kabinet.store.session() as s:
        await s.execute(update(domain.Announcement).values(expires_at=utcnow() - timedelta(seconds=1)))
    kabinet.feature(Announcements).expiry.poke()

    async def edited() -> bool:
        return any(e["content"].get("m.relates_to", {}).get("event_id") == post["event_id"] and
                   "минув" in e["content"].get("m.new_content", {}).get("body", "")
                   for e in await messages(deputy, board))

    await wait_for(edited, timeout=60, interval=0.5, what="the expiry edit")
    await wait_for(lambda: _unpinned(deputy, board), timeout=60, interval=0.5, what="the unpin")


async def _unpinned(client: AsyncClient, room_id: str) -> bool:
    resp = await client.room_get_state_event(room_id, "m.room.pinned_events", "")
    return isinstance(resp, RoomGetStateEventResponse) and resp.content.get("pinned") == []
