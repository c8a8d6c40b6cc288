"""Where a sitting is in Matrix, for links from the web: its room, once the appservice has made
it, and each draft version's file message in that room, once it has been delivered. Read only:
the registry (managed_rooms) and the outbox's delivered event ids (outbox.event_id, written by
appservice/delivery.py when the homeserver answered) say it; a queued draft has no event yet.

A version's message is the outbox row `publishing._file_key(item, version, "sitting")`, except
a first version dropped into the room from Element, which is its own event
(`AgendaItem.room_event_id`, never posted again)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, and_, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from council import rooms
from council.models import ManagedRoom, OutboxMessage
from council.sittings.publishing import _file_key
from council.sittings.tables import AgendaItem, DraftVersion


@dataclass(frozen=True)
class MatrixPlaces:
    room_id: str | None  # None: the room is not made yet
    events: dict[tuple[int, int], str] = field(default_factory=dict)  # (item, version) -> event


def _key_sql(item_id: Any, version: Any) -> Any:
    """`_file_key(item, version, "sitting")` as SQL, so that a revision can count deliveries."""
    return (literal("draft:") + cast(item_id, String) + literal(":v") + cast(version, String)
            + literal(":sitting"))


async def matrix_places(session: AsyncSession, sitting_id: int) -> MatrixPlaces:
    room_id = await session.scalar(select(ManagedRoom.room_id)
                                   .where(ManagedRoom.key == rooms.sitting(sitting_id)))
    if room_id is None:
        return MatrixPlaces(None)
    rows = (await session.execute(
        select(AgendaItem.id, AgendaItem.room_event_id, DraftVersion.version)
        .join(DraftVersion, DraftVersion.item_id == AgendaItem.id)
        .where(AgendaItem.sitting_id == sitting_id))).all()
    events: dict[tuple[int, int], str] = {}
    keys: dict[str, tuple[int, int]] = {}
    for item_id, dropped, version in rows:
        if version == 1 and dropped:
            events[(item_id, version)] = dropped
        else:
            keys[_file_key(item_id, version, "sitting")] = (item_id, version)
    if keys:
        sent = await session.execute(select(OutboxMessage.key, OutboxMessage.event_id).where(
            OutboxMessage.key.in_(list(keys)), OutboxMessage.event_id.is_not(None)))
        for key, event_id in sent.all():
            if event_id is not None:
                events[keys[key]] = event_id
    return MatrixPlaces(room_id, events)


def revision_columns(sid: Any, room_key: Any) -> tuple[Any, Any]:
    """Two columns that change when `matrix_places` would answer differently: the room's id and
    how many of the sitting's version messages are delivered (an event id, once written, stays).
    `sid` and `room_key` (`rooms.sitting(sid)`) are SQL expressions, e.g. bound parameters."""
    room = select(ManagedRoom.room_id).where(ManagedRoom.key == room_key).scalar_subquery()
    keys = (select(_key_sql(DraftVersion.item_id, DraftVersion.version))
            .join(AgendaItem, AgendaItem.id == DraftVersion.item_id)
            .where(AgendaItem.sitting_id == sid))
    delivered = (select(func.count()).select_from(OutboxMessage)
                 .where(and_(OutboxMessage.key.in_(keys), OutboxMessage.event_id.is_not(None)))
                 .scalar_subquery())
    return room, delivered
