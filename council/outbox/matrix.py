"""The Matrix channel of the outbox: everything Kabinet says in Matrix is first a row here.

A row is written in the same database transaction as the decision that caused it
(an appeal, a command), so nothing is lost in a crash; its `key` is deterministic,
so writing it twice is a no-op; the homeserver transaction id derives from the key,
so a retried send is deduplicated by the homeserver. The sender (appservice/delivery.py) drains
rows in id order per room, with the outbox's one retry policy (council/outbox/policy.py).

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
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from council.models import OutboxMessage, utcnow
from council.outbox import policy
from council.store import Store


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
    session.add(OutboxMessage(**message_values(
        key, room_id, event_type, content, state_key=state_key, sender=sender, media=media)))
    await session.flush()
    return True


def message_values(key: str, room_id: str, event_type: str, content: dict[str, Any], *,
                   state_key: str | None = None, sender: str | None = None,
                   media: Media | None = None) -> dict[str, Any]:
    """The row `enqueue` adds, as values: for a caller whose keys are new by construction (the
    messages of appeals registered together), which inserts many in one statement. A key that
    exists after all fails that insert (unique), it is not skipped."""
    return {"key": key, "room_id": room_id, "event_type": event_type, "content": content,
            "state_key": state_key, "sender": sender,
            "media_sha256": media.sha256 if media else None,
            "media_name": media.name if media else None,
            "media_type": media.mimetype if media else None}


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
    created_at: datetime | None = None  # enqueued (delivery latency, council/outbox/sender.py)

    @property
    def txn_id(self) -> str:
        return txn_id_for(self.key)


async def due(store: Store, limit: int = 50, now: datetime | None = None, per_room: int = 1, *,
              room: str | None = None, skip: Collection[str] = ()) -> list[Pending]:
    """Due messages, oldest first: per room, the first `per_room` of its queue, and none after
    one that is waiting (order within a room is kept). Chosen in SQL, so rooms whose queue waits
    (a room not created yet, a message backing off) never hide another room's due messages.
    Only `room`'s if given; none of the rooms in `skip` (as the rows name them)."""
    async with store.session() as s:
        return await due_in(s, limit, now, per_room, room=room, skip=skip)


async def due_in(session: AsyncSession, limit: int = 50, now: datetime | None = None,
                 per_room: int = 1, *, room: str | None = None, skip: Collection[str] = (),
                 after: int | None = None) -> list[Pending]:
    """`due` in the caller's unit of work; only messages after the id `after` if given (a
    room's next batch while the one before it is being sent)."""
    now = now or utcnow()
    rooms: list[ColumnElement[bool]] = []
    if room is not None:
        rooms.append(OutboxMessage.room_id == room)
    if skip:
        rooms.append(OutboxMessage.room_id.not_in(list(skip)))
    # A room's queue is held from its first waiting message on (few rooms have one).
    held = (select(OutboxMessage.room_id, func.min(OutboxMessage.id).label("first"))
            .where(*rooms, policy.is_waiting(OutboxMessage, now))
            .group_by(OutboxMessage.room_id).subquery())
    place = func.row_number().over(partition_by=OutboxMessage.room_id, order_by=OutboxMessage.id)
    chosen = (select(OutboxMessage.id, place.label("place"))
              .outerjoin(held, held.c.room_id == OutboxMessage.room_id)
              .where(*rooms, policy.is_due(OutboxMessage, now),
                     or_(held.c.first.is_(None), OutboxMessage.id < held.c.first)))
    if after is not None:
        chosen = chosen.where(OutboxMessage.id > after)
    ready = chosen.subquery()
    rows = (await session.scalars(
        select(OutboxMessage).join(ready, ready.c.id == OutboxMessage.id)
        .where(ready.c.place <= per_room).order_by(OutboxMessage.id).limit(limit))).all()
    return [_pending(r) for r in rows]


def _pending(r: OutboxMessage) -> Pending:
    media = Media(r.media_sha256, r.media_name or "file", r.media_type or
                  "application/octet-stream") if r.media_sha256 else None
    return Pending(r.id, r.key, r.room_id, r.event_type, r.state_key, r.content, r.sender,
                   r.attempts, media, r.media_mxc, tuple(_refs(r.content)), r.created_at)


async def mark_sent(store: Store, message_id: int, event_id: str) -> None:
    await policy.mark_sent(store, OutboxMessage, message_id, event_id=event_id)


async def defer(store: Store, message_id: int, seconds: float) -> None:
    """Not an attempt: what the message refers to (a room, an earlier message) is not there yet."""
    await policy.defer(store, OutboxMessage, message_id, seconds)


