"""What may happen to an appeal: register, status, answer, extend, transfer, take, follow-up, reminders."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from council import outbox, rooms
from council.appeals import texts
from council.appeals.tables import (
    Appeal,
    AppealAttachment,
    AppealCounter,
    AppealEvent,
    AppealMessage,
)
from council.appeals.values import (
    OPEN,
    SETTABLE,
    TOKEN_BYTES,
    AppealError,
    Context,
    NewAppeal,
    StoredFile,
    format_number,
    hash_token,
    room_ref,
)
from council.law import deadlines
from council.models import OutboxMessage, utcnow
from council.outbox import mail as mailqueue
from council.store import dialect

APPEAL_KEY = "ua.kabinet.appeal"  # in the appeal room's opening message: {id, number}


def next_numbers(session: Session, year: int, count: int = 1) -> list[str]:
    """`count` consecutive numbers of the year. Must be the first write of the registering
    transaction: on SQLite a write taken first cannot meet a stale read snapshot; on PostgreSQL
    the upsert locks the year's row until the commit, so numbers are unique and gap-free."""
    upsert = pg_insert if dialect(session) == "postgresql" else sqlite_insert
    last = session.scalar(
        upsert(AppealCounter).values(year=year, last=count)
        .on_conflict_do_update(index_elements=["year"],
                               set_={"last": AppealCounter.last + count})
        .returning(AppealCounter.last))
    assert last is not None  # inserted or updated, the row is returned
    return [format_number(year, seq) for seq in range(last - count + 1, last + 1)]


async def next_number(session: AsyncSession, year: int) -> str:
    return (await session.run_sync(next_numbers, year))[0]


async def register(session: AsyncSession, ctx: Context, new: NewAppeal,
                   today: date | None = None, *, now: datetime | None = None,
                   token: str | None = None) -> tuple[Appeal, str | None]:
    """Store a new appeal with its number, deadline, room messages and receipt mail.
    Returns (appeal, token); token is None when `idem_key` named an appeal already stored.
    The receipt day (art. 20 counts from it) is the council's local date of registration."""
    if new.idem_key:  # the demo seeder; a plain read takes no write lock before the counter
        existing = await session.scalar(select(Appeal).where(Appeal.idem_key == new.idem_key))
        if existing is not None:
            return existing, None
    [(appeal, token)] = await session.run_sync(register_many, ctx, [(new, token)], today, now=now)
    return appeal, token


def register_many(session: Session, ctx: Context,
                  batch: Sequence[tuple[NewAppeal, str | None]], today: date | None = None,
                  *, now: datetime | None = None) -> list[tuple[Appeal, str]]:
    """`register` for several appeals in one transaction (group commit, council/appeals/
    intake.py), numbered in the batch's order, each with its token (given or new). One
    statement per table for the whole batch, not a dozen per appeal: the rows' keys are new,
    so the outbox's existence check is not needed (a clash fails the insert). Synchronous:
    an async caller runs it with `AsyncSession.run_sync`, the intake with `Store.run_sync` (on
    SQLite the whole transaction then goes to the database's thread in one hop)."""
    registered_at = now or utcnow()
    today = today or deadlines.local_date(registered_at, ctx.tz)
    numbers = next_numbers(session, today.year, len(batch))
    tokens = [token or secrets.token_urlsafe(TOKEN_BYTES) for _, token in batch]
    rows = [{
        "number": number, "token_hash": hash_token(token), "idem_key": new.idem_key,
        "type": new.type, "status": "registered", "name": new.name, "residence": new.residence,
        "email": new.email, "phone": new.phone, "addressee_kind": new.addressee_kind,
        "addressee_deputy": new.addressee_deputy, "addressee_district": new.addressee_district,
        "candidates": list(new.candidates),
        "responsible": new.addressee_deputy if new.addressee_kind == "deputy" else None,
        "subject": new.subject, "text": new.text, "lang": new.lang,
        "registered_at": registered_at, "received_on": today,
        "deadline": deadlines.answer_deadline(today, new.type, ctx.terms), "room_ready": False,
        "members_version": 1, "members_done": 0, "parents": [], "topic_version": 0,
        "messages_seq": 0} for (new, _), number, token in zip(batch, numbers, tokens, strict=True)]
    # RETURNING in one statement, matched by number (in parameter order it would be a
    # statement per row on SQLite).
    by_number = {a.number: a for a in session.scalars(insert(Appeal).returning(Appeal), rows)}
    stored = [by_number[number] for number in numbers]
    texts_, events, messages, mails = [], [], [], []
    for appeal, (new, _), token in zip(stored, batch, tokens, strict=True):
        texts_.append({"appeal_id": appeal.id, "author": "citizen", "kind": "text",
                       "text": new.text})
        events.append({"appeal_id": appeal.id, "kind": "registered", "status": appeal.status,
                       "note": None, "actor": "citizen"})  # as _history writes it
        room = room_ref(appeal.id)
        # The marker lets a copy forwarded into a notes room file notes under this appeal; the
        # number only (art. 10: no personal data in it).
        messages.append(outbox.message_values(
            f"appeal:{appeal.id}:card", room, "m.room.message",
            {**texts.notice(texts.card(appeal)),
             APPEAL_KEY: {"id": appeal.id, "number": appeal.number}}))
        messages.append(outbox.message_values(
            f"appeal:{appeal.id}:text", room, "m.room.message",
            {"msgtype": "m.text", "body": new.text}, sender=ctx.ghost(appeal.id)))
        if appeal.email:
            subject, body = texts.receipt_mail(appeal, ctx.status_url(token))
            mails.append(mailqueue.job_values(f"appeal:{appeal.id}:receipt", appeal.email,
                                              subject, body))
    for model, values in ((AppealMessage, texts_), (AppealEvent, events),
                          (OutboxMessage, messages), (mailqueue.MailJob, mails)):
        if values:  # into the table: rows alike go in one executemany, Nones included
            session.execute(insert(cast(Table, model.__table__)), values)
    for appeal, (new, _) in zip(stored, batch, strict=True):  # after the card and the text
        _new_files(session, ctx, appeal, new.attachments)
    return list(zip(stored, tokens, strict=True))


