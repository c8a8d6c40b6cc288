"""The mail channel of the outbox: e-mail to citizens is a row here first, written in the same
transaction as the appeal change that causes it; a worker (bridges/mail.py) sends it, with the
outbox's one retry policy (council/outbox/policy.py). A mail server that is down never blocks
or loses an appeal. And the checks of an address, at intake and again before sending.
"""

from __future__ import annotations

from datetime import datetime

from email_validator import EmailNotValidError, ValidatedEmail, validate_email
from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from council.models import Base, BigId, utcnow
from council.outbox import policy
from council.store import Store


class MailJob(Base):
    __tablename__ = "mail_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)  # deterministic: enqueue once
    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=policy.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


async def enqueue(session: AsyncSession, key: str, to_addr: str, subject: str, body: str) -> bool:
    if await session.scalar(select(MailJob.id).where(MailJob.key == key)):
        return False
    session.add(MailJob(**job_values(key, to_addr, subject, body)))
    await session.flush()
    return True


def job_values(key: str, to_addr: str, subject: str, body: str) -> dict[str, str]:
    """The row `enqueue` adds, as values, for a caller whose keys are new by construction (see
    council.outbox.matrix.message_values)."""
    return {"key": key, "to_addr": to_addr, "subject": subject, "body": body}


async def due(store: Store, limit: int = 20) -> list[MailJob]:
    """The oldest jobs whose time has come (the policy's due filter, in SQL)."""
    async with store.session() as s:
        return list((await s.scalars(
            select(MailJob).where(policy.is_due(MailJob, utcnow()))
            .order_by(MailJob.id).limit(limit))).all())


async def mark_attempt(store: Store, job_id: int) -> None:
    await policy.mark_attempt(store, MailJob, job_id)


async def mark_sent(store: Store, job_id: int) -> None:
    await policy.mark_sent(store, MailJob, job_id)


async def mark_failed(store: Store, job: MailJob, error: str, *, permanent: bool = False) -> None:
    """The attempt after `job.attempts` earlier ones failed: the policy backs off or parks."""
    await policy.mark_failed(store, MailJob, job.id, job.attempts + 1, error, permanent=permanent)


async def counts(store: Store) -> dict[str, int]:
    return await policy.counts(store, MailJob)


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
