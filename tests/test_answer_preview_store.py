"""The answer shown before it goes (council/appeals/answers.py), in the store on SQLite and
PostgreSQL: nothing reaches the citizen until it is confirmed, the preview follows every change,
a confirmation is taken once, a cancellation sends nothing, and a pending answer outlives the
process. Plus the texts in English, for an English-speaking council."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from council import appeals, outbox
from council.appeals import AppealError, NewAppeal, PendingAnswer
from council.models import OutboxMessage
from council.outbox import mail as mailqueue
from council.store import Store

CTX = appeals.Context(server_name="localhost", ghost_prefix="kabinet_",
                      base_url="http://127.0.0.1:8080")
CLERK, DEPUTY = "@clerk:localhost", "@bondar:localhost"
TEXT = "Ліхтарі на вулиці Першій відремонтують до 1 травня."


def sample(**over: object) -> NewAppeal:
    base: dict[str, object] = dict(
        name="Іваненко Іван Іванович", residence="м. Тестове, вул. Перша, 1",
        email="ivan@example.org", subject="Освітлення", text="Не світять ліхтарі.",
        addressee_kind="deputy", addressee_deputy="bondar")
    return NewAppeal(**{**base, **over})  # type: ignore[arg-type]


async def registered(store: Store, **over: object) -> int:
    async with store.session() as s:
        appeal, _ = await appeals.register(s, CTX, sample(**over), date(2026, 3, 2))
        return appeal.id


async def propose(store: Store, appeal_id: int, text: str, event: str,
                  ctx: appeals.Context = CTX) -> PendingAnswer:
    async with store.session() as s:
        appeal = await appeals.by_id(s, appeal_id, lock=True)
        assert appeal is not None
        return await appeals.answers.propose(s, ctx, appeal, text, DEPUTY, event)


async def confirm(store: Store, appeal_id: int, preview_event: str | None = None) -> str | None:
    async with store.session() as s:
        appeal = await appeals.by_id(s, appeal_id, lock=True)
        assert appeal is not None
        return await appeals.answers.confirm(s, CTX, appeal, CLERK, "Секретар Тест",
                                             preview_event=preview_event)


async def rows(store: Store, appeal_id: int, tag: str) -> list[OutboxMessage]:
    async with store.session() as s:
        return list(await s.scalars(select(OutboxMessage).where(
            OutboxMessage.key.like(f"appeal:{appeal_id}:{tag}%")).order_by(OutboxMessage.id)))


async def answer_mails(store: Store, appeal_id: int) -> list[mailqueue.MailJob]:
    async with store.session() as s:
        return [m for m in await appeals.mails(s, appeal_id) if ":answer:" in m.key]


async def test_an_answer_is_only_shown_until_it_is_confirmed_and_then_sent_once(store: Store):
    aid = await registered(store)
    row = await propose(store, aid, TEXT, "$cmd1")
    [preview] = await rows(store, aid, "preview")
    assert preview.key == row.preview_key and preview.room_id == f"$room:appeal:{aid}"
    body = preview.content["body"]
    assert preview.content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$cmd1"}}
    assert "Отримувач: Іваненко Іван Іванович" in body and TEXT in body
    assert "лист на ivan@example.org буде поставлено в чергу" in body and "✅" in body
    async with store.session() as s:
        appeal = await appeals.by_id(s, aid)
        assert appeal is not None and appeal.status == "registered" and appeal.answer_text is None
    assert await answer_mails(store, aid) == []  # nothing reached the citizen

    key = await confirm(store, aid)
    assert key is not None and await confirm(store, aid) is None  # a second confirmation: nothing
    async with store.session() as s:
        appeal = await appeals.by_id(s, aid)
        assert appeal is not None and appeal.status == "answered" and appeal.answer_text == TEXT
        assert appeal.answer_prompt_key == key
        assert [e.kind for e in await appeals.history(s, aid)].count("answered") == 1
        confirmation = await s.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
    [mail] = await answer_mails(store, aid)
    assert TEXT in mail.body and mail.to_addr == "ivan@example.org"
    assert confirmation is not None
    assert "Лист громадянину поставлено в чергу" in confirmation.content["body"]
    done = (await rows(store, aid, "preview"))[-1]
    assert done.content["m.relates_to"] == {"rel_type": "m.replace",
                                            "event_id": outbox.EVENT_REF + row.preview_key}
    assert done.content["m.new_content"]["body"].startswith("✅ Підтверджено (Секретар Тест)")


async def test_an_edit_replaces_the_text_and_a_new_answer_replaces_the_pending_one(store: Store):
    aid = await registered(store)
    first = await propose(store, aid, "Ліхтарі відремонтують до 1 травня", "$cmd1")
    async with store.session() as s:
        appeal = await appeals.by_id(s, aid, lock=True)
        row = await appeals.answers.by_command(s, "$cmd1")
        assert appeal is not None and row is not None
        await appeals.answers.revise(s, CTX, appeal, row, "Ліхтарі відремонтують до 1 квітня.")
    edit = (await rows(store, aid, "preview"))[-1]
    assert edit.content["m.relates_to"]["event_id"] == outbox.EVENT_REF + first.preview_key
    assert "до 1 квітня." in edit.content["m.new_content"]["body"]
    assert edit.content["body"].startswith("* ")

    second = await propose(store, aid, "Інший текст відповіді.", "$cmd2")
    async with store.session() as s:
        states = dict((await s.execute(select(PendingAnswer.command_event, PendingAnswer.state)
                                       .where(PendingAnswer.appeal_id == aid))).all())
        assert (await appeals.answers.pending(s, aid)).id == second.id  # type: ignore[union-attr]
    assert states == {"$cmd1": "replaced", "$cmd2": "pending"}
    replaced = [r for r in await rows(store, aid, "preview")
                if r.content.get("m.relates_to", {}).get("event_id")
                == outbox.EVENT_REF + first.preview_key][-1]
    assert replaced.content["m.new_content"]["body"].startswith("↻")
    await confirm(store, aid)
    [mail] = await answer_mails(store, aid)
    assert "Інший текст відповіді." in mail.body and "квітня" not in mail.body


async def test_a_cancelled_answer_sends_nothing_and_drops_its_files(store: Store):
    aid = await registered(store)
    await propose(store, aid, TEXT, "$cmd1")
    f = appeals.StoredFile("b" * 64, "plan.pdf", "application/pdf", 2048)
    async with store.session() as s:
        appeal = await appeals.by_id(s, aid, lock=True)
        row = await appeals.answers.pending(s, aid)
        assert appeal is not None and row is not None
        assert await appeals.answers.add_file(s, CTX, appeal, row, f, "$file1")
        assert not await appeals.answers.add_file(s, CTX, appeal, row, f, "$file1")  # once
        assert await appeals.attachments(s, aid) == []  # shown to nobody yet
    listed = (await rows(store, aid, "preview"))[-1].content["m.new_content"]["body"]
    assert "Файли: plan.pdf (2 КБ)." in listed
    async with store.session() as s:
        appeal = await appeals.by_id(s, aid, lock=True)
        assert appeal is not None
        assert await appeals.answers.cancel(s, CTX, appeal, DEPUTY, "Бондар")
        assert not await appeals.answers.cancel(s, CTX, appeal, DEPUTY, "Бондар")
        assert await appeals.answers.pending_files(s, aid) == []
    assert await confirm(store, aid) is None
    async with store.session() as s:
        appeal = await appeals.by_id(s, aid)
        assert appeal is not None and appeal.status == "registered" and appeal.answer_text is None
    assert await answer_mails(store, aid) == []


async def test_files_sent_for_the_answer_go_with_it_when_it_is_confirmed(store: Store):
    aid = await registered(store)
    await propose(store, aid, TEXT, "$cmd1")
    async with store.session() as s:
        appeal = await appeals.by_id(s, aid, lock=True)
        row = await appeals.answers.pending(s, aid)
        assert appeal is not None and row is not None
        await appeals.answers.add_file(
            s, CTX, appeal, row, appeals.StoredFile("c" * 64, "rishennia.pdf", "application/pdf",
                                                    1_258_291), "$file1")
    await propose(store, aid, TEXT + " Додаю рішення.", "$cmd2")  # the file stays with it
    assert "rishennia.pdf (1,2 МБ)" in (await rows(store, aid, "preview"))[-1].content["body"]
    await confirm(store, aid)
    async with store.session() as s:
        [att] = await appeals.attachments(s, aid)
    assert (att.name, att.origin) == ("rishennia.pdf", "answer")


async def test_a_reaction_confirms_only_the_preview_still_waiting(store: Store):
    aid = await registered(store)
    old = await propose(store, aid, "Перший текст.", "$cmd1")
    new = await propose(store, aid, "Другий текст.", "$cmd2")
    for i, row in enumerate((old, new)):
        async with store.session() as s:
            msg_id = await s.scalar(select(OutboxMessage.id).where(
                OutboxMessage.key == row.preview_key))
        assert msg_id is not None
        await outbox.mark_sent(store, msg_id, f"$preview{i}")
    assert await confirm(store, aid, preview_event="$preview0") is None  # replaced: nothing
    assert await confirm(store, aid, preview_event="$unknown") is None
    assert await answer_mails(store, aid) == []
    assert await confirm(store, aid, preview_event="$preview1") is not None
    assert await confirm(store, aid, preview_event="$preview1") is None  # a second ✅
    [mail] = await answer_mails(store, aid)
    assert "Другий текст." in mail.body


async def test_a_pending_answer_outlives_the_process(store: Store, db_url: str):
    aid = await registered(store)
    await propose(store, aid, TEXT, "$cmd1")
    restarted = Store(db_url)  # a new engine: nothing kept in memory
    try:
        assert await confirm(restarted, aid) is not None
    finally:
        await restarted.close()
    [mail] = await answer_mails(store, aid)
    assert TEXT in mail.body


async def test_what_cannot_be_answered_is_refused_before_anything_is_shown_or_sent(store: Store):
    aid = await registered(store)
    with pytest.raises(AppealError) as empty:
        await propose(store, aid, "   ", "$cmd0")
    assert empty.value.code == "KB_APPEAL_EMPTY_ANSWER"
    assert await rows(store, aid, "preview") == []
    await propose(store, aid, TEXT, "$cmd1")
    async with store.session() as s:
        appeal = await appeals.by_id(s, aid, lock=True)
        assert appeal is not None
        appeal.status = "closed"
    with pytest.raises(AppealError, match="Звернення закрито"):
        await confirm(store, aid)
    async with store.session() as s:
        assert (await appeals.answers.pending(s, aid)) is not None  # still waiting, not lost
    assert await answer_mails(store, aid) == []


async def test_the_preview_says_truthfully_where_the_answer_will_go(store: Store):
    quiet = appeals.Context(server_name="localhost", ghost_prefix="kabinet_",
                            base_url="http://x", mail_configured=False)
    no_mail = await registered(store, email=None)
    await propose(store, no_mail, TEXT, "$cmd1")
    assert ("E-mail громадянин не вказав: відповідь буде лише на сторінці статусу звернення."
            in (await rows(store, no_mail, "preview"))[0].content["body"])
    waiting = await registered(store)
    await propose(store, waiting, TEXT, "$cmd2", ctx=quiet)
    assert ("Лист на ivan@example.org чекатиме: сервер пошти не налаштовано."
            in (await rows(store, waiting, "preview"))[0].content["body"])



def test_an_english_council_reads_the_appeal_texts_in_english(english: None):
    appeal = appeals.Appeal(id=7, number="Д-2026/000007", name="Ivan Ivanenko", email=None,
                            status="in_progress", deadline=date(2026, 4, 2), type="proposal",
                            addressee_kind="deputy", subject="Lights", residence="Testove",
                            received_on=date(2026, 3, 2), phone=None)
    body = appeals.texts.preview(appeal, "Fixed by May.", [("plan.pdf", 2048)], True)
    assert body.startswith("Answer to appeal Д-2026/000007: not sent yet. Check it and confirm.")
    assert "Recipient: Ivan Ivanenko" in body and "Files: plan.pdf (2 KB)." in body
    assert "the answer will be on the status page only" in body and "react ✅" in body
    assert appeals.texts.topic(appeal) == "Appeal Д-2026/000007 · in progress · due 02.04.2026"
    assert "Type: proposal" in appeals.texts.card(appeal)
    subject, mail = appeals.texts.extension_mail(appeal, 1, "expertise")
    assert subject == "Appeal Д-2026/000007: term extended" and "extended by 1 day," in mail
    refused = AppealError("KB_APPEAL_CLOSED", appeals.texts.CLOSED)
    assert str(refused) == "The appeal is closed" and refused.text("uk") == "Звернення закрито"


async def test_only_a_check_mark_by_someone_allowed_confirms_and_only_the_author_edits(
        store: Store):
    """The transaction handler (appservice/appeals/events.py) on stored events: a ✅ by a deputy
    of another appeal, another emoji, an edit by someone else change nothing."""
    from mautrix.types import Event

    from appservice.appeals import AnswerEvents, AppealCommands
    from appservice.commands import Commands
    from council import rooms as registry
    from council.roster import load_roster
    from tests.conftest import SMALL_ROSTER

    roster = load_roster(SMALL_ROSTER)
    commands = AppealCommands(CTX, lambda: roster, "localhost")
    commands.install(Commands("@kabinet:localhost", "kabinet_"))
    handler = AnswerEvents(commands, None, None, "@kabinet:localhost",  # type: ignore[arg-type]
                           "kabinet_", 1024)
    aid = await registered(store)
    room = "!appeal:localhost"
    async with store.session() as s:
        await registry.remember_room(s, registry.appeal(aid), "appeal", str(aid), room)
    row = await propose(store, aid, "Перший варіант.", "$cmd")
    async with store.session() as s:
        msg_id = await s.scalar(select(OutboxMessage.id).where(
            OutboxMessage.key == row.preview_key))
    assert msg_id is not None
    await outbox.mark_sent(store, msg_id, "$preview")

    async def handle(n: int, sender: str, event_type: str, content: dict) -> None:
        event = Event.deserialize({"type": event_type, "event_id": f"$e{n}", "room_id": room,
                                   "sender": sender, "origin_server_ts": 1, "content": content})
        async with store.session() as s:
            await handler(event, s)

    def reaction(key: str) -> dict:
        return {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$preview", "key": key}}

    def edited(body: str) -> dict:
        return {"msgtype": "m.text", "body": f"* {body}",
                "m.new_content": {"msgtype": "m.text", "body": body},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$cmd"}}

    await handle(1, "@kuzmych:localhost", "m.reaction", reaction("✅"))  # not this appeal's
    await handle(2, DEPUTY, "m.reaction", reaction("👍"))
    await handle(3, CLERK, "m.room.message", edited("!answer Чужий текст."))  # not the author
    async with store.session() as s:
        waiting = await appeals.answers.pending(s, aid)
        assert waiting is not None and waiting.text == "Перший варіант."
    await handle(4, DEPUTY, "m.room.message", edited("!відповідь Другий варіант."))
    await handle(5, DEPUTY, "m.reaction", reaction("✅\ufe0f"))  # the emoji-presentation form
    async with store.session() as s:
        appeal = await appeals.by_id(s, aid)
        assert appeal is not None and appeal.status == "answered"
        assert appeal.answer_text == "Другий варіант."
    await handle(6, CLERK, "m.reaction", reaction("✅"))  # a second ✅: nothing more
    await handle(7, DEPUTY, "m.room.message", edited("!answer Третій варіант."))
    [mail] = await answer_mails(store, aid)
    assert "Другий варіант." in mail.body
    async with store.session() as s:
        reply = await s.scalar(select(OutboxMessage).where(OutboxMessage.key == "reply:$e7"))
    assert reply is not None and reply.content["body"] == ("Цю відповідь уже надіслано: "
                                                            "редагування команди її не змінює.")
