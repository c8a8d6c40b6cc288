"""The directory on a real Synapse, with deputies logged in through matrix-nio as Element would:
`!who` finds a colleague by a transliterated name; `!dm` makes a direct chat that both see as
direct and a second `!dm` (by either of them) finds the same room; the lounge's pinned directory
is edited once when a deputy's faction changes and not at all on an unchanged re-apply. One
installation for the module; the tests wait on real events and on the store, never on a sleep."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import yaml
from mautrix.api import Method
from mautrix.api import Path as MxPath
from nio import AsyncClient, RoomSendResponse
from sqlalchemy import func, select

from council import directory, outbox
from council import rooms as registry
from council.roster import parse_roster
from kabinet.features import default_features
from kabinet.features.directory import Directory
from kabinet.wiring import Kabinet, Running, start
from tests.conftest import Deputies, test_settings
from tests.matrix_helpers import settle, wait_for

ROSTER_DATA: dict[str, Any] = {
    "council": {"name": "Тестова рада довідника"},
    "bodies": [{"id": "council", "kind": "council", "name": "Тестова рада довідника"}],
    "deputies": [
        {"id": "tkachuk", "name": "Ткачук Олег Васильович", "faction": "Громада міста",
         "district": 1, "password": "directory-1"},
        {"id": "melnyk-o", "name": "Мельник Оксана Богданівна", "faction": "Рух за розвиток",
         "district": 2, "password": "directory-2"},
        {"id": "melnyk-i", "name": "Мельник Ігор Степанович", "faction": "Рух за розвиток",
         "district": 3, "password": "directory-3"},
    ],
    "secretariat": [{"id": "clerk", "name": "Секретаренко Ольга", "password": "directory-clerk"}],
}
ROSTER = parse_roster(ROSTER_DATA)
PASSWORDS = {d["id"]: d["password"] for d in ROSTER_DATA["deputies"]}
LINK = re.compile(r"https://matrix\.to/#/(![^\s]+)")


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    base = tmp_path_factory.mktemp("directory")
    roster_path = base / "roster.yaml"
    roster_path.write_text(yaml.safe_dump(ROSTER_DATA, allow_unicode=True), encoding="utf-8")
    features = default_features()
    run = await start(Kabinet(test_settings(base / "data", roster_path), ROSTER, features=features))
    await settle(run.kabinet, ROSTER)
    yield run
    await run.stop()


@pytest.fixture(scope="module")
async def people(running: Running) -> AsyncIterator[dict[str, AsyncClient]]:
    who = Deputies(running.kabinet.settings.homeserver.client_url)
    yield {pid: await who.login(pid, pw) for pid, pw in PASSWORDS.items()}
    await who.close()


@pytest.fixture(scope="module")
async def lounge(running: Running) -> str:
    found = await registry.room_id(running.kabinet.store, registry.lounge())
    assert found is not None
    return found


def feature(running: Running) -> Directory:
    return running.kabinet.feature(Directory)


async def timeline(running: Running, room_id: str) -> list[dict[str, Any]]:
    resp = await running.kabinet.hs.request(Method.GET, MxPath.v3.rooms[room_id].messages,
                                            query={"dir": "b", "limit": "200"})
    return list(reversed(resp["chunk"]))


async def command(running: Running, client: AsyncClient, room_id: str, text: str) -> str:
    """Send a command as the person would and return the body of the bot's reply to it."""
    resp = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text})
    assert isinstance(resp, RoomSendResponse), resp

    async def reply() -> str | None:
        return next((e["content"]["body"] for e in await timeline(running, room_id)
                     if e["sender"] == running.kabinet.hs.bot_mxid and e["content"].get(
                         "m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                     == resp.event_id), None)
    return str(await wait_for(reply, timeout=60, what=f"the bot's reply to {text!r}"))


async def m_direct(running: Running, client: AsyncClient) -> dict[str, list[str]]:
    url = (f"{running.kabinet.settings.homeserver.client_url}/_matrix/client/v3/user/"
           f"{quote(client.user_id)}/account_data/m.direct")
    async with aiohttp.ClientSession() as http, http.get(
            url, headers={"Authorization": f"Bearer {client.access_token}"}) as resp:
        return dict(await resp.json()) if resp.status == 200 else {}


async def memberships(running: Running, room_id: str) -> dict[str, dict[str, Any]]:
    """Current m.room.member contents by user (a join replaces the invite's `is_direct`)."""
    state = await running.kabinet.hs.room_state(room_id)
    return {e["state_key"]: e["content"] for e in state if e["type"] == "m.room.member"}


async def test_who_finds_a_colleague_by_a_transliterated_name(running, people, lounge):
    said = await command(running, people["melnyk-o"], lounge, "!who Tkachuk")
    assert "Ткачук Олег Васильович" in said and "https://matrix.to/#/@tkachuk:localhost" in said
    assert "Громада міста" in said and "округ № 1" in said
    said = await command(running, people["tkachuk"], lounge, "!хто мельник")
    assert "Мельник Оксана Богданівна" in said and "Мельник Ігор Степанович" in said
    help_text = await command(running, people["tkachuk"], lounge, "!допомога")
    assert "!хто" in help_text and "!написати" in help_text and "/ find colleagues" not in help_text


async def test_dm_makes_a_direct_chat_both_see_as_direct_and_a_second_dm_reuses_it(
        running, people, lounge):
    said = await command(running, people["melnyk-o"], lounge, "!dm Ткачук")
    found = LINK.search(said)
    assert found is not None and said.startswith("✅"), said
    room_id = found[1]
    oksana, oleh = "@melnyk-o:localhost", "@tkachuk:localhost"
    bot = running.kabinet.hs.bot_mxid

    async def both_joined() -> bool:
        members = await memberships(running, room_id)
        return all(members.get(u, {}).get("membership") == "join" for u in (oksana, oleh))
    await wait_for(both_joined, timeout=60, what="both people joined the direct chat")
    # The invites carried is_direct; auto_accept_invites then wrote m.direct for each person,
    # keyed by the inviter: the bot (the appservice may not act as either person).
    invites = {e["state_key"]: e for e in await timeline(running, room_id)
               if e["type"] == "m.room.member" and e["content"].get("membership") == "invite"}
    assert {u: invites[u]["content"].get("is_direct") for u in (oksana, oleh)} == {
        oksana: True, oleh: True}
    assert invites[oksana]["sender"] == invites[oleh]["sender"] == bot
    for client in (people["melnyk-o"], people["tkachuk"]):
        async def listed(client: AsyncClient = client) -> bool:
            return room_id in (await m_direct(running, client)).get(bot, [])
        await wait_for(listed, timeout=60, what=f"the chat in {client.user_id}'s m.direct")

    again = await command(running, people["tkachuk"], lounge, "!написати Мельник Оксана")
    assert again.startswith("💬") and LINK.search(again)[1] == room_id  # type: ignore[index]
    async with running.kabinet.store.session() as s:
        assert await s.scalar(select(func.count()).select_from(directory.DirectChat)) == 1

    left = await people["tkachuk"].room_leave(room_id)
    assert not hasattr(left, "status_code"), left
    fresh = await command(running, people["melnyk-o"], lounge, "!dm tkachuk")
    assert fresh.startswith("✅") and LINK.search(fresh)[1] != room_id  # type: ignore[index]


async def test_dm_refuses_oneself_and_lists_an_ambiguous_name(running, people, lounge):
    assert (await command(running, people["tkachuk"], lounge, "!dm Ткачук")).startswith("❌")
    said = await command(running, people["tkachuk"], lounge, "!dm Мельник")
    assert said.startswith("❓") and "!написати melnyk-o" in said and "!написати melnyk-i" in said
    nobody = await command(running, people["tkachuk"], lounge, "!dm Шевченко")
    assert nobody.startswith("❌") and "Нікого не знайдено" in nobody


async def edits_of(running: Running, room_id: str, original: str) -> list[dict[str, Any]]:
    return [e for e in await timeline(running, room_id)
            if e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
            and e["content"]["m.relates_to"].get("event_id") == original]


async def a_round(running: Running) -> None:
    """Wake the pinned directory's worker and wait until a round that began after this call is
    over (twice: the first round may have been under way already, with the old roster)."""
    pinned = feature(running).pinned
    for _ in range(2):
        before = pinned.rounds
        pinned.poke()
        await wait_for(lambda before=before: pinned.rounds > before, timeout=30,
                       what="a directory round")


async def test_the_pinned_directory_is_edited_once_per_roster_change_and_never_without(
        running, lounge):
    store = running.kabinet.store

    async def posted() -> str | None:
        return await outbox.sent_event_id(store, directory.post_key(registry.lounge()))
    post = await wait_for(posted, timeout=60, what="the directory posted in the lounge")

    async def pinned() -> bool:
        state = await running.kabinet.hs.room_state(lounge)
        return any(e["type"] == "m.room.pinned_events" and e["content"].get("pinned") == [post]
                   for e in state)
    await wait_for(pinned, timeout=60, what="the directory pinned")
    original = next(e for e in await timeline(running, lounge) if e["event_id"] == post)
    assert "Фракція «Рух за розвиток» (2)" in original["content"]["body"]

    changed = copy.deepcopy(ROSTER_DATA)
    changed["deputies"][2]["faction"] = "Громада міста"
    await running.kabinet.apply_roster(parse_roster(changed))
    await a_round(running)

    async def edited() -> list[dict[str, Any]]:
        return await edits_of(running, lounge, post)
    [edit] = await wait_for(edited, timeout=60, what="the directory edited")
    assert "Фракція «Громада міста» (2)" in edit["content"]["m.new_content"]["body"]

    versions = list(feature(running).pinned.versions)
    await running.kabinet.apply_roster(parse_roster(changed))  # the same again
    await a_round(running)
    assert feature(running).pinned.versions == versions
    assert (await outbox.counts(store)).get("pending", 0) == 0
    assert len(await edits_of(running, lounge, post)) == 1
    await running.kabinet.apply_roster(ROSTER)  # leave the module's roster as it was
