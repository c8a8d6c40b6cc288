"""The durable outbox: everything Kabinet says in Matrix is first a row here.

A row is written in the same database transaction as the decision that caused it
(an appeal, a command), so nothing is lost in a crash; its `key` is deterministic,
so writing it twice is a no-op; the homeserver transaction id derives from the key,
so a retried send is deduplicated by the homeserver. The sender drains rows in id
order per room with exponential backoff.

Two placeholders let a message refer to what does not exist yet when it is written:
- `room_id` may be `$room:<managed room key>` (e.g. `$room:appeal:42`): the message waits
  until that room is in the registry;
- any string in `content` may be `$outbox:<key>` (e.g. a thread reply to a draft's first
  version): replaced by that message's event id once it is sent; the message waits till then.
Use one form of room id per room, so that order within the room holds, and refer only to
messages written earlier (a reference to a later message in the same room would wait forever).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from council.models import OutboxMessage, aware, utcnow
from council.store import Store

MAX_BACKOFF = timedelta(minutes=5)


def txn_id_for(key: str) -> str:
    """The homeserver transaction id for an outbox key: stable across restarts."""
    return "kabinet-" + hashlib.sha256(key.encode()).hexdigest()[:32]


ROOM_REF = "$room:"
EVENT_REF = "$outbox:"


@dataclass(frozen=True)
class Media:
    """A stored blob to upload with the message; delivery puts its mxc URI in content["url"]."""

    sha256: str
    name: str
    mimetype: str


async def enqueue(
    session: AsyncSession, key: str, room_id: str, event_type: str, content: dict[str, Any],
    *, state_key: str | None = None, sender: str | None = None, media: Media | None = None,
) -> bool:
    """Add a message unless one with this key exists; True if added."""
    if await session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)):
        return False
    session.add(OutboxMessage(
        key=key, room_id=room_id, event_type=event_type, content=content, state_key=state_key,
        sender=sender, media_sha256=media.sha256 if media else None,
        media_name=media.name if media else None, media_type=media.mimetype if media else None))
    await session.flush()
    return True


@dataclass(frozen=True)
class Pending:
    id: int
    key: str
    room_id: str
    event_type: str
    state_key: str | None
    content: dict[str, Any]
    sender: str | None
    attempts: int
    media: Media | None = None
    media_mxc: str | None = None
    refs: tuple[str, ...] = field(default=())

    @property
    def txn_id(self) -> str:
        return txn_id_for(self.key)


async def due(store: Store, limit: int = 50, now: datetime | None = None, per_room: int = 1
              ) -> list[Pending]:
    """Pending messages, oldest first: per room, the first `per_room` of its queue, and none
    at all while the room's first message is waiting (order within a room is kept)."""
    now = now or utcnow()
    async with store.session() as s:
        rows = (await s.scalars(
            select(OutboxMessage).where(OutboxMessage.status == "pending")
            .order_by(OutboxMessage.id).limit(limit * 4)
        )).all()
    out: list[Pending] = []
    blocked: set[str] = set()
    taken: dict[str, int] = {}
    for r in rows:
        if r.room_id in blocked:
            continue
        if aware(r.next_attempt_at) > now or taken.get(r.room_id, 0) >= per_room:
            blocked.add(r.room_id)
            continue
        taken[r.room_id] = taken.get(r.room_id, 0) + 1
        media = Media(r.media_sha256, r.media_name or "file", r.media_type or
                      "application/octet-stream") if r.media_sha256 else None
        out.append(Pending(r.id, r.key, r.room_id, r.event_type, r.state_key, r.content,
                           r.sender, r.attempts, media, r.media_mxc, tuple(_refs(r.content))))
        if len(out) >= limit:
            break
    return out


async def mark_sent(store: Store, message_id: int, event_id: str) -> None:
    async with store.session() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
            status="sent", event_id=event_id, sent_at=utcnow(), last_error=None))


async def defer(store: Store, message_id: int, seconds: float) -> None:
    """Not an attempt: what the message refers to (a room, an earlier message) is not there yet."""
    async with store.session() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                        .values(next_attempt_at=utcnow() + timedelta(seconds=seconds)))


async def save_media_mxc(store: Store, message_id: int, mxc: str) -> None:
    """Remember the upload, so a retry sends the same media instead of uploading again."""
    async with store.session() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                        .values(media_mxc=mxc))


async def sent_event_ids(store: Store, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    async with store.session() as s:
        rows = await s.execute(select(OutboxMessage.key, OutboxMessage.event_id)
                               .where(OutboxMessage.key.in_(keys), OutboxMessage.event_id.is_not(None)))
        return dict(rows.all())


def _refs(node: Any) -> list[str]:
    """Every `$outbox:<key>` reference in a content tree."""
    if isinstance(node, str):
        return [node.removeprefix(EVENT_REF)] if node.startswith(EVENT_REF) else []
    if isinstance(node, dict):
        return [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def resolve_refs(node: Any, event_ids: dict[str, str]) -> Any:
    """The content with each `$outbox:<key>` replaced by that message's event id."""
    if isinstance(node, str) and node.startswith(EVENT_REF):
        return event_ids[node.removeprefix(EVENT_REF)]
    if isinstance(node, dict):
        return {k: resolve_refs(v, event_ids) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_refs(v, event_ids) for v in node]
    return node


async def mark_attempt(store: Store, message_id: int) -> None:
    """Recorded before each send: a message with attempts > 0 may already be in the room."""
    async with store.session() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                        .values(attempts=OutboxMessage.attempts + 1))


async def mark_failed(store: Store, message: Pending, error: str, *, permanent: bool) -> None:
    """Back off exponentially (1 s, 2 s, … 5 min); a permanent error parks the message."""
    delay = min(timedelta(seconds=2 ** min(message.attempts, 16)), MAX_BACKOFF)
    async with store.session() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(
            last_error=error[:2000],
            status="failed" if permanent else "pending", next_attempt_at=utcnow() + delay))


async def sent_event_id(store: Store, key: str) -> str | None:
    async with store.session() as s:
        return await s.scalar(select(OutboxMessage.event_id).where(OutboxMessage.key == key))


async def counts(store: Store) -> dict[str, int]:
    async with store.session() as s:
        rows = await s.execute(select(OutboxMessage.status, func.count())
                               .group_by(OutboxMessage.status))
        return dict(rows.all())

