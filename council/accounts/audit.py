"""The audit log: who did what and when, written in the same unit of work as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts.tables import AuditEntry


def subject(kind: str, ref: object) -> str:
    """The one spelling of what an entry touched: `subject("sitting", 3)` is "sitting:3"."""
    return f"{kind}:{ref}"


async def record(session: AsyncSession, actor: str, action: str, subject: str = "",
                 detail: dict[str, Any] | None = None) -> None:
    """`action` is dotted (`sitting.create`, `appeal.extend`, `signin.password`); `subject`
    names what it touched (`sitting:3`); `detail` holds no personal data of citizens."""
    session.add(AuditEntry(actor=actor, action=action, subject=subject, detail=detail or {}))
    await session.flush()


async def recent(session: AsyncSession, limit: int = 200, *, subject: str | None = None
                 ) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    return list(await session.scalars(query))
