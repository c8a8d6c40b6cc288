"""Citizens' appeals (Law "Про звернення громадян"): the tables and what may happen to them.

Every operation runs inside the caller's unit of work and writes, in that same transaction,
the appeal change, its history event, the Matrix messages (outbox, room `$room:appeal:<id>`)
and the e-mail to the citizen (mail queue), so a crash never leaves one without the others.
Personal data (name, residence, contacts) is kept here and posted only into the appeal room;
it never goes into room names, topics, history notes or logs.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from council import appeal_texts as texts
from council import deadlines, mailqueue, outbox
from council.models import Base, BigId, OutboxMessage, utcnow

STATUSES = ("registered", "in_progress", "answered", "closed")
SETTABLE = ("in_progress", "answered", "closed")
OPEN = ("registered", "in_progress")
TOKEN_BYTES = 24  # 192 bits; only its sha256 is stored
KEY_RETENTION = timedelta(hours=24)  # an Idempotency-Key / form token names its appeal this long


class AppealError(ValueError):
    """A request the rules refuse; the message is bilingual and safe to show."""


class AppealCounter(Base):
    """Registration numbers: one row per year, incremented inside the registering transaction
    (the row lock on PostgreSQL, the write lock on SQLite make numbers unique and gapless)."""

    __tablename__ = "appeal_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Appeal(Base):
    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # Д-2026/000123
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    idem_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    type: Mapped[str] = mapped_column(String(16), default="application")
    status: Mapped[str] = mapped_column(String(16), default="registered", index=True)
    name: Mapped[str] = mapped_column(String(200))
    residence: Mapped[str] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    addressee_kind: Mapped[str] = mapped_column(String(16))  # deputy | district | unknown
    addressee_deputy: Mapped[str | None] = mapped_column(String(64))
    addressee_district: Mapped[int | None] = mapped_column(Integer)
    responsible: Mapped[str | None] = mapped_column(String(64))  # roster id of the deputy
    candidates: Mapped[list[str]] = mapped_column(JSON, default=list)  # district deputies
    subject: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(8), default="uk")
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    received_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date, index=True)
    answer_text: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answer_prompt_key: Mapped[str | None] = mapped_column(String(255))
    room_ready: Mapped[bool] = mapped_column(default=False, index=True)
    # The bridge brings the room's members and space parents in line when these differ.
    members_version: Mapped[int] = mapped_column(Integer, default=1)
    members_done: Mapped[int] = mapped_column(Integer, default=0)
    parents: Mapped[list[str]] = mapped_column(JSON, default=list)  # deputies whose space holds it
    topic_version: Mapped[int] = mapped_column(Integer, default=0)
    messages_seq: Mapped[int] = mapped_column(Integer, default=0)

    def members(self) -> list[str]:
        """Deputies (roster ids) who belong in the room besides the secretariat."""
        if self.responsible:
            return [self.responsible]
        return list(self.candidates or [])


class AppealMessage(Base):
    __tablename__ = "appeal_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # citizen | deputy
    kind: Mapped[str] = mapped_column(String(16))  # text | answer
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AppealAttachment(Base):
    __tablename__ = "appeal_attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), index=True)
    origin: Mapped[str] = mapped_column(String(16))  # citizen | answer
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    mimetype: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Integer)
    source_event: Mapped[str | None] = mapped_column(String(255), unique=True)  # Matrix event
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IntakeKey(Base):
    """An Idempotency-Key (API) or one-time form token that registered an appeal: a retry with
    the same key and the same request gets that appeal again. Only hashes are kept; rows older
    than KEY_RETENTION are pruned."""

    __tablename__ = "intake_keys"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class AppealEvent(Base):
    """Status history, shown to the citizen: notes never hold personal data."""

    __tablename__ = "appeal_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), index=True)
    # registered, status, answered, extended, transferred, taken, message
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    name: str
    mimetype: str
    size: int


@dataclass(frozen=True)
class NewAppeal:
    name: str
    residence: str
    subject: str
    text: str
    email: str | None = None
    phone: str | None = None
    addressee_kind: str = "unknown"
    addressee_deputy: str | None = None
    addressee_district: int | None = None
    candidates: tuple[str, ...] = ()
    type: str = "application"
    lang: str = "uk"
    attachments: tuple[StoredFile, ...] = ()
    idem_key: str | None = None


@dataclass(frozen=True)
class Idempotency:
    """A retry-safe registration: the scoped key's hash, the request's hash, and the status
    token the appeal gets (derived from the key by the caller, so a replay can answer it)."""

    key_hash: str
    request_hash: str
    token: str


class KeyReused(AppealError):
    """The key already registered a different request."""


@dataclass(frozen=True)
class Context:
    """What the rules need from configuration: where the status page lives, terms per type,
    the ghost users' namespace, and the council's time zone (the law counts local dates)."""

    server_name: str
    ghost_prefix: str
    base_url: str
    terms: dict[str, Any] = field(default_factory=lambda: dict(deadlines.DEFAULT_TERMS))
    tz: tzinfo = deadlines.COUNCIL_TZ

    def ghost(self, appeal_id: int) -> str:
        return f"@{self.ghost_prefix}citizen_{appeal_id}:{self.server_name}"

    def status_url(self, token: str) -> str:
        return f"{self.base_url}/appeals/{token}"


def room_key(appeal_id: int) -> str:
    return f"appeal:{appeal_id}"


def room_ref(appeal_id: int) -> str:
    return outbox.ROOM_REF + room_key(appeal_id)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def format_number(year: int, seq: int) -> str:
    return f"Д-{year}/{seq:06d}"


async def next_number(session: AsyncSession, year: int) -> str:
    """Must be the first statement of the registering transaction: on SQLite a write taken
    first cannot meet a stale read snapshot; on PostgreSQL the UPDATE locks the year's row."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(AppealCounter).values(year=year, last=0)
                          .on_conflict_do_nothing(index_elements=["year"]))
    seq = await session.scalar(update(AppealCounter).where(AppealCounter.year == year)
                               .values(last=AppealCounter.last + 1).returning(AppealCounter.last))
    return format_number(year, int(seq))


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
    registered_at = now or utcnow()
    today = today or deadlines.local_date(registered_at, ctx.tz)
    number = await next_number(session, today.year)
    token = token or secrets.token_urlsafe(TOKEN_BYTES)
    appeal = Appeal(
        number=number, token_hash=hash_token(token), idem_key=new.idem_key, type=new.type,
        status="registered", name=new.name, residence=new.residence, email=new.email,
        phone=new.phone, addressee_kind=new.addressee_kind, addressee_deputy=new.addressee_deputy,
        addressee_district=new.addressee_district, candidates=list(new.candidates),
        responsible=new.addressee_deputy if new.addressee_kind == "deputy" else None,
        subject=new.subject, text=new.text, lang=new.lang, registered_at=registered_at,
        received_on=today, deadline=deadlines.answer_deadline(today, new.type, ctx.terms),
        room_ready=False, members_version=1, members_done=0, parents=[], topic_version=0,
        messages_seq=0)
    session.add(appeal)
    await session.flush()
    session.add(AppealMessage(appeal_id=appeal.id, author="citizen", kind="text", text=new.text))
    _history(session, appeal, "registered", None, "citizen")
    room = room_ref(appeal.id)
    await outbox.enqueue(session, f"appeal:{appeal.id}:card", room, "m.room.message",
                         texts.notice(texts.card(appeal)))
    await outbox.enqueue(session, f"appeal:{appeal.id}:text", room, "m.room.message",
                         {"msgtype": "m.text", "body": new.text}, sender=ctx.ghost(appeal.id))
    await _post_files(session, ctx, appeal, new.attachments, "citizen", "file")
    if appeal.email:
        subject, body = texts.receipt_mail(appeal, ctx.status_url(token))
        await mailqueue.enqueue(session, f"appeal:{appeal.id}:receipt", appeal.email, subject, body)
    return appeal, token


