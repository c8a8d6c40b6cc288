"""The appeals tables: counters, appeals, their messages, attachments, intake keys, history and
the answers waiting for confirmation."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from council.models import Base, BigId, UTCDateTime, utcnow


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
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date, index=True)
    answer_text: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppealAttachment(Base):
    __tablename__ = "appeal_attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), index=True)
    # citizen | answer | pending (sent with an answer not confirmed yet: shown to nobody else)
    origin: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    mimetype: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Integer)
    source_event: Mapped[str | None] = mapped_column(String(255), unique=True)  # Matrix event
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IntakeKey(Base):
    """An Idempotency-Key (API) or one-time form token that registered an appeal: a retry with
    the same key and the same request gets that appeal again. Only hashes are kept; rows older
    than KEY_RETENTION are pruned."""

    __tablename__ = "intake_keys"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


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
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingAnswer(Base):
    """An `!answer` shown to its author before it goes (council/appeals/answers.py): its text,
    the command it came from (an edit of that command replaces the text) and the bot's preview
    (a ✅ on it confirms). At most one per appeal is `pending`; the others are kept as what
    became of them: sent, cancelled or replaced."""

    __tablename__ = "appeal_pending_answers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|cancelled|replaced
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255))  # who wrote the !answer (Matrix id)
    command_event: Mapped[str] = mapped_column(String(255), unique=True)
    preview_key: Mapped[str] = mapped_column(String(255))  # outbox key of the bot's preview
    revision: Mapped[int] = mapped_column(Integer, default=0)  # edits of the preview so far
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
