"""Files dropped into sitting rooms on a real Synapse, by matrix-nio clients: a deputy's file is
not a draft, and its sender is told so in the file's thread (once, however often the homeserver
sends the event); the secretariat's files in a commission sitting's room take the sitting's
numbering scheme (К-1, К-2)."""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest
from mautrix.api import Method, Path
from sqlalchemy import func, select

from appservice.roster.desired import cabinet_name
from council import sittings as domain
from council.models import OutboxMessage
from kabinet.features.sittings_demo import draft_pdf
from tests.matrix_helpers import wait_for
from tests.test_sittings_matrix import _bot_reply, _drop, agenda_versions, joined, make_sitting, quiesce


@pytest.fixture(autouse=True)
async def _leave_it_quiet(settled):
    yield
    await quiesce(settled.kabinet)


async def _items(kabinet, sitting_id: int) -> list[tuple[str, str | None]]:
    async with kabinet.store.session() as s:
        rows = await s.scalars(select(domain.AgendaItem).where(domain.AgendaItem.sitting_id == sitting_id)
                               .order_by(domain.AgendaItem.position))
        return [(i.number, i.room_event_id) for i in rows]


async def _replies(kabinet, room_id: str, event_id: str) -> list[dict]:
    resp = await kabinet.hs.request(Method.GET, Path.v3.rooms[room_id].messages,
                                    query={"dir": "b", "limit": "100"})
    return [e for e in resp["chunk"] if e["sender"] == kabinet.hs.bot_mxid
            and e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id]


async def _send_again(running, raw: dict) -> None:
    """The homeserver sending an event again, in a transaction of its own."""
    kabinet = running.kabinet
    async with aiohttp.ClientSession() as http, http.put(
            f"{running.web_url}/as/_matrix/app/v1/transactions/again-{uuid.uuid4().hex}",
            data=json.dumps({"events": [raw]}).encode(),
            headers={"Authorization": f"Bearer {kabinet.registration.hs_token}",
                     "Content-Type": "application/json"}) as resp:
        assert resp.status == 200, await resp.text()


async def test_a_deputy_s_file_is_not_a_draft_and_they_are_told_where_documents_go_once(
        settled, people, demo_roster):
    kabinet = settled.kabinet
    sitting_id, room_id = await make_sitting(kabinet, f"Засідання з файлом депутата {uuid.uuid4().hex[:6]}")
    member = demo_roster.deputies[3]
    deputy = await people.login(member.id, member.password)
    await joined(deputy, room_id)

    data = draft_pdf("X", "Моя поправка", "Депутат", ["Текст поправки."])
    dropped = await _drop(deputy, room_id, data, "popravka.pdf", "popravka.pdf")
    kabinet.delivery.poke()
    reply = await wait_for(lambda: _bot_reply(kabinet, room_id, dropped), timeout=60,
                           what="the bot's answer in the file's thread")
    # A thread reply to the file, with the fallback reply for clients without threads.
    assert reply["content"]["m.relates_to"] == {
        "rel_type": "m.thread", "event_id": dropped, "is_falling_back": True,
        "m.in_reply_to": {"event_id": dropped}}
    body = reply["content"]["body"]
    assert body.startswith("ℹ️ Цей файл не додано до порядку денного: проєкти рішень у кімнаті "
                           "засідання публікує лише секретаріат."), body
    assert f"«{cabinet_name(member)}»" in body and cabinet_name(member).startswith("Кабінет — ")
    assert await _items(kabinet, sitting_id) == []

    # A file sent inside that thread: the answer stays in the thread and replies to it.
    second = (await deputy.room_send(room_id, "m.room.message", {
        "msgtype": "m.file", "body": "dodatok.pdf", "filename": "dodatok.pdf",
        "url": (await kabinet.hs.request(Method.GET, Path.v3.rooms[room_id].event[dropped]))
        ["content"]["url"], "info": {"mimetype": "application/pdf", "size": len(data)},
        "m.relates_to": {"rel_type": "m.thread", "event_id": dropped, "is_falling_back": True,
                         "m.in_reply_to": {"event_id": dropped}}})).event_id
    kabinet.delivery.poke()
    [in_thread] = await wait_for(lambda: _replies(kabinet, room_id, second), timeout=60,
                                 what="the answer to the file in the thread")
    assert in_thread["content"]["m.relates_to"] == {
        "rel_type": "m.thread", "event_id": dropped, "is_falling_back": False,
        "m.in_reply_to": {"event_id": second}}

    # The homeserver sends the first file again: it is not answered twice.
    raw = await kabinet.hs.request(Method.GET, Path.v3.rooms[room_id].event[dropped])
    await _send_again(settled, raw)
    await quiesce(kabinet)
    assert len(await _replies(kabinet, room_id, dropped)) == 1
    async with kabinet.store.session() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.key == f"reply:{dropped}")) == 1
    assert await _items(kabinet, sitting_id) == []


async def test_drafts_dropped_into_a_commission_sitting_room_are_numbered_k_1_then_k_2(
        settled, people, demo_roster):
    kabinet = settled.kabinet
    sitting_id, room_id = await make_sitting(kabinet, f"Засідання комісії {uuid.uuid4().hex[:6]}",
                                             kind="commission", body="budget")
    staff = demo_roster.secretariat[0]
    secretary = await people.login(staff.id, staff.password)
    await joined(secretary, room_id)

    dropped = []
    for title in ("Про звіт про виконання бюджету", "Про пропозиції до бюджету"):
        data = draft_pdf("К", title, "Секретаріат", ["Текст проєкту."])
        dropped.append(await _drop(secretary, room_id, data, "proekt.pdf", title))
    kabinet.delivery.poke()
    replies = [await wait_for(lambda e=e: _bot_reply(kabinet, room_id, e), timeout=60,
                              what="the bot's confirmation") for e in dropped]
    bodies = [r["content"]["body"] for r in replies]
    assert bodies[0].startswith("✅ Зареєстровано як проєкт рішення № К-1 «Про звіт про виконання "
                                "бюджету» (1 сторінка, "), bodies[0]
    assert "№ К-2 «Про пропозиції до бюджету»" in bodies[1], bodies[1]
    assert await _items(kabinet, sitting_id) == [("К-1", dropped[0]), ("К-2", dropped[1])]

    async def listed():
        _, edits = await agenda_versions(secretary, room_id)
        return edits and len(edits[-1]["content"]["m.new_content"]["ua.kabinet.agenda"]["items"]) == 2 \
            and edits[-1]["content"]["m.new_content"]
    agenda = await wait_for(listed, timeout=60, what="the agenda listing both")
    assert "1. № К-1 «Про звіт про виконання бюджету» — Секретаріат, версія 1" in agenda["body"]
    assert agenda["body"].startswith("📋 Порядок денний — Засідання комісії: ")