async def _post_files(session: AsyncSession, ctx: Context, appeal: Appeal,
                      files: tuple[StoredFile, ...], origin: str, tag: str) -> None:
    for f in files:
        appeal.messages_seq += 1
        session.add(AppealAttachment(appeal_id=appeal.id, origin=origin, sha256=f.sha256,
                                     name=f.name, mimetype=f.mimetype, size=f.size))
        msgtype = "m.image" if f.mimetype.startswith("image/") else "m.file"
        await outbox.enqueue(
            session, f"appeal:{appeal.id}:{tag}:{appeal.messages_seq}", room_ref(appeal.id),
            "m.room.message", {"msgtype": msgtype, "body": f.name,
                               "info": {"mimetype": f.mimetype, "size": f.size}},
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
        raise AppealError(texts.BAD_STATUS)
    if status == "answered" and not appeal.answer_text:
        raise AppealError(texts.ANSWER_FIRST)
    if appeal.status == status:
        return
    appeal.status = status
    _history(session, appeal, "status", None, actor)
    await _topic(session, appeal)


async def answer(session: AsyncSession, ctx: Context, appeal: Appeal, text: str, actor: str
                 ) -> str:
    """The official answer: stored for the status page, mailed to the citizen; returns the
    outbox key of the bot's confirmation (files sent in reply to it join the answer)."""
    if not text.strip():
        raise AppealError(texts.ANSWER_EMPTY)
    if appeal.status == "closed":
        raise AppealError(texts.CLOSED)
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
    key = await _notice(session, appeal, "answered", texts.answer_confirmation(appeal))
    appeal.answer_prompt_key = key
    return key


async def add_answer_file(session: AsyncSession, appeal: Appeal, f: StoredFile,
                          source_event: str) -> bool:
    """A file sent in reply to the answer confirmation becomes part of the answer (once)."""
    if await session.scalar(select(AppealAttachment.id)
                            .where(AppealAttachment.source_event == source_event)):
        return False
    session.add(AppealAttachment(appeal_id=appeal.id, origin="answer", sha256=f.sha256,
                                 name=f.name, mimetype=f.mimetype, size=f.size,
                                 source_event=source_event))
    await session.flush()
    return True


async def extend(session: AsyncSession, ctx: Context, appeal: Appeal, days: int, reason: str,
                 actor: str) -> None:
    """art. 20: extend the term with notice to the citizen, 45 days in total at most."""
    if appeal.status not in OPEN:
        raise AppealError(texts.NOT_OPEN)
    if not reason.strip():
        raise AppealError(texts.EXTEND_REASON)
    try:
        appeal.deadline = deadlines.extend(appeal.received_on, appeal.deadline, days)
    except deadlines.DeadlineError as exc:
        raise AppealError(str(exc)) from None
    _history(session, appeal, "extended", f"+{days}: {reason.strip()}", actor)
    await _topic(session, appeal)
    if appeal.email:
        subject, body = texts.extension_mail(appeal, days, reason.strip())
        await mailqueue.enqueue(session, f"appeal:{appeal.id}:extend:{appeal.topic_version}",
                                appeal.email, subject, body)


async def transfer(session: AsyncSession, appeal: Appeal, deputy: str, actor: str) -> None:
    """Hand the appeal to another deputy: they are invited, the previous one leaves."""
    if appeal.status == "closed":
        raise AppealError(texts.CLOSED)
    if appeal.responsible == deputy:
        raise AppealError(texts.SAME_DEPUTY)
    appeal.responsible = deputy
    appeal.members_version += 1
    _history(session, appeal, "transferred", None, actor)


async def take(session: AsyncSession, appeal: Appeal, deputy: str, actor: str) -> None:
    """A district appeal: one of the district's deputies takes it; the others leave."""
    if appeal.addressee_kind != "district" or appeal.responsible:
        raise AppealError(texts.NOT_TAKEABLE)
    if deputy not in (appeal.candidates or []):
        raise AppealError(texts.NOT_CANDIDATE)
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
        raise AppealError(texts.CLOSED)
    if text.strip():
        appeal.messages_seq += 1
        session.add(AppealMessage(appeal_id=appeal.id, author="citizen", kind="text", text=text))
        await outbox.enqueue(session, f"appeal:{appeal.id}:followup:{appeal.messages_seq}",
                             room_ref(appeal.id), "m.room.message",
                             {"msgtype": "m.text", "body": text}, sender=ctx.ghost(appeal.id))
    await _post_files(session, ctx, appeal, files, "citizen", "followup-file")
    _history(session, appeal, "message", None, "citizen")


async def by_key(session: AsyncSession, once: Idempotency) -> Appeal | None:
    """The appeal this key registered, or None; KeyReused if it was for another request.
    Run it in a read-only unit of work of its own (see next_number on SQLite snapshots)."""
    row = await session.get(IntakeKey, once.key_hash)
    if row is None:
        return None
    appeal = await by_id(session, row.appeal_id)
    if row.request_hash != once.request_hash or appeal is None \
            or appeal.token_hash != hash_token(once.token):
        raise KeyReused("Цей ключ уже використано для іншого запиту / This key was already used "
                        "for a different request")
    return appeal


async def remember_key(session: AsyncSession, once: Idempotency, appeal_id: int) -> None:
    """In the registering transaction: a concurrent twin fails here on the primary key."""
    session.add(IntakeKey(key_hash=once.key_hash, request_hash=once.request_hash,
                          appeal_id=appeal_id))
    await session.flush()


async def prune_keys(session: AsyncSession, older_than: timedelta = KEY_RETENTION) -> int:
    result = await session.execute(delete(IntakeKey).where(IntakeKey.created_at < utcnow() - older_than))
    return result.rowcount or 0


async def by_token(session: AsyncSession, token: str) -> Appeal | None:
    if not token or len(token) > 100:
        return None
    return await session.scalar(select(Appeal).where(Appeal.token_hash == hash_token(token)))


async def by_id(session: AsyncSession, appeal_id: int, *, lock: bool = False) -> Appeal | None:
    query = select(Appeal).where(Appeal.id == appeal_id)
    if lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return await session.scalar(query)


async def history(session: AsyncSession, appeal_id: int) -> list[AppealEvent]:
    return list((await session.scalars(select(AppealEvent).where(AppealEvent.appeal_id == appeal_id)
                                       .order_by(AppealEvent.id))).all())


async def attachments(session: AsyncSession, appeal_id: int) -> list[AppealAttachment]:
    return list((await session.scalars(
        select(AppealAttachment).where(AppealAttachment.appeal_id == appeal_id)
        .order_by(AppealAttachment.id))).all())


async def messages(session: AsyncSession, appeal_id: int) -> list[AppealMessage]:
    return list((await session.scalars(select(AppealMessage).where(
        AppealMessage.appeal_id == appeal_id).order_by(AppealMessage.id))).all())


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
                f"{outbox.ROOM_REF}cabinet:{appeal.responsible}", "m.room.message",
                texts.notice(body))
        sent += int(added)
    return sent


def deadlines_window() -> timedelta:
    return timedelta(days=deadlines.REMIND_BEFORE_DAYS)


async def overdue(session: AsyncSession, today: date) -> list[Appeal]:
    return list((await session.scalars(select(Appeal).where(
        Appeal.status.in_(OPEN), Appeal.deadline < today).order_by(Appeal.deadline))).all())


async def listing(session: AsyncSession) -> list[Appeal]:
    return list((await session.scalars(select(Appeal).order_by(Appeal.id))).all())
