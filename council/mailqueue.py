"""The durable mail outbox: e-mail to citizens is a row here first, written in the same
transaction as the appeal change that causes it; a worker (bridges/mail.py) sends it,
retrying with backoff. A mail server that is down never blocks or loses an appeal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

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
    now = utcnow()
    async with store.session() as s:
        rows = (await s.scalars(select(MailJob).where(MailJob.status == "pending")
                                .order_by(MailJob.id).limit(limit * 4))).all()
    return [r for r in rows if _aware(r.next_attempt_at) <= now][:limit]


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


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)
