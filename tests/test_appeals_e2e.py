"""Appeals end to end on a real Synapse: API → appeal room → deputy (nio) → !answer → citizen.

Runs its own small installation (tests/data/small-roster.yaml) with a real SMTP server
(aiosmtpd) as the council's mail server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from nio import AsyncClient, RoomMessagesResponse

from council.roster import load_roster
from kabinet.wiring import Running
from tests.appeals_support import (
    PDF,
    PNG,
    Mailbox,
    appeal_fields,
    appeal_id,
    form,
    mail_settings,
    room_of,
    timeline,
)
from tests.conftest import SMALL_ROSTER, Deputies, start_installation
from tests.matrix_helpers import hierarchy, members, settle, wait_for

ROSTER = load_roster(SMALL_ROSTER)
PASSWORDS = {p.id: p.password for p in (*ROSTER.deputies, *ROSTER.secretariat)}


@pytest.fixture(scope="module")
def mailbox() -> AsyncIterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
async def inst(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> AsyncIterator[Running]:
    running = await start_installation(tmp_path_factory.mktemp("appeals"), SMALL_ROSTER,
                                       **mail_settings(mailbox),
                                       **{"appeals.rate_limit_requests": 1000})
    await settle(running.kabinet, ROSTER)
    yield running
    await running.stop()


@pytest.fixture
async def people(inst: Running) -> AsyncIterator[Deputies]:
    who = Deputies(inst.kabinet.settings.homeserver.client_url)
    yield who
    await who.close()


async def submit(inst: Running, fields: dict, files=()) -> dict:
    async with aiohttp.ClientSession() as http, http.post(
            f"{inst.web_url}/api/v1/appeals", data=form(fields, files)) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        return body


async def api_status(inst: Running, token: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(
            f"{inst.web_url}/api/v1/appeals/{token}") as resp:
        assert resp.status == 200
        return await resp.json()


async def joined(client: AsyncClient, room_id: str) -> bool:
    return room_id in (await client.joined_rooms()).rooms


async def say(client: AsyncClient, room_id: str, body: str, **extra) -> str:
    resp = await client.room_send(room_id, "m.room.message",
                                  {"msgtype": "m.text", "body": body, **extra})
    return resp.event_id


async def bot_reply_to(inst: Running, room_id: str, event_id: str, timeout: float = 30) -> str:
    """The body of the bot's notice replying to (or following) a command."""
    bot = inst.kabinet.hs.bot_mxid

    async def found() -> str | None:
        for e in await timeline(inst.kabinet, room_id):
            rel = e["content"].get("m.relates_to", {}).get("m.in_reply_to", {})
            if e["sender"] == bot and rel.get("event_id") == event_id:
                return e["content"]["body"]
        return None
    return await wait_for(found, timeout=timeout, what="the bot's reply")


async def test_an_appeal_through_the_api_reaches_the_deputy_with_its_text_and_files(inst, people):
    created = await submit(inst, appeal_fields(), [("plan.pdf", PDF, "application/pdf"),
                                                   ("photo.png", PNG, "image/png")])
    assert created["number"].startswith("Д-") and len(created["token"]) >= 32
    aid = await appeal_id(inst.kabinet, created["number"])
    room = await room_of(inst.kabinet, aid)
    deputy = await people.login("bondar", PASSWORDS["bondar"])
    await wait_for(lambda: joined(deputy, room), timeout=60, what="the deputy joined")

    ghost = f"@kabinet_citizen_{aid}:localhost"

    async def delivered() -> list[dict] | None:
        resp = await deputy.room_messages(room, start="", limit=50, direction="b")
        assert isinstance(resp, RoomMessagesResponse)
        msgs = [e.source for e in reversed(resp.chunk) if e.source["type"] == "m.room.message"]
        return msgs if len(msgs) >= 4 else None
    msgs = await wait_for(delivered, timeout=60, what="card, text and two files")
    card, text, pdf, png = msgs[:4]
    assert card["sender"] == inst.kabinet.hs.bot_mxid and created["number"] in card["content"]["body"]
    assert "hanna@example.org" in card["content"]["body"]  # contacts are in the room, for the deputy
    assert text["sender"] == ghost and text["content"]["body"] == appeal_fields()["text"]
    assert (pdf["sender"], pdf["content"]["msgtype"], pdf["content"]["body"]) == (ghost, "m.file",
                                                                                 "plan.pdf")
    assert png["content"]["msgtype"] == "m.image" and png["content"]["url"].startswith("mxc://")

    state = {(e["type"], e.get("state_key")): e["content"]
             for e in await inst.kabinet.hs.room_state(room)}
    assert state[("ua.kabinet.room", "")] == {"kind": "appeal", "ref": str(aid)}
    assert state[("m.room.join_rules", "")]["join_rule"] == "invite"
    assert state[("m.room.name", "")]["name"] == f"Звернення {created['number']}"
    topic = state[("m.room.topic", "")]["topic"]
    assert created["number"] in topic and created["deadline"][:4] in topic
    for private in ("Литвин", "Садова", "hanna@", "+38067"):
        assert private not in state[("m.room.name", "")]["name"] and private not in topic
    assert state[("m.room.member", ghost)]["displayname"] == "Громадянин: Литвин Ганна Степанівна"
    assert await members(deputy, room) == {"@bondar:localhost", "@clerk:localhost", ghost,
                                           inst.kabinet.hs.bot_mxid}
    # The room sits in the deputy's cabinet Space.
    space = (await inst.kabinet.hs.resolve_alias("#kabinet_cabinet_space_bondar:localhost"))
    assert room in {r["room_id"] for r in await hierarchy(deputy, space)}


