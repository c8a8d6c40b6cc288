"""The durable mail outbox: e-mail to citizens is a row here first, written in the same
transaction as the appeal change that causes it; a worker (bridges/mail.py) sends it,
retrying with backoff. A mail server that is down never blocks or loses an appeal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from email_validator import EmailNotValidError, ValidatedEmail, validate_email
from sqlalchemy import DateTime, String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from council.models import Base, BigId, utcnow
from council.store import Store

MAX_BACKOFF = timedelta(minutes=30)
MAX_ATTEMPTS = 50  # about a day of retries at the maximum backoff, then parked as failed


class MailJob(Base):
    __tablename__ = "mail_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)  # deterministic: enqueue once
    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


async def enqueue(session: AsyncSession, key: str, to_addr: str, subject: str, body: str) -> bool:
    if await session.scalar(select(MailJob.id).where(MailJob.key == key)):
        return False
    session.add(MailJob(key=key, to_addr=to_addr, subject=subject, body=body))
    await session.flush()
    return True


async def due(store: Store, limit: int = 20) -> list[MailJob]:
    """The oldest jobs whose time has come. The time is compared in SQL, so many jobs backing
    off never hide a due one. Both back ends compare correctly: PostgreSQL has timestamptz, and
    SQLite stores these columns as UTC text without an offset (we write only utcnow()), which
    sorts as time does."""
    async with store.session() as s:
        return list((await s.scalars(
            select(MailJob).where(MailJob.status == "pending", MailJob.next_attempt_at <= utcnow())
            .order_by(MailJob.id).limit(limit))).all())


async def mark_sent(store: Store, job_id: int) -> None:
    async with store.session() as s:
        await s.execute(update(MailJob).where(MailJob.id == job_id).values(
            status="sent", sent_at=utcnow(), last_error=None))


async def mark_failed(store: Store, job: MailJob, error: str, *, permanent: bool = False) -> None:
    attempts = job.attempts + 1
    delay = min(timedelta(seconds=2 ** min(attempts, 16)), MAX_BACKOFF)
    parked = permanent or attempts >= MAX_ATTEMPTS
    async with store.session() as s:
        await s.execute(update(MailJob).where(MailJob.id == job.id).values(
            attempts=attempts, last_error=error[:2000], status="failed" if parked else "pending",
            next_attempt_at=utcnow() + delay))


class BadAddress(ValueError):
    """An e-mail address that is not a valid, sendable mailbox (the message says why)."""


def _validated(addr: str) -> ValidatedEmail:
    # Syntax only: intake must not wait for DNS, and the SMTP server judges deliverability.
    # No quoted local parts, no domain literals: only plain mailboxes a citizen really has.
    try:
        return validate_email(addr, check_deliverability=False)
    except EmailNotValidError as exc:
        raise BadAddress(str(exc)) from None


def normalize_address(addr: str) -> str:
    """The address as stored: checked by email-validator and normalized (domain lower-cased,
    Unicode NFC). Raises BadAddress."""
    return _validated(addr).normalized


def sending_address(addr: str) -> str:
    """The address for RCPT TO and the To header: its ASCII form when it has one (an IDN domain
    as punycode), so only a non-ASCII local part needs the server's SMTPUTF8. Raises BadAddress."""
    checked = _validated(addr)
    return checked.ascii_email or checked.normalized