async def save_media_mxc(store: Store, message_id: int, mxc: str) -> None:
    """Remember the upload, so a retry sends the same media instead of uploading again."""
    async with store.session() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                        .values(media_mxc=mxc))


async def sent_event_ids(store: Store, keys: Collection[str]) -> dict[str, str]:
    if not keys:
        return {}
    async with store.session() as s:
        return await sent_event_ids_in(s, keys)


async def sent_event_ids_in(session: AsyncSession, keys: Collection[str]) -> dict[str, str]:
    if not keys:
        return {}
    rows = await session.execute(select(OutboxMessage.key, OutboxMessage.event_id).where(
        OutboxMessage.key.in_(list(keys)), OutboxMessage.event_id.is_not(None)))
    return {key: event_id for key, event_id in rows.all() if event_id is not None}


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
    await policy.mark_attempt(store, OutboxMessage, message_id)


async def mark_failed(store: Store, message: Pending, error: str, *, permanent: bool) -> None:
    """The attempt after `message.attempts` earlier ones failed: the policy backs off or parks."""
    await policy.mark_failed(store, OutboxMessage, message.id, message.attempts + 1, error,
                             permanent=permanent)


@dataclass
class Results:
    """What a batch of messages came to, written in one commit by `record`: the sender records
    the attempts of a round's messages before sending any of them, and each room's results after
    its messages went one after another (appservice/delivery.py). A crash in between leaves them
    attempted, which is what a crash between one message's attempt and its send left before:
    the next try looks for the message in the room first."""

    attempted: list[int] = field(default_factory=list)  # ids, before the send
    deferred: dict[int, float] = field(default_factory=dict)  # id -> seconds (not an attempt)
    sent: dict[int, str] = field(default_factory=dict)  # id -> event id
    # id -> (attempts, error, permanent): the `attempts`-th attempt failed (policy.mark_failed)
    failed: dict[int, tuple[int, str, bool]] = field(default_factory=dict)
    untried: dict[int, int] = field(default_factory=dict)  # id -> its attempts before the batch
    # sha256 -> mxc of an upload: stored on every pending message with that file and none yet
    # (a retry, the same draft in another room, and the pre-upload need not upload it again)
    files: dict[str, str] = field(default_factory=dict)


async def record(store: Store, results: Results) -> dict[int, str]:
    """Write `results` in one commit (see `write`)."""
    async with store.session() as s:
        return await write(s, results)


async def write(session: AsyncSession, results: Results) -> dict[int, str]:
    """Write `results` in the caller's unit of work. Returns the media mxc now stored for each
    attempted message that has one: the pre-upload (appservice/sittings/rooms.py) may have
    stored it since `due` read the row, and the file need not go up again."""
    r = results
    mxc: dict[int, str] = {}
    if r.attempted:
        await session.execute(policy.attempted(OutboxMessage, r.attempted))
        rows = await session.execute(select(OutboxMessage.id, OutboxMessage.media_mxc).where(
            OutboxMessage.id.in_(r.attempted), OutboxMessage.media_mxc.is_not(None)))
        mxc = {i: m for i, m in rows.all() if m is not None}
    if r.files:  # first, while the messages that carried them are still pending
        table = cast(Table, OutboxMessage.__table__)
        await session.execute(
            update(table).where(table.c.status == policy.PENDING, table.c.media_mxc.is_(None),
                                table.c.media_sha256 == bindparam("sha"))
            .values(media_mxc=bindparam("mxc")),
            [{"sha": sha, "mxc": uri} for sha, uri in r.files.items()])
    # One UPDATE per kind, each row by its id (SQLAlchemy's bulk UPDATE by primary key).
    for values in (
        [{"id": i, **policy.deferred_values(sec)} for i, sec in r.deferred.items()],
        [{"id": i, **policy.sent_values(event_id=e)} for i, e in r.sent.items()],
        [{"id": i, **policy.failed_values(n, err, permanent=perm)}
         for i, (n, err, perm) in r.failed.items()],
        [{"id": i, "attempts": n} for i, n in r.untried.items()],
    ):
        if values:
            await session.execute(update(OutboxMessage), values)
    return mxc


async def sent_event_id(store: Store, key: str) -> str | None:
    async with store.session() as s:
        return await s.scalar(select(OutboxMessage.event_id).where(OutboxMessage.key == key))


async def counts(store: Store) -> dict[str, int]:
    return await policy.counts(store, OutboxMessage)
