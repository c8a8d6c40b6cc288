"""Paperless sittings on a real Synapse, with deputies and the secretariat as matrix-nio clients."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from datetime import datetime, timedelta

import aiohttp
import pytest
from mautrix.api import Method, Path
from nio import (
    AsyncClient,
    JoinedMembersResponse,
    RoomGetEventResponse,
    RoomGetStateEventResponse,
    UploadResponse,
)
from sqlalchemy import select

from council import outbox
from council import rooms as registry
from council import sittings as domain
from kabinet.features.sittings import Sittings
from kabinet.features.sittings import context as sittings_context
from kabinet.features.sittings_demo import draft_pdf
from tests.matrix_helpers import next_events, wait_for


async def quiesce(kabinet, quiet: float = 3.0, limit: float = 120.0) -> None:
    """Let what a test started settle before the next test (the demo is shared, and some tests
    count appservice events): every sitting has its room, the outbox is drained, and the
    appservice endpoint has had no event for `quiet` seconds. Gives up after `limit` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    kabinet.feature(Sittings).rooms.poke()
    kabinet.delivery.poke()
    while loop.time() < deadline:
        before = kabinet.transactions.events_handled
        await asyncio.sleep(quiet)
        async with kabinet.store.session() as s:
            sittings = {str(x.id) for x in await domain.list_sittings(s)}
        rooms = await registry.rooms_by_kind(kabinet.store, "sitting")
        pending = (await outbox.counts(kabinet.store)).get("pending", 0)
        if kabinet.transactions.events_handled == before and sittings <= set(rooms) and not pending:
            return


@pytest.fixture(autouse=True)
async def _leave_it_quiet(settled):
    yield
    await quiesce(settled.kabinet)


async def make_sitting(kabinet, title: str, *, kind: str = "plenary", body: str | None = None
                       ) -> tuple[int, str]:
    """A sitting three weeks ahead and its room (created by the appservice worker)."""
    ctx = sittings_context(kabinet)
    spec = domain.NewSitting(kind=kind, body=body, title=title, place="Сесійна зала",
                             starts_at=datetime.now(ctx.tz) + timedelta(days=21))
    async with kabinet.store.session() as s:
        sitting, _ = await domain.create_sitting(s, ctx, spec)
    kabinet.feature(Sittings).rooms.poke()

    async def room() -> str | None:
        return (await registry.room_map(kabinet.store)).get(f"sitting:{sitting.id}")

    return sitting.id, await wait_for(room, timeout=30, what="the sitting room")


async def add(kabinet, sitting_id: int, number: str, data: bytes, commission: str | None = None
              ) -> domain.AgendaItem:
    ctx = sittings_context(kabinet)
    async with kabinet.store.session() as s:
        item = await domain.add_draft(
            s, ctx, sitting_id, domain.NewDraft(number=number, title=f"Про тестове питання {number}",
                                                initiator="Секретаріат", commission=commission),
            domain.prepare_file(ctx, data, f"draft-{number}.pdf"), source="cli")
    kabinet.delivery.poke()
    return item


async def joined(client: AsyncClient, room_id: str) -> None:
    """Until auto_accept_invites has joined the client (read as the client: members it sees)."""
    async def ok() -> bool:
        resp = await client.joined_members(room_id)
        return isinstance(resp, JoinedMembersResponse) and \
            client.user_id in {m.user_id for m in resp.members}
    await wait_for(ok, timeout=60, what=f"{client.user_id} in {room_id}")


async def download(client: AsyncClient, hs_url: str, mxc: str) -> bytes:
    server, media_id = mxc.removeprefix("mxc://").split("/")
    async with aiohttp.ClientSession() as http, http.get(
            f"{hs_url}/_matrix/client/v1/media/download/{server}/{media_id}",
            headers={"Authorization": f"Bearer {client.access_token}"}) as resp:
        assert resp.status == 200
        return await resp.read()