def _new_files(session: Session, ctx: Context, appeal: Appeal,
               files: tuple[StoredFile, ...]) -> None:
    """A new appeal's files, as `_post_files` posts them; its keys are new by construction."""
    for f in files:
        appeal.messages_seq += 1
        session.add(AppealAttachment(appeal_id=appeal.id, origin="citizen", sha256=f.sha256,
                                     name=f.name, mimetype=f.mimetype, size=f.size))
        session.add(OutboxMessage(**outbox.message_values(
            f"appeal:{appeal.id}:file:{appeal.messages_seq}", room_ref(appeal.id),
            "m.room.message", _file_content(f), sender=ctx.ghost(appeal.id),
            media=outbox.Media(f.sha256, f.name, f.mimetype))))


def _file_content(f: StoredFile) -> dict[str, Any]:
    msgtype = "m.image" if f.mimetype.startswith("image/") else "m.file"
    return {"msgtype": msgtype, "body": f.name, "info": {"mimetype": f.mimetype, "size": f.size}}


async def _post_files(session: AsyncSession, ctx: Context, appeal: Appeal,
                      files: tuple[StoredFile, ...], origin: str, tag: str) -> None:
    for f in files:
        appeal.messages_seq += 1
        session.add(AppealAttachment(appeal_id=appeal.id, origin=origin, sha256=f.sha256,
                                     name=f.name, mimetype=f.mimetype, size=f.size))
        await outbox.enqueue(
            session, f"appeal:{appeal.id}:{tag}:{appeal.messages_seq}", room_ref(appeal.id),
            "m.room.message", _file_content(f),
            sender=ctx.ghost(appeal.id), media=outbox.Media(f.sha256, f.name, f.mimetype))


def _history(session: AsyncSession, appeal: Appeal, kind: str, note: str | None,
             actor: str | None) -> None:
    session.add(AppealEvent(appeal_id=appeal.id, kind=kind, status=appeal.status, note=note,
                            actor=actor))


async def _topic(session: AsyncSession, appeal: Appeal) -> None:
    """The room topic follows number, status and deadline (never contacts)."""
    appeal.topic_version += 1
    await outbox.enqueue(session, f"appeal:{appeal.id}:topic:{appeal.topic_version}",
                         room_ref(appeal.id), "m.room.topic", {"topic": texts.topic(appeal)},
                         state_key="")