async def test_answer_reaches_the_status_page_and_the_citizens_mailbox(inst, people, mailbox):
    created = await submit(inst, appeal_fields(email="answer-me@example.org"))
    aid = await appeal_id(inst.kabinet, created["number"])
    room = await room_of(inst.kabinet, aid)
    deputy = await people.login("bondar", PASSWORDS["bondar"])
    await wait_for(lambda: joined(deputy, room), timeout=60, what="the deputy joined")
    await wait_for(lambda: mailbox.to("answer-me@example.org"), what="the receipt mail")
    receipt = mailbox.to("answer-me@example.org")[0]
    assert created["number"] in receipt["Subject"] and created["token"] in receipt.get_content()

    cmd = await say(deputy, room, "!відповідь Дорогу внесено до плану ремонту на травень.")
    confirmation = await wait_for(lambda: _confirmation(inst, room), what="the confirmation")
    # Truthful: the mail is queued when the answer is given, and said sent once it was.
    assert "Лист громадянину поставлено в чергу" in confirmation["content"]["body"] and cmd
    status = await api_status(inst, created["token"])
    assert status["status"] == "answered"
    assert status["answer"]["text"] == "Дорогу внесено до плану ремонту на травень."
    await wait_for(lambda: len(mailbox.to("answer-me@example.org")) >= 2, what="the answer mail")
    answer_mail = mailbox.to("answer-me@example.org")[1]
    assert "Дорогу внесено до плану ремонту" in answer_mail.get_content()
    sent = await wait_for(lambda: _bot_says(inst, room, "«відповідь»"), what="the mail's news")
    assert f"Лист громадянину («відповідь», звернення {created['number']}) надіслано" in sent

    # A file sent as a reply to the bot's confirmation joins the answer.
    upload, _ = await deputy.upload(lambda *_: PDF, content_type="application/pdf",
                                    filename="rishennia.pdf", filesize=len(PDF))
    await deputy.room_send(room, "m.room.message", {
        "msgtype": "m.file", "body": "rishennia.pdf", "url": upload.content_uri,
        "info": {"mimetype": "application/pdf", "size": len(PDF)},
        "m.relates_to": {"m.in_reply_to": {"event_id": confirmation["event_id"]}}})

    async def attached() -> list | None:
        return (await api_status(inst, created["token"]))["answer"]["attachments"] or None
    [att] = await wait_for(attached, what="the answer's attachment")
    assert att["name"] == "rishennia.pdf"
    # A page the client calls a PDF is judged by its content: not added, and the deputy is told.
    html = b"<html><script>alert(1)</script></html>"
    upload, _ = await deputy.upload(lambda *_: html, content_type="application/pdf",
                                    filename="page.pdf", filesize=len(html))
    fake = await deputy.room_send(room, "m.room.message", {
        "msgtype": "m.file", "body": "page.pdf", "url": upload.content_uri,
        "info": {"mimetype": "text/html", "size": len(html)},
        "m.relates_to": {"m.in_reply_to": {"event_id": confirmation["event_id"]}}})
    assert "PDF, DOCX, JPEG" in await bot_reply_to(inst, room, fake.event_id)
    assert len((await api_status(inst, created["token"]))["answer"]["attachments"]) == 1
    async with aiohttp.ClientSession() as http, http.get(att["url"]) as resp:
        assert resp.status == 200 and await resp.read() == PDF
    async with aiohttp.ClientSession() as http, http.get(
            f"{inst.web_url}/appeals/{created['token']}") as resp:
        page = await resp.text()
    assert "Дорогу внесено до плану ремонту на травень." in page and created["number"] in page
    assert "answer-me@example.org" not in page and "+380671234567" not in page


async def _confirmation(inst: Running, room: str) -> dict | None:
    for e in await timeline(inst.kabinet, room):
        if e["sender"] == inst.kabinet.hs.bot_mxid and "опубліковано" in e["content"].get("body", ""):
            return e
    return None


async def _bot_says(inst: Running, room: str, words: str) -> str | None:
    for e in await timeline(inst.kabinet, room):
        body = e["content"].get("body", "")
        if e["sender"] == inst.kabinet.hs.bot_mxid and words in body:
            return body
    return None


