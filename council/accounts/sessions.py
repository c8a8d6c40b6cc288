"""Web sessions and one-time sign-in links: random tokens handed out once, stored as SHA-256.

A session is found by its token while it has not ended or expired; ending one (sign-out) or
all of a person's (sign-out everywhere) takes effect on the next request, whatever cookie a
thief kept. A link is used at most once: the first request that marks it used wins, even if
two arrive together (one UPDATE ... WHERE used_at IS NULL).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from council.accounts.tables import CabinetVisit, SignInLink, WebSession
from council.store import affected, dialect
from council.types import utcnow

SESSION_LIFETIME = timedelta(days=14)
LINK_LIFETIME = timedelta(minutes=10)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(session: AsyncSession, mxid: str, via: str,
                        lifetime: timedelta = SESSION_LIFETIME) -> str:
    """A new session for `mxid`; the token (the cookie's value) is returned and never stored."""
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_hash=token_hash(token), mxid=mxid, via=via,
                           expires_at=utcnow() + lifetime))
    await session.flush()
    return token


async def find_session(session: AsyncSession, token: str, now: datetime | None = None
                       ) -> WebSession | None:
    now = now or utcnow()
    return await session.scalar(select(WebSession).where(
        WebSession.token_hash == token_hash(token), WebSession.ended_at.is_(None),
        WebSession.expires_at > now))


async def end_session(session: AsyncSession, token: str) -> bool:
    result = await session.execute(update(WebSession).where(
        WebSession.token_hash == token_hash(token), WebSession.ended_at.is_(None))
        .values(ended_at=utcnow()))
    return affected(result) == 1


async def end_all(session: AsyncSession, mxid: str) -> int:
    """Every open session of this person: sign-out everywhere."""
    result = await session.execute(update(WebSession).where(
        WebSession.mxid == mxid, WebSession.ended_at.is_(None)).values(ended_at=utcnow()))
    return affected(result)


async def open_sessions(session: AsyncSession, mxid: str) -> list[WebSession]:
    return list(await session.scalars(select(WebSession).where(
        WebSession.mxid == mxid, WebSession.ended_at.is_(None), WebSession.expires_at > utcnow())
        .order_by(WebSession.created_at.desc())))


async def new_link(session: AsyncSession, mxid: str, lifetime: timedelta = LINK_LIFETIME
                   ) -> tuple[int, str]:
    """A one-time link's id and token (the token goes into the message, never the store)."""
    token = secrets.token_urlsafe(32)
    link = SignInLink(token_hash=token_hash(token), mxid=mxid, expires_at=utcnow() + lifetime)
    session.add(link)
    await session.flush()
    return link.id, token


async def use_link(session: AsyncSession, token: str, now: datetime | None = None) -> str | None:
    """The link's Matrix id if it was unused and fresh (it is used now), else None."""
    now = now or utcnow()
    digest = token_hash(token)
    result = await session.execute(update(SignInLink).where(
        SignInLink.token_hash == digest, SignInLink.used_at.is_(None),
        SignInLink.expires_at > now).values(used_at=now))
    if affected(result) != 1:
        return None
    return await session.scalar(select(SignInLink.mxid).where(SignInLink.token_hash == digest))


async def last_visit(session: AsyncSession, mxid: str) -> datetime | None:
    return await session.scalar(select(CabinetVisit.seen_at).where(CabinetVisit.mxid == mxid))


async def mark_visit(session: AsyncSession, mxid: str, when: datetime | None = None) -> None:
    """Now is the last visit; two visits at once are one row (an upsert, not a read then an
    insert, which two requests could both do)."""
    when = when or utcnow()
    table = CabinetVisit.__table__
    assert isinstance(table, Table)
    insert = sqlite_insert if dialect(session) == "sqlite" else pg_insert
    stmt = insert(table).values(mxid=mxid, seen_at=when)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[table.c.mxid], set_={"seen_at": when}))