async def _notice(session: AsyncSession, appeal: Appeal, tag: str, body: str) -> str:
    appeal.messages_seq += 1
    key = f"appeal:{appeal.id}:{tag}:{appeal.messages_seq}"
    await outbox.enqueue(session, key, room_ref(appeal.id), "m.room.message", texts.notice(body))
    return key


async def set_status(session: AsyncSession, appeal: Appeal, status: str, actor: str) -> None:
    if status not in SETTABLE:
        raise AppealError("KB_APPEAL_BAD_STATUS", texts.BAD_STATUS, "status")
    if status == "answered" and not appeal.answer_text:
        raise AppealError("KB_APPEAL_NOT_ANSWERED", texts.ANSWER_FIRST, "status")
    if appeal.status == status:
        return
    appeal.status = status
    _history(session, appeal, "status", None, actor)
    await _topic(session, appeal)


def answerable(appeal: Appeal, text: str) -> None:
    """AppealError unless this text may go out as the appeal's answer now."""
    if not text.strip():
        raise AppealError("KB_APPEAL_EMPTY_ANSWER", texts.ANSWER_EMPTY, "text")
    if appeal.status == "closed":
        raise AppealError("KB_APPEAL_CLOSED", texts.CLOSED)


async def answer(session: AsyncSession, ctx: Context, appeal: Appeal, text: str, actor: str
                 ) -> str:
    """The official answer: stored for the status page, mailed to the citizen; returns the
    outbox key of the bot's confirmation (files sent in reply to it join the answer)."""
    answerable(appeal, text)
    appeal.answer_text = text.strip()
    appeal.answered_at = utcnow()
    appeal.status = "answered"
    session.add(AppealMessage(appeal_id=appeal.id, author="deputy", kind="answer",
                              text=appeal.answer_text))
    _history(session, appeal, "answered", None, actor)
    await _topic(session, appeal)
    if appeal.email:
        subject, body = texts.answer_mail(appeal)
        await mailqueue.enqueue(session, f"appeal:{appeal.id}:answer:{appeal.messages_seq + 1}",
                                appeal.email, subject, body)
    key = await _notice(session, appeal, "answered",
                        texts.answer_confirmation(appeal, ctx.mail_configured))
    appeal.answer_prompt_key = key
    return key


async def add_answer_file(session: AsyncSession, appeal: Appeal, f: StoredFile,
                          source_event: str, origin: str = "answer") -> bool:
    """A file sent in reply to the answer confirmation becomes part of the answer, or (origin
    "pending") to the preview, part of it once confirmed; once per Matrix event."""
    if await session.scalar(select(AppealAttachment.id)
                            .where(AppealAttachment.source_event == source_event)):
        return False
    session.add(AppealAttachment(appeal_id=appeal.id, origin=origin, sha256=f.sha256,
                                 name=f.name, mimetype=f.mimetype, size=f.size,
                                 source_event=source_event))
    await session.flush()
    return True


async def extend(session: AsyncSession, ctx: Context, appeal: Appeal, days: int, reason: str,
                 actor: str) -> None:
    """art. 20: extend the term with notice to the citizen, 45 days in total at most."""
    if appeal.status not in OPEN:
        raise AppealError("KB_APPEAL_NOT_OPEN", texts.NOT_OPEN)
    if not reason.strip():
        raise AppealError("KB_APPEAL_NO_REASON", texts.EXTEND_REASON, "reason")
    try:
        appeal.deadline = deadlines.extend(appeal.received_on, appeal.deadline, days)
    except deadlines.DeadlineError as exc:
        raise AppealError(exc.code, exc.message, exc.field) from None
    _history(session, appeal, "extended", f"+{days}: {reason.strip()}", actor)
    await _topic(session, appeal)
    if appeal.email:
        subject, body = texts.extension_mail(appeal, days, reason.strip())
        await mailqueue.enqueue(session, f"appeal:{appeal.id}:extend:{appeal.topic_version}",
                                appeal.email, subject, body)


async def transfer(session: AsyncSession, appeal: Appeal, deputy: str, actor: str) -> None:
    """Hand the appeal to another deputy: they are invited, the previous one leaves."""
    if appeal.status == "closed":
        raise AppealError("KB_APPEAL_CLOSED", texts.CLOSED)
    if appeal.responsible == deputy:
        raise AppealError("KB_APPEAL_SAME_DEPUTY", texts.SAME_DEPUTY, "deputy")
    appeal.responsible = deputy
    appeal.members_version += 1
    _history(session, appeal, "transferred", None, actor)


