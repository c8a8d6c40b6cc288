"""Private notes on a real Synapse: a deputy writes in their notes room from matrix-nio, as
Element would (a message, a reply to a forwarded draft, `!note`, an edit, a redaction), and the
cabinet's notes appear there, edited and deleted in place. One installation for the module; the
tests wait on real events and on the store, never on a fixed sleep."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
import yaml
from mautrix.api import Method
from mautrix.api import Path as MxPath
from nio import AsyncClient, RoomRedactResponse, RoomSendResponse

from council import accounts, notes, sittings
from council import rooms as registry
from council.roster import parse_roster
from council.sittings.agenda import DRAFT_KEY
from kabinet.features import default_features
from kabinet.features.notes import Notes
from kabinet.features.sittings import context as sittings_context
from kabinet.features.sittings_demo import draft_pdf
from kabinet.secrets import ensure_secrets
from kabinet.wiring import Kabinet, Running, start
from tests.conftest import Deputies, test_settings
from tests.matrix_helpers import settle, wait_for
from web.accounts import session_csrf

ROSTER_DATA: dict[str, Any] = {
    "council": {"name": "Тестова рада заміток"},
    "bodies": [{"id": "council", "kind": "council", "name": "Тестова рада заміток"}],
    "deputies": [{"id": "orlenko", "name": "Орленко Олена", "password": "notes-test-1"},
                 {"id": "petrenko", "name": "Петренко Павло", "password": "notes-test-2"}],
    "secretariat": [{"id": "clerk", "name": "Секретаренко Ольга", "password": "notes-clerk-1"}],
}
ROSTER = parse_roster(ROSTER_DATA)
ME, OTHER = "orlenko", "petrenko"


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    base = tmp_path_factory.mktemp("notes")
    roster_path = base / "roster.yaml"
    roster_path.write_text(yaml.safe_dump(ROSTER_DATA, allow_unicode=True), encoding="utf-8")
    features = default_features()
    if not any(isinstance(f, Notes) for f in features):  # until default_features() lists it
        features.append(Notes())
    kabinet = Kabinet(test_settings(base / "data", roster_path), ROSTER, features=features)
    run = await start(kabinet)
    await settle(run.kabinet, ROSTER)
    yield run
    await run.stop()


@pytest.fixture(scope="module")
async def me(running: Running) -> AsyncIterator[AsyncClient]:
    who = Deputies(running.kabinet.settings.homeserver.client_url)
    yield await who.login(ME, "notes-test-1")
    await who.close()


@pytest.fixture(scope="module")
async def room(running: Running) -> str:
    found = await registry.room_id(running.kabinet.store, registry.notes(ME))
    assert found is not None
    return found


async def timeline(running: Running, room_id: str) -> list[dict[str, Any]]:
    resp = await running.kabinet.hs.request(Method.GET, MxPath.v3.rooms[room_id].messages,
                                            query={"dir": "b", "limit": "100"})
    return list(reversed(resp["chunk"]))


async def event_in(running: Running, room_id: str, match: Callable[[dict[str, Any]], bool],
                   what: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        return next((e for e in await timeline(running, room_id) if match(e)), None)
    return await wait_for(found, timeout=60, what=what)


async def send(client: AsyncClient, room_id: str, content: dict[str, Any]) -> str:
    resp = await client.room_send(room_id, "m.room.message", content)
    assert isinstance(resp, RoomSendResponse), resp
    return resp.event_id


async def my_notes(running: Running) -> list[notes.NoteView]:
    async with running.kabinet.store.session() as s:
        return await notes.for_author(s, f"@{ME}:localhost")


async def note_saying(running: Running, text: str) -> notes.NoteView:
    async def found() -> notes.NoteView | None:
        return next((n for n in await my_notes(running) if n.body == text), None)
    return await wait_for(found, timeout=60, what=f"the note {text!r}")


async def new_draft(running: Running) -> tuple[int, int, str]:
    """A sitting with one draft: (sitting id, agenda item id, the sitting room)."""
    kabinet = running.kabinet
    ctx = sittings_context(kabinet)
    async with kabinet.store.session() as s:
        sitting, _ = await sittings.create_sitting(s, ctx, sittings.NewSitting(
            kind="plenary", title=f"Сесія {uuid.uuid4().hex[:6]}", place="Зала",
            starts_at=datetime.now(ctx.tz) + timedelta(days=21)))
        item = await sittings.add_draft(s, ctx, sitting.id, sittings.NewDraft(
            number="1", title="Про бюджет громади", initiator="Секретаріат"),
            sittings.prepare_file(ctx, draft_pdf("1", "Про бюджет", "Секретаріат", ["Текст."]),
                                  "draft-1.pdf"), source="cli")
        sitting_id, item_id = sitting.id, item.id
    kabinet.delivery.poke()

    async def room() -> str | None:
        return (await registry.room_map(kabinet.store)).get(registry.sitting(sitting_id))
    return sitting_id, item_id, await wait_for(room, timeout=60, what="the sitting room")


async def test_a_message_in_my_notes_room_is_a_note_and_edits_and_redactions_follow(
        running: Running, me: AsyncClient, room: str):
    first = await send(me, room, {"msgtype": "m.text", "body": "Подзвонити в ЖЕК"})
    note = await note_saying(running, "Подзвонити в ЖЕК")
    assert (note.subject, note.origin) == (None, "matrix")
    await send(me, room, {"msgtype": "m.text", "body": "* Подзвонити в ЖЕК у понеділок",
                          "m.new_content": {"msgtype": "m.text", "body": "Подзвонити в ЖЕК у понеділок"},
                          "m.relates_to": {"rel_type": "m.replace", "event_id": first}})
    edited = await note_saying(running, "Подзвонити в ЖЕК у понеділок")
    assert edited.id == note.id and edited.edited_at is not None
    resp = await me.room_redact(room, first, reason="не треба")
    assert isinstance(resp, RoomRedactResponse), resp

    async def gone() -> bool:
        return note.id not in {n.id for n in await my_notes(running)}
    await wait_for(gone, timeout=60, what="the redacted note deleted")


async def test_a_reply_to_a_forwarded_draft_and_the_note_command_file_notes_under_it(
        running: Running, me: AsyncClient, room: str):
    sitting_id, item_id, sitting_room = await new_draft(running)
    draft = await event_in(running, sitting_room, lambda e: DRAFT_KEY in e["content"], "the draft")
    forwarded = await send(me, room, dict(draft["content"]))  # what Element's Forward sends
    await send(me, room, {"msgtype": "m.text", "body": "Запитати про кошторис",
                          "m.relates_to": {"m.in_reply_to": {"event_id": forwarded}}})
    filed = await note_saying(running, "Запитати про кошторис")
    assert filed.subject == f"draft:{item_id}"
    assert all(n.body != draft["content"]["body"] for n in await my_notes(running))  # no note

    command = await send(me, room, {"msgtype": "m.text", "body": f"!note {sitting_id}/1 Голосувати за"})
    assert (await note_saying(running, "Голосувати за")).subject == f"draft:{item_id}"
    reply = await event_in(running, room, lambda e: e["content"].get("m.relates_to", {})
                           .get("m.in_reply_to", {}).get("event_id") == command, "the reply")
    assert reply["content"]["body"].startswith("✅") and "Про бюджет громади" in reply["content"]["body"]

    count = len(await my_notes(running))
    unknown = await send(me, room, {"msgtype": "m.text", "body": "!нотатка 424242/1 Нікуди"})
    refusal = await event_in(running, room, lambda e: e["content"].get("m.relates_to", {})
                             .get("m.in_reply_to", {}).get("event_id") == unknown, "the refusal")
    assert "не знайдено" in refusal["content"]["body"]
    assert len(await my_notes(running)) == count


async def test_someone_elses_message_in_my_notes_room_is_ignored(running: Running, room: str):
    # Only the owner and the bot are members; an event from anyone else is handed over as the
    # homeserver would, and must not become a note of anyone.
    kabinet = running.kabinet
    raw = {"type": "m.room.message", "room_id": room, "sender": f"@{OTHER}:localhost",
           "event_id": f"$foreign{uuid.uuid4().hex}", "origin_server_ts": 1,
           "content": {"msgtype": "m.text", "body": "Чужа замітка"}}
    await kabinet.transactions._handle(raw)
    async with kabinet.store.session() as s:
        assert await notes.for_author(s, f"@{OTHER}:localhost") == []
    assert all(n.body != "Чужа замітка" for n in await my_notes(running))


async def _web(running: Running) -> tuple[str, dict[str, str]]:
    kabinet = running.kabinet
    async with kabinet.store.session() as s:
        token = await accounts.start_session(s, f"@{ME}:localhost", "test")
    secret = ensure_secrets(kabinet.settings.data_dir)["session_secret"]
    return (f"http://127.0.0.1:{kabinet.settings.web.port}",
            {"Cookie": f"kb_session={token}", "X-CSRF-Token": session_csrf(secret, token),
             "Content-Type": "application/json"})


async def _api(method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    async with aiohttp.ClientSession() as http, http.request(
            method, url, headers=headers, data=json.dumps(body) if body else None) as resp:
        assert resp.status < 300, (resp.status, await resp.text())
        return await resp.json() if resp.status != 204 else None


def _redacted(e: dict[str, Any]) -> bool:
    return "redacted_because" in e.get("unsigned", {})


async def test_a_web_note_appears_in_my_notes_room_and_its_edit_and_delete_follow(
        running: Running, room: str):
    base, headers = await _web(running)
    made = await _api("POST", f"{base}/api/v1/notes", headers, {"body": "З кабінету на сайті"})
    posted = await event_in(running, room, lambda e: e["content"].get(notes.NOTE_KEY, {})
                            .get("id") == made["id"], "the web note in the room")
    assert posted["sender"] == running.kabinet.hs.bot_mxid
    assert "З кабінету на сайті" in posted["content"]["body"]
    await _api("PATCH", f"{base}/api/v1/notes/{made['id']}", headers, {"body": "Змінено на сайті"})
    edit = await event_in(running, room, lambda e: e["content"].get("m.relates_to", {})
                          .get("event_id") == posted["event_id"], "the bot's m.replace")
    assert edit["content"]["m.relates_to"]["rel_type"] == "m.replace"
    assert "Змінено на сайті" in edit["content"]["m.new_content"]["body"]
    await _api("DELETE", f"{base}/api/v1/notes/{made['id']}", headers)
    await event_in(running, room, lambda e: e["event_id"] == posted["event_id"] and _redacted(e),
                   "the web note redacted")


async def test_an_element_note_edited_on_the_web_is_reposted_by_the_bot(
        running: Running, me: AsyncClient, room: str):
    mine = await send(me, room, {"msgtype": "m.text", "body": "Написано в Element"})
    note = await note_saying(running, "Написано в Element")
    base, headers = await _web(running)
    await _api("PATCH", f"{base}/api/v1/notes/{note.id}", headers, {"body": "Виправлено на сайті"})
    await event_in(running, room, lambda e: e["event_id"] == mine and _redacted(e),
                   "my original redacted by the bot")
    await event_in(running, room, lambda e: e["content"].get(notes.NOTE_KEY, {}).get("id") == note.id
                   and "Виправлено на сайті" in e["content"].get("body", ""), "the bot's new copy")
    assert (await note_saying(running, "Виправлено на сайті")).id == note.id


async def test_delivery_redacts_with_the_redact_api_in_any_room_version(running: Running):
    # Room version 10 keeps `redacts` outside the content: a redaction must go through the
    # redact API there (sending an m.room.redaction event would redact nothing).
    from council import outbox
    from council.notes import messages

    kabinet = running.kabinet
    room_id = str(await kabinet.hs.bot.create_room(name="Версія 10", room_version="10"))
    key = f"test:redact:{uuid.uuid4().hex}"
    async with kabinet.store.session() as s:
        await outbox.enqueue(s, key, room_id, "m.room.message", {"msgtype": "m.text", "body": "Геть"})
        await outbox.enqueue(s, key + ":redaction", room_id, messages.REDACTION,
                             messages.redaction(outbox.EVENT_REF + key, messages.DELETED_REASON))
    kabinet.delivery.poke()

    async def sent() -> str | None:
        return await outbox.sent_event_id(kabinet.store, key + ":redaction")
    await wait_for(sent, timeout=60, what="the redaction delivered")
    target = await outbox.sent_event_id(kabinet.store, key)
    gone = await event_in(running, room_id, lambda e: e["event_id"] == target, "the message")
    assert _redacted(gone) and "body" not in gone["content"]
