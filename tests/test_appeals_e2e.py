"""Appeals end to end on a real Synapse: API → appeal room → deputy (nio) → !answer, shown and
confirmed with !так → citizen. An official answer never goes out on a typo: `!відповідь` is only
shown (to whom, by which way, the full text), an edit of the command corrects the shown text,
`!скасувати` sends nothing, and ✅ on the preview or `!так` sends it — once, however often it is
confirmed.

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
    api_status,
    appeal_fields,
    appeal_id,
    bot_edits,
    bot_reply,
    bot_reply_to,
    joined,
    mail_settings,
    room_of,
    say,
    submit,
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
    preview = await bot_reply_to(inst, room, cmd)
    assert "ще не надіслано" in preview and "Дорогу внесено до плану ремонту" in preview
    assert (await api_status(inst, created["token"]))["status"] == "registered"  # only shown
    await say(deputy, room, "!так")
    confirmation = await wait_for(lambda: _confirmation(inst, room), what="the confirmation")
    # Truthful: the mail is queued when the answer is given, and said sent once it was.
    assert "Лист громадянину поставлено в чергу" in confirmation["content"]["body"]
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
        body = e["content"].get("body", "")
        if e["sender"] == inst.kabinet.hs.bot_mxid and "Щоб додати файли до відповіді" in body:
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
    # Ukrainian options, as people type them (the English codes work too).
    moved = await bot_reply_to(inst, room, await say(deputy, room, "!статус розглядається"))
    assert moved == f"Статус звернення {created['number']}: розглядається"
    assert (await api_status(inst, created["token"]))["status"] == "in_progress"
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
    assert "взято до розгляду: Кузьмич" in await bot_reply_to(inst, room, cmd)
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


# The answer's preview and its confirmation.
async def appeal_room(inst: Running, people: Deputies, email: str
                      ) -> tuple[dict, str, AsyncClient]:
    created = await submit(inst, appeal_fields(email=email))
    room = await room_of(inst.kabinet, await appeal_id(inst.kabinet, created["number"]))
    deputy = await people.login("bondar", PASSWORDS["bondar"])
    await wait_for(lambda: joined(deputy, room), timeout=60, what="the deputy joined")
    return created, room, deputy


async def edit(client: AsyncClient, room: str, original: str, body: str) -> str:
    """What Element sends when a message is edited."""
    resp = await client.room_send(room, "m.room.message", {
        "msgtype": "m.text", "body": f"* {body}",
        "m.new_content": {"msgtype": "m.text", "body": body},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original}})
    return resp.event_id


async def react(client: AsyncClient, room: str, target: str, key: str) -> str:
    resp = await client.room_send(room, "m.reaction", {
        "m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}})
    return resp.event_id


async def confirmations(inst: Running, room: str) -> list[str]:
    return [e["content"]["body"] for e in await timeline(inst.kabinet, room)
            if e["sender"] == inst.kabinet.hs.bot_mxid
            and "Щоб додати файли до відповіді" in e["content"].get("body", "")]


async def test_the_preview_shows_the_answer_an_edit_corrects_it_and_cancel_sends_nothing(
        inst, people, mailbox):
    created, room, deputy = await appeal_room(inst, people, "preview@example.org")
    await wait_for(lambda: mailbox.to("preview@example.org"), what="the receipt mail")
    cmd = await say(deputy, room, "!відповідь Дорогу відремонтують у травні 2062 року.")
    preview = await bot_reply(inst, room, cmd)
    body = preview["content"]["body"]
    assert body.startswith(f"Відповідь на звернення {created['number']}: ще не надіслано.")
    assert "Отримувач: Литвин Ганна Степанівна" in body
    assert "лист на preview@example.org буде поставлено в чергу" in body
    assert "Дорогу відремонтують у травні 2062 року." in body and "!так" in body

    # The typo is corrected by editing the command: the bot edits its preview.
    await edit(deputy, room, cmd, "!відповідь Дорогу відремонтують у травні 2026 року.")

    async def corrected() -> str | None:
        edits = await bot_edits(inst, room, preview["event_id"])
        return edits[-1] if edits and "2026 року" in edits[-1] else None
    shown = await wait_for(corrected, what="the preview edited")
    assert "2062" not in shown and "Отримувач: Литвин Ганна Степанівна" in shown

    cancelled = await bot_reply_to(inst, room, await say(deputy, room, "!скасувати"))
    assert cancelled == f"Відповідь на звернення {created['number']} скасовано: нічого не надіслано."
    status = await api_status(inst, created["token"])
    assert status["status"] == "registered" and not status.get("answer")
    late = await edit(deputy, room, cmd, "!відповідь Запізнілий текст.")
    assert "скасовано" in await bot_reply_to(inst, room, late)  # an edit now changes nothing

    # A new answer, confirmed with !так: the status page has it, the mail is queued, then sent.
    again = await say(deputy, room, "!відповідь Дорогу відремонтують у травні 2026 року.")
    await bot_reply(inst, room, again)
    await say(deputy, room, "!так")
    [said] = await wait_for(lambda: confirmations(inst, room), what="the confirmation")
    assert "Лист громадянину поставлено в чергу" in said
    status = await api_status(inst, created["token"])
    assert status["status"] == "answered"
    assert status["answer"]["text"] == "Дорогу відремонтують у травні 2026 року."
    await wait_for(lambda: len(mailbox.to("preview@example.org")) >= 2, what="the answer mail")
    assert len(mailbox.to("preview@example.org")) == 2  # the receipt and one answer
    nothing = await bot_reply_to(inst, room, await say(deputy, room, "!так"))
    assert nothing.startswith("Тут немає відповіді, що чекає підтвердження")


async def test_a_check_mark_on_the_preview_sends_the_answer_once_with_its_files(
        inst, people, mailbox):
    created, room, deputy = await appeal_room(inst, people, "react@example.org")
    cmd = await say(deputy, room, "!answer Ліхтарі замінять до кінця місяця.")
    preview = (await bot_reply(inst, room, cmd))["event_id"]
    clerk = await people.login("clerk", PASSWORDS["clerk"])
    await wait_for(lambda: joined(clerk, room), timeout=60, what="the clerk joined")

    # A file sent as a reply to the preview goes with the answer; the preview lists it.
    upload, _ = await deputy.upload(lambda *_: PDF, content_type="application/pdf",
                                    filename="grafik.pdf", filesize=len(PDF))
    sent_file = await deputy.room_send(room, "m.room.message", {
        "msgtype": "m.file", "body": "grafik.pdf", "url": upload.content_uri,
        "info": {"mimetype": "application/pdf", "size": len(PDF)},
        "m.relates_to": {"m.in_reply_to": {"event_id": preview}}})
    assert "коли її підтвердять" in await bot_reply_to(inst, room, sent_file.event_id)
    edits = await wait_for(lambda: bot_edits(inst, room, preview), what="the preview's edit")
    assert "Файли: grafik.pdf" in edits[-1]
    assert (await api_status(inst, created["token"])).get("answer") is None  # shown to nobody

    thumbs = await react(deputy, room, preview, "👍")  # any other reaction changes nothing
    await react(clerk, room, preview, "✅")
    [said] = await wait_for(lambda: confirmations(inst, room), what="the confirmation")
    assert "Лист громадянину поставлено в чергу" in said and thumbs
    status = await api_status(inst, created["token"])
    assert status["status"] == "answered"
    assert status["answer"]["text"] == "Ліхтарі замінять до кінця місяця."
    assert [a["name"] for a in status["answer"]["attachments"]] == ["grafik.pdf"]
    async def marked() -> list[str]:
        return [b for b in await bot_edits(inst, room, preview) if b.startswith("✅")]
    confirmed = await wait_for(marked, what="the preview marked confirmed")
    assert "Мартинюк Оксана Василівна" in confirmed[-1]

    # A second ✅ (the deputy's too) sends nothing more.
    await react(deputy, room, preview, "✅")
    await wait_for(lambda: len(mailbox.to("react@example.org")) >= 2, what="the answer mail")
    marker = await say(deputy, room, "!статус")  # handled after the second ✅
    summary = await bot_reply_to(inst, room, marker)
    assert summary.count("Лист «відповідь»") == 1
    assert len(await confirmations(inst, room)) == 1
    history = (await api_status(inst, created["token"]))["history"]
    assert [h["kind"] for h in history].count("answered") == 1
    answers = [m for m in mailbox.to("react@example.org") if "Ліхтарі" in m.get_content()]
    assert len(answers) == 1