async def take(session: AsyncSession, appeal: Appeal, deputy: str, actor: str) -> None:
    """A district appeal: one of the district's deputies takes it; the others leave."""
    if appeal.addressee_kind != "district" or appeal.responsible:
        raise AppealError("KB_APPEAL_NOT_TAKEABLE", texts.NOT_TAKEABLE)
    if deputy not in (appeal.candidates or []):
        raise AppealError("KB_APPEAL_NOT_CANDIDATE", texts.NOT_CANDIDATE)
    appeal.responsible = deputy
    appeal.members_version += 1
    if appeal.status == "registered":
        appeal.status = "in_progress"
    _history(session, appeal, "taken", None, actor)
    await _topic(session, appeal)


async def follow_up(session: AsyncSession, ctx: Context, appeal: Appeal, text: str,
                    files: tuple[StoredFile, ...] = ()) -> None:
    """A citizen's later message or document: into the room, as the citizen's ghost."""
    if appeal.status == "closed":
        raise AppealError("KB_APPEAL_CLOSED", texts.CLOSED)
    if text.strip():
        appeal.messages_seq += 1
        session.add(AppealMessage(appeal_id=appeal.id, author="citizen", kind="text", text=text))
        await outbox.enqueue(session, f"appeal:{appeal.id}:followup:{appeal.messages_seq}",
                             room_ref(appeal.id), "m.room.message",
                             {"msgtype": "m.text", "body": text}, sender=ctx.ghost(appeal.id))
    await _post_files(session, ctx, appeal, files, "citizen", "followup-file")
    _history(session, appeal, "message", None, "citizen")


async def mail_outcome(session: AsyncSession, job_id: int) -> bool:
    """The appeal's room is told that its answer's or extension's e-mail was sent, or that an
    e-mail (a receipt too) could not be delivered; True if a notice was queued. Said once per
    mail and outcome (the outbox key)."""
    job = await session.get(mailqueue.MailJob, job_id)
    parts = job.key.split(":") if job is not None else []
    if job is None or len(parts) < 3 or parts[0] != "appeal" or not parts[1].isdigit():
        return False
    kind = parts[2]
    if job.status not in ("sent", "failed") or (job.status == "sent" and kind == "receipt"):
        return False  # a receipt's sending is no news for the room
    appeal = await session.get(Appeal, int(parts[1]))
    if appeal is None:
        return False
    return await outbox.enqueue(
        session, f"appeal:{appeal.id}:mail:{job.id}:{job.status}", room_ref(appeal.id),
        "m.room.message", texts.notice(texts.mail_outcome(appeal, kind, job.status, job.last_error)))


async def release_room_messages(session: AsyncSession, appeal_id: int) -> None:
    """The room exists now: messages that were deferred waiting for it may go at once."""
    await session.execute(update(OutboxMessage).where(
        OutboxMessage.room_id == room_ref(appeal_id), OutboxMessage.status == "pending",
        OutboxMessage.attempts == 0).values(next_attempt_at=utcnow()))


async def remind(session: AsyncSession, today: date) -> int:
    """art. 20 reminders for open appeals: in the appeal room and in the responsible deputy's
    cabinet room, 3 days before and on the day; overdue once a day. Keys make each once."""
    rows = (await session.scalars(select(Appeal).where(
        Appeal.status.in_(OPEN), Appeal.deadline <= today + deadlines_window()))).all()
    sent = 0
    for appeal in rows:
        due = deadlines.reminder_due(appeal.deadline, today)
        if due is None:
            continue
        stamp = today.isoformat() if due.kind == "overdue" else appeal.deadline.isoformat()
        body = texts.reminder(appeal, due.kind)
        added = await outbox.enqueue(session, f"appeal:{appeal.id}:remind:{due.kind}:{stamp}",
                                     room_ref(appeal.id), "m.room.message", texts.notice(body))
        if appeal.responsible:
            await outbox.enqueue(
                session, f"appeal:{appeal.id}:remind-cabinet:{due.kind}:{stamp}",
                rooms.placeholder(rooms.cabinet(appeal.responsible)), "m.room.message",
                texts.notice(body))
        sent += int(added)
    return sent


def deadlines_window() -> timedelta:
    return timedelta(days=deadlines.REMIND_BEFORE_DAYS)
