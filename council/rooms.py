"""What the appservice has provisioned: managed rooms and the council's Matrix accounts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.models import CouncilAccount, ManagedRoom
from council.store import Store


async def room_map(store: Store) -> dict[str, str]:
    """Managed room key -> room id."""
    async with store.session() as s:
        rows = await s.execute(select(ManagedRoom.key, ManagedRoom.room_id))
        return dict(rows.all())


async def room_id(store: Store, key: str) -> str | None:
    async with store.session() as s:
        return await s.scalar(select(ManagedRoom.room_id).where(ManagedRoom.key == key))


async def rooms_by_kind(store: Store, kind: str) -> dict[str, str]:
    """ref -> room id for every managed room of one kind."""
    async with store.session() as s:
        rows = await s.execute(select(ManagedRoom.ref, ManagedRoom.room_id)
                               .where(ManagedRoom.kind == kind))
        return dict(rows.all())


async def save_room(store: Store, key: str, kind: str, ref: str, room_id: str) -> None:
    async with store.session() as s:
        await s.merge(ManagedRoom(key=key, kind=kind, ref=ref, room_id=room_id))


async def known_accounts(store: Store) -> dict[str, CouncilAccount]:
    async with store.session() as s:
        rows = await s.scalars(select(CouncilAccount))
        return {a.mxid: a for a in rows}


async def remember_accounts(session: AsyncSession, accounts: list[CouncilAccount]) -> None:
    for account in accounts:
        await session.merge(account)
