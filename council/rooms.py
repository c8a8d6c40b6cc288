"""Managed rooms: their keys (the one spelling of every room's identity) and the registry of
what the appservice has provisioned (managed rooms and the council's Matrix accounts).

A key names a room for its whole life: the registry maps it to a room id, the appservice
derives the room's alias from it (`#kabinet_commission_budget`), and the outbox addresses
a room not made yet by `placeholder(key)` (`$room:commission:budget`). Build keys here only.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox
from council.models import CouncilAccount, ManagedRoom
from council.store import Store

# -- keys ---------------------------------------------------------------------------------------


def announcements() -> str:
    return "announcements"


def lounge() -> str:
    return "lounge"


def secretariat() -> str:
    """The secretariat's own room: the bot reports there what needs staff (a failing feed)."""
    return "secretariat"


def council_space() -> str:
    return "council"


def commissions_space() -> str:
    return "commissions"


def sittings_space() -> str:
    return "sittings"


def commission(commission_id: str) -> str:
    return f"commission:{commission_id}"


def cabinet(deputy_id: str) -> str:
    return f"cabinet:{deputy_id}"


def notes(deputy_id: str) -> str:
    return f"notes:{deputy_id}"


def cabinet_space(deputy_id: str) -> str:
    return f"cabinet_space:{deputy_id}"


def sitting(sitting_id: int) -> str:
    return f"sitting:{sitting_id}"


def appeal(appeal_id: int) -> str:
    return f"appeal:{appeal_id}"


def family(key: str) -> str:
    """What a key is before its colon: `commission` for `commission:budget`."""
    return key.split(":", 1)[0]


# The families of rooms the roster defines; rooms of other families (sittings, appeals) belong to
# their features and are never retired or unlinked by the roster's reconciliation.
ROSTER_FAMILIES = frozenset(family(k) for k in (
    announcements(), lounge(), secretariat(), commissions_space(), sittings_space(), council_space(),
    commission(""), cabinet(""), notes(""), cabinet_space("")))


def placeholder(key: str) -> str:
    """The outbox's stand-in for a managed room's id, resolved when the room exists."""
    return outbox.ROOM_REF + key


# -- the registry ---------------------------------------------------------------------------------


async def room_map(store: Store) -> dict[str, str]:
    """Managed room key -> room id."""
    async with store.session() as s:
        rows = await s.execute(select(ManagedRoom.key, ManagedRoom.room_id))
        return dict(rows.all())


async def room_id(store: Store, key: str) -> str | None:
    async with store.session() as s:
        return await s.scalar(select(ManagedRoom.room_id).where(ManagedRoom.key == key))


async def room_ids(store: Store, keys: Iterable[str]) -> dict[str, str]:
    """key -> room id for those of `keys` that are recorded."""
    async with store.session() as s:
        rows = await s.execute(select(ManagedRoom.key, ManagedRoom.room_id)
                               .where(ManagedRoom.key.in_(list(keys))))
        return dict(rows.all())


async def rooms_by_kind(store: Store, kind: str) -> dict[str, str]:
    """ref -> room id for every managed room of one kind."""
    async with store.session() as s:
        rows = await s.execute(select(ManagedRoom.ref, ManagedRoom.room_id)
                               .where(ManagedRoom.kind == kind))
        return dict(rows.all())


async def remember_room(session: AsyncSession, key: str, kind: str, ref: str, room_id: str) -> None:
    """Record a room in the caller's unit of work (with whatever else must commit with it)."""
    await session.merge(ManagedRoom(key=key, kind=kind, ref=ref, room_id=room_id))


async def save_room(store: Store, key: str, kind: str, ref: str, room_id: str) -> None:
    async with store.session() as s:
        await remember_room(s, key, kind, ref, room_id)


async def known_accounts(store: Store) -> dict[str, CouncilAccount]:
    async with store.session() as s:
        rows = await s.scalars(select(CouncilAccount))
        return {a.mxid: a for a in rows}


async def remember_accounts(session: AsyncSession, accounts: list[CouncilAccount]) -> None:
    for account in accounts:
        await session.merge(account)
