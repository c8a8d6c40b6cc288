"""Reading appeals: by token or id, their history, attachments and messages, overdue, listing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from council import rooms
from council.appeals.tables import (
    Appeal,
    AppealAttachment,
    AppealEvent,
    AppealMessage,
)
from council.appeals.values import (
    OPEN,
    hash_token,
)
from council.outbox.mail import MailJob
from council.store import dialect


async def by_token(session: AsyncSession, token: str) -> Appeal | None:
    if not token or len(token) > 100:
        return None
    return await session.scalar(select(Appeal).where(Appeal.token_hash == hash_token(token)))


async def by_id(session: AsyncSession, appeal_id: int, *, lock: bool = False) -> Appeal | None:
    query = select(Appeal).where(Appeal.id == appeal_id)
    if lock and dialect(session) == "postgresql":
        query = query.with_for_update()
    return await session.scalar(query)


async def history(session: AsyncSession, appeal_id: int) -> list[AppealEvent]:
    return list((await session.scalars(select(AppealEvent).where(AppealEvent.appeal_id == appeal_id)
                                       .order_by(AppealEvent.id))).all())


async def attachments(session: AsyncSession, appeal_id: int) -> list[AppealAttachment]:
    """The citizen's files and the answer's; not those of an answer still waiting to be
    confirmed (council/appeals/answers.py)."""
    return list((await session.scalars(
        select(AppealAttachment).where(AppealAttachment.appeal_id == appeal_id,
                                       AppealAttachment.origin != "pending")
        .order_by(AppealAttachment.id))).all())


async def messages(session: AsyncSession, appeal_id: int) -> list[AppealMessage]:
    return list((await session.scalars(select(AppealMessage).where(
        AppealMessage.appeal_id == appeal_id).order_by(AppealMessage.id))).all())


async def mails(session: AsyncSession, appeal_id: int) -> list[MailJob]:
    """The e-mails to the citizen about this appeal, oldest first (their keys name it)."""
    return list((await session.scalars(select(MailJob).where(
        MailJob.key.startswith(f"{mail_prefix(appeal_id)}:")).order_by(MailJob.id))).all())


def mail_prefix(appeal_id: int) -> str:
    """An appeal's mail keys start with its key (`appeal:12:receipt`, `appeal:12:answer:3`)."""
    return rooms.appeal(appeal_id)


async def overdue(session: AsyncSession, today: date) -> list[Appeal]:
    return list((await session.scalars(select(Appeal).where(
        Appeal.status.in_(OPEN), Appeal.deadline < today).order_by(Appeal.deadline))).all())


async def listing(session: AsyncSession) -> list[Appeal]:
    return list((await session.scalars(select(Appeal).order_by(Appeal.id))).all())