async def agenda_versions(client: AsyncClient, room_id: str) -> tuple[str, list[dict]]:
    """The pinned agenda's event id and its edits (newest last), as a client reads them."""
    pinned = await client.room_get_state_event(room_id, "m.room.pinned_events", "")
    assert isinstance(pinned, RoomGetStateEventResponse), pinned
    [agenda_id] = pinned.content["pinned"]
    original = await client.room_get_event(room_id, agenda_id)
    assert isinstance(original, RoomGetEventResponse)
    assert "ua.kabinet.agenda" in original.event.source["content"]
    resp = await client.room_messages(room_id, start="", limit=200)  # newest first
    edits = [e.source for e in reversed(resp.chunk)
             if e.source["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
             and e.source["content"]["m.relates_to"]["event_id"] == agenda_id]
    return agenda_id, edits


async def test_a_deputy_receives_the_draft_pinned_agenda_and_revision(settled, people, demo_roster):
    kabinet = settled.kabinet
    run = uuid.uuid4().hex[:6]
    sitting_id, room_id = await make_sitting(kabinet, f"Тестова сесія {run}")
    budget_member = next(d for d in demo_roster.deputies if "budget" in d.commissions)
    deputy = await people.login(budget_member.id, budget_member.password)
    await joined(deputy, room_id)

    data = draft_pdf("7", "Про тестове питання 7", "Секретаріат", ["Текст проєкту. " * 40])
    item = await add(kabinet, sitting_id, "7", data, commission="budget")

    [event] = await next_events(deputy, room_id, lambda e: e["content"].get(
        "ua.kabinet.draft", {}).get("id") == item.id, timeout=60)
    content = event["content"]
    assert content["msgtype"] == "m.file"
    assert content["ua.kabinet.draft"] == {"id": item.id, "number": "7", "version": 1,
                                           "sitting": sitting_id,
                                           "sha256": hashlib.sha256(data).hexdigest()}
    assert await download(deputy, kabinet.hs.url, content["url"]) == data

    async def agenda_lists(text: str):
        _, edits = await agenda_versions(deputy, room_id)
        return edits and text in edits[-1]["content"]["m.new_content"]["body"] and edits[-1]

    latest = await wait_for(lambda: agenda_lists("№ 7 «Про тестове питання 7»"), timeout=60,
                            what="the agenda edit listing draft 7")
    new = latest["content"]["m.new_content"]["ua.kabinet.agenda"]
    assert [i["event_id"] for i in new["items"]] == [event["event_id"]]

    # The responsible commission's room got it too, once.
    commission_room = (await registry.room_map(kabinet.store))["commission:budget"]
    resp = await kabinet.hs.request(Method.GET, Path.v3.rooms[commission_room].messages,
                                    query={"dir": "b", "limit": "100"})
    copies = [e for e in resp["chunk"] if e["content"].get("ua.kabinet.draft", {}).get("id") == item.id]
    assert len(copies) == 1

    revised = draft_pdf("7", "Про тестове питання 7", "Секретаріат", ["Нова редакція. " * 60])
    ctx = sittings_context(kabinet)
    async with kabinet.store.session() as s:
        await domain.revise_draft(s, ctx, sitting_id, "7", domain.prepare_file(ctx, revised, "v2.pdf"),
                                  source="cli")
    kabinet.delivery.poke()
    [reply] = await next_events(deputy, room_id, lambda e: e["content"].get(
        "ua.kabinet.draft", {}).get("version") == 2, timeout=60)
    relation = reply["content"]["m.relates_to"]
    assert relation["rel_type"] == "m.thread" and relation["event_id"] == event["event_id"]
    assert await download(deputy, kabinet.hs.url, reply["content"]["url"]) == revised
    v2 = "№ 7 «Про тестове питання 7» — Секретаріат, версія 2"
    latest = await wait_for(lambda: agenda_lists(v2), timeout=60,
                            what="the agenda edit showing version 2")
    assert latest["content"]["m.new_content"]["ua.kabinet.agenda"]["items"][0]["event_id"] \
        == reply["event_id"]


async def _drop(client: AsyncClient, room_id: str, data: bytes, name: str, caption: str) -> str:
    up, _ = await client.upload(io.BytesIO(data), content_type="application/pdf", filename=name,
                                filesize=len(data))
    assert isinstance(up, UploadResponse), up
    resp = await client.room_send(room_id, "m.room.message", {
        "msgtype": "m.file", "body": caption, "filename": name, "url": up.content_uri,
        "info": {"mimetype": "application/pdf", "size": len(data)}})
    return resp.event_id


async def _bot_reply(kabinet, room_id: str, event_id: str) -> dict | None:
    resp = await kabinet.hs.request(Method.GET, Path.v3.rooms[room_id].messages,
                                    query={"dir": "b", "limit": "50"})
    return next((e for e in resp["chunk"] if e["sender"] == kabinet.hs.bot_mxid and e["content"]
                 .get("m.relates_to", {}).get("event_id") == event_id), None)


async def test_a_file_dropped_by_the_secretariat_becomes_a_draft_one_by_a_deputy_does_not(
        settled, people, demo_roster):
    kabinet = settled.kabinet
    run = uuid.uuid4().hex[:6]
    sitting_id, room_id = await make_sitting(kabinet, f"Засідання з файлами {run}")
    staff = demo_roster.secretariat[1]
    deputy_p = demo_roster.deputies[2]
    secretary = await people.login(staff.id, staff.password)
    deputy = await people.login(deputy_p.id, deputy_p.password)
    await joined(secretary, room_id)
    await joined(deputy, room_id)

    deputy_file = draft_pdf("X", "Мої нотатки", "Депутат", ["Нотатки депутата."])
    deputy_event = await _drop(deputy, room_id, deputy_file, "notatky.pdf", "notatky.pdf")
    staff_file = draft_pdf("1", "Про благоустрій парку", "Секретаріат", ["Текст проєкту."])
    staff_event = await _drop(secretary, room_id, staff_file, "park.pdf", "Про благоустрій парку")

    kabinet.delivery.poke()
    reply = await wait_for(lambda: _bot_reply(kabinet, room_id, staff_event), timeout=60,
                           what="the bot's confirmation in the thread")
    assert reply["content"]["m.relates_to"]["rel_type"] == "m.thread"
    assert reply["content"]["body"].startswith("✅ Зареєстровано як проєкт рішення № 1 «Про благоустрій "
                                               "парку» (1 сторінка, ")
    async with kabinet.store.session() as s:
        items = (await s.scalars(select(domain.AgendaItem)
                                 .where(domain.AgendaItem.sitting_id == sitting_id))).all()
        [version] = (await s.scalars(select(domain.DraftVersion)
                                     .where(domain.DraftVersion.item_id == items[0].id))).all()
    # Events are handled in order: the deputy's file came first and is no draft (its sender is
    # told so in its thread: tests/test_sittings_drops.py).
    assert [(i.number, i.title, i.room_event_id) for i in items] == [
        ("1", "Про благоустрій парку", staff_event)]
    assert kabinet.blobs.read(version.sha256) == staff_file
    told = await wait_for(lambda: _bot_reply(kabinet, room_id, deputy_event), timeout=60,
                          what="the answer to the deputy's file")
    assert told["content"]["body"].startswith("ℹ️ Цей файл не додано до порядку денного")
    # The agenda follows, pointing at the dropped event itself.
    async def listed():
        _, edits = await agenda_versions(deputy, room_id)
        return edits and edits[-1]["content"]["m.new_content"]["ua.kabinet.agenda"]["items"]
    [entry] = await wait_for(listed, timeout=60, what="the agenda edit")
    assert entry["event_id"] == staff_event


async def test_a_file_that_is_not_a_document_gets_a_refusal_in_the_thread(settled, people,
                                                                          demo_roster):
    kabinet = settled.kabinet
    sitting_id, room_id = await make_sitting(kabinet, f"Засідання {uuid.uuid4().hex[:6]}")
    staff = demo_roster.secretariat[0]
    secretary = await people.login(staff.id, staff.password)
    await joined(secretary, room_id)
    event_id = await _drop(secretary, room_id, b"MZ\x90\x00 not a pdf at all", "virus.pdf", "virus.pdf")
    kabinet.delivery.poke()
    reply = await wait_for(lambda: _bot_reply(kabinet, room_id, event_id), timeout=60,
                           what="the refusal")
    assert reply["content"]["body"] == ("❌ Файл не зареєстровано: непідтримуваний тип файлу (за "
                                        "вмістом); дозволено PDF, DOCX, ODT")
    async with kabinet.store.session() as s:
        assert (await s.scalars(select(domain.AgendaItem)
                                .where(domain.AgendaItem.sitting_id == sitting_id))).all() == []
    assert await outbox.sent_event_id(kabinet.store, f"reply:{event_id}") == reply["event_id"]