async def test_extend_is_capped_at_45_days_and_the_citizen_is_notified(inst, people, mailbox):
    created = await submit(inst, appeal_fields(email="extend@example.org", type="application"))
    aid = await appeal_id(inst.kabinet, created["number"])
    room = await room_of(inst.kabinet, aid)
    deputy = await people.login("bondar", PASSWORDS["bondar"])
    await wait_for(lambda: joined(deputy, room), timeout=60, what="the deputy joined")

    too_far = await say(deputy, room, "!extend 30 потрібна експертиза")
    assert "45" in await bot_reply_to(inst, room, too_far)
    ok = await say(deputy, room, "!extend 10 потрібна експертиза")
    reply = await bot_reply_to(inst, room, ok)
    status = await api_status(inst, created["token"])
    assert status["deadline"] > created["deadline"]
    assert status["history"][-1]["kind"] == "extended"
    assert status["deadline"][8:10] + "." + status["deadline"][5:7] in reply
    await wait_for(lambda: any("продовжено" in m["Subject"] for m in mailbox.to("extend@example.org")),
                   what="the extension mail")
    # `!status` alone says where the appeal stands and what the citizen was sent (queued or sent).
    state = await bot_reply_to(inst, room, await say(deputy, room, "!статус"))
    assert f"Звернення {created['number']}: зареєстровано" in state
    assert "Лист «підтвердження реєстрації»: надіслано" in state
    assert "Лист «продовження строку»: " in state and "!status" in state
    malformed = await say(deputy, room, "!extend багато")
    assert "!extend" in await bot_reply_to(inst, room, malformed)
    unknown = await say(deputy, room, "!abracadabra")
    assert "!answer" in await bot_reply_to(inst, room, unknown)


async def test_transfer_invites_the_new_deputy_and_the_old_one_leaves(inst, people):
    created = await submit(inst, appeal_fields())
    aid = await appeal_id(inst.kabinet, created["number"])
    room = await room_of(inst.kabinet, aid)
    clerk = await people.login("clerk", PASSWORDS["clerk"])
    await wait_for(lambda: joined(clerk, room), timeout=60, what="the clerk joined")
    outsider = await people.login("kuzmych", PASSWORDS["kuzmych"])
    cmd = await say(clerk, room, "!transfer zvarych")
    assert "Зварич" in await bot_reply_to(inst, room, cmd)

    async def moved() -> bool:
        now = await members(clerk, room)
        return "@zvarych:localhost" in now and "@bondar:localhost" not in now
    await wait_for(moved, timeout=60, what="zvarych in, bondar out")
    assert (await api_status(inst, created["token"]))["history"][-1]["kind"] == "transferred"
    assert await outsider.joined_rooms() and room not in (await outsider.joined_rooms()).rooms


async def test_a_district_appeal_goes_to_all_its_deputies_until_one_takes_it(inst, people):
    created = await submit(inst, appeal_fields(addressee_deputy=None, addressee_district=2))
    aid = await appeal_id(inst.kabinet, created["number"])
    room = await room_of(inst.kabinet, aid)
    taker = await people.login("kuzmych", PASSWORDS["kuzmych"])
    other = await people.login("zvarych", PASSWORDS["zvarych"])
    await wait_for(lambda: joined(taker, room), timeout=60, what="kuzmych joined")
    await wait_for(lambda: joined(other, room), timeout=60, what="zvarych joined")
    outsider = await people.login("bondar", PASSWORDS["bondar"])
    refused = await say(outsider, room, "!take") if await joined(outsider, room) else None
    assert refused is None  # bondar (district 1) is not even in the room

    cmd = await say(taker, room, "!take")
    assert "Taken" in await bot_reply_to(inst, room, cmd)
    await wait_for(lambda: _not_member(other, room), timeout=60, what="zvarych left")
    status = await api_status(inst, created["token"])
    assert status["status"] == "in_progress" and status["history"][-1]["kind"] == "taken"
    again = await say(taker, room, "!take")
    assert "ніхто не взяв" in await bot_reply_to(inst, room, again)


async def _not_member(client: AsyncClient, room: str) -> bool:
    return room not in (await client.joined_rooms()).rooms


async def test_a_follow_up_arrives_in_the_room_as_the_citizens_ghost(inst):
    created = await submit(inst, appeal_fields(addressee_deputy=None))  # "I don't know"
    aid = await appeal_id(inst.kabinet, created["number"])
    room = await room_of(inst.kabinet, aid)
    state_members = {e["state_key"] for e in await inst.kabinet.hs.room_state(room)
                     if e["type"] == "m.room.member"}
    assert not any(d.mxid("localhost") in state_members for d in ROSTER.deputies)  # secretariat only
    async with aiohttp.ClientSession() as http, http.post(
            f"{inst.web_url}/api/v1/appeals/{created['token']}/messages",
            json={"text": "Додаю: яма вже 1,5 метра завширшки."}) as resp:
        assert resp.status == 201
    ghost = f"@kabinet_citizen_{aid}:localhost"

    async def arrived() -> bool:
        return any(e["sender"] == ghost and "1,5 метра" in e["content"].get("body", "")
                   for e in await timeline(inst.kabinet, room))
    await wait_for(arrived, what="the follow-up in the room")
