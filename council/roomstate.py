"""The room-state cache: each room's current state as the appservice's transactions told it, so
that a re-apply of the roster reads no room's state from the homeserver (issue #13).

Three writers, one rule: newer knowledge wins.
- The transaction stream (`apply_events`): every state event of every transaction, our own
  included, in stream order, one bulk upsert per transaction. Events are de-duplicated by id
  (`room_state_seen`), so a redelivered event cannot put an older state back.
- A full read (`replace`): the room's whole state from GET /state; rows written after the read
  began (a transaction event that came in meanwhile) are kept, the rest replaced.
- Write-through (`write_through`): what the reconciler has just sent, so an immediate re-apply
  does not send it again before the echo comes; it too leaves rows written after it began.

A room is *complete* when the cache holds all of its state: its `m.room.create` came through the
transactions (every later event does too: the appservice is in every managed room and the
homeserver retries a transaction until it is answered), Kabinet created it and wrote its initial
state through, or a full read filled it. Only complete rooms are served (`load`). The cache is
as fresh as the transactions received. After restoring one of the two databases without the
other the cache is from another moment than the homeserver: the pairing mark (below, and
appservice/roster/pairing.py) tells, and the next apply reads every room again, as `kabinet
roster apply --full` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from council.models import PairingMark, RoomStateEntry, RoomStateRoom, RoomStateSeen, utcnow
from council.store import Store, dialect

# A room's state as GET /rooms/{id}/state gives it: dicts with type, state_key, content, event_id.
State = list[dict[str, Any]]
Key = tuple[str, str, str]  # room_id, event_type, state_key

CHUNK = 500  # rows per statement: well inside SQLite's bound-parameter limit
KEEP_SEEN = timedelta(days=7)  # as council/inbox.py keeps handled event ids


def _insert(session: AsyncSession) -> Any:
    return pg_insert if dialect(session) == "postgresql" else sqlite_insert


def _chunks(rows: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i:i + CHUNK]


def is_state_event(raw: Any) -> bool:
    """A state event of a transaction (it has a state_key), well-formed enough to cache."""
    return (isinstance(raw, dict) and isinstance(raw.get("state_key"), str)
            and all(isinstance(raw.get(k), str) for k in ("room_id", "type", "event_id"))
            and isinstance(raw.get("content", {}), dict))


def _row(room_id: str, event: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"room_id": room_id, "event_type": event["type"], "state_key": event["state_key"],
            "content": event.get("content") or {}, "event_id": event.get("event_id"),
            "seen_at": now}


def _by_key(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last row per key (stream order), sorted by key: one statement cannot update a row
    twice, and one lock order keeps concurrent writers on PostgreSQL from deadlocking."""
    last = {(r["room_id"], r["event_type"], r["state_key"]): r for r in rows}
    return [last[k] for k in sorted(last)]


async def _upsert(session: AsyncSession, rows: list[dict[str, Any]],
                  unless_since: datetime | None = None) -> None:
    """Insert or overwrite rows; with `unless_since`, a row written at or after it is kept."""
    insert = _insert(session)
    for chunk in _chunks(rows):
        stmt = insert(RoomStateEntry).values(list(chunk))
        where = None if unless_since is None else RoomStateEntry.seen_at < unless_since
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["room_id", "event_type", "state_key"],
            set_={"content": stmt.excluded.content, "event_id": stmt.excluded.event_id,
                  "seen_at": stmt.excluded.seen_at}, where=where))


async def _mark(session: AsyncSession, room_ids: Iterable[str], complete: bool, source: str | None,
                now: datetime) -> None:
    rows = [{"room_id": r, "complete": complete, "source": source, "updated_at": now}
            for r in sorted(set(room_ids))]
    insert = _insert(session)
    for chunk in _chunks(rows):
        stmt = insert(RoomStateRoom).values(list(chunk))
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["room_id"],
            set_={"complete": stmt.excluded.complete, "source": stmt.excluded.source,
                  "updated_at": stmt.excluded.updated_at}))


# -- the transaction stream -----------------------------------------------------------------------


async def apply_events(session: AsyncSession, events: Sequence[Any],
                       now: datetime | None = None) -> int:
    """A transaction's events, in stream order: its state events are cached (those seen before
    are skipped), a room whose `m.room.create` comes is complete, and a room where a cached
    event is redacted is not any more (its content changed without a state event). Returns how
    many state events were new."""
    now = now or utcnow()
    state = [e for e in events if is_state_event(e)]
    fresh: list[dict[str, Any]] = []
    if state:
        ids = sorted({e["event_id"] for e in state})
        new: set[str] = set()
        insert = _insert(session)
        for chunk in _chunks(ids):
            claimed = await session.scalars(
                insert(RoomStateSeen).values([{"event_id": i, "seen_at": now} for i in chunk])
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(RoomStateSeen.event_id))
            new.update(claimed)
        fresh = [e for e in state if e["event_id"] in new]
        new.clear()
        if fresh:
            await _upsert(session, _by_key(_row(e["room_id"], e, now) for e in fresh))
            created = [e["room_id"] for e in fresh if e["type"] == "m.room.create"]
            if created:
                await _mark(session, created, True, "create", now)
    for e in events:
        if isinstance(e, dict) and e.get("type") == "m.room.redaction" \
                and isinstance(e.get("room_id"), str):
            redacts = e.get("redacts") or (e.get("content") or {}).get("redacts")
            if isinstance(redacts, str):
                await _forget_redacted(session, e["room_id"], redacts)
    return len(fresh)


async def _forget_redacted(session: AsyncSession, room_id: str, event_id: str) -> None:
    cached = exists().where(RoomStateEntry.room_id == room_id, RoomStateEntry.event_id == event_id)
    await session.execute(update(RoomStateRoom).where(RoomStateRoom.room_id == room_id, cached)
                          .values(complete=False, updated_at=utcnow()))


async def prune_seen(session: AsyncSession, older_than: timedelta = KEEP_SEEN) -> None:
    await session.execute(delete(RoomStateSeen).where(RoomStateSeen.seen_at < utcnow() - older_than))


# -- full reads and write-through -----------------------------------------------------------------


async def replace(session: AsyncSession, room_id: str, state: State, began: datetime,
                  source: str = "read") -> None:
    """The room's whole state, as read (or made) from `began` on: the room is complete. What
    was cached before `began` goes; what the transactions wrote since is newer and stays."""
    await session.execute(delete(RoomStateEntry).where(RoomStateEntry.room_id == room_id,
                                                       RoomStateEntry.seen_at < began))
    now = utcnow()
    rows = _by_key(_row(room_id, e, now) for e in state if isinstance(e.get("state_key"), str))
    insert = _insert(session)
    for chunk in _chunks(rows):
        await session.execute(insert(RoomStateEntry).values(list(chunk)).on_conflict_do_nothing(
            index_elements=["room_id", "event_type", "state_key"]))
    await _mark(session, [room_id], True, source, now)


async def write_through(session: AsyncSession, room_id: str, events: State,
                        began: datetime) -> None:
    """What Kabinet has just sent to the room (sent from `began` on); the echo writes it again.
    A row the transactions wrote since `began` is newer knowledge and stays."""
    now = utcnow()
    await _upsert(session, _by_key(_row(room_id, e, now) for e in events), unless_since=began)


async def mark_incomplete(session: AsyncSession, room_ids: Iterable[str]) -> None:
    """The next apply reads these rooms in full (e.g. a write that the cached state said was
    needed failed: the cache may be behind)."""
    await _mark(session, room_ids, False, None, utcnow())


# -- reading --------------------------------------------------------------------------------------


async def load(store: Store, room_ids: Iterable[str]) -> dict[str, State]:
    """room id -> cached state, for those of `room_ids` whose cache is complete."""
    wanted = sorted(set(room_ids))
    out: dict[str, State] = {}
    async with store.session() as s:
        for chunk in _chunks(wanted):  # one SELECT per 500 rooms: one snapshot of each room
            rows = await s.execute(
                select(RoomStateEntry.room_id, RoomStateEntry.event_type, RoomStateEntry.state_key,
                       RoomStateEntry.content, RoomStateEntry.event_id)
                .join(RoomStateRoom, RoomStateRoom.room_id == RoomStateEntry.room_id)
                .where(RoomStateEntry.room_id.in_(chunk), RoomStateRoom.complete.is_(True)))
            for room_id, etype, skey, content, event_id in rows:
                out.setdefault(room_id, []).append({"type": etype, "state_key": skey,
                                                    "content": content, "event_id": event_id})
    return out


# -- the pairing mark ---------------------------------------------------------------------------


async def pairing_mark(session: AsyncSession) -> str | None:
    """The mark this store shares with its homeserver; None before the first apply."""
    return await session.scalar(select(PairingMark.mark).where(PairingMark.id == 1))


async def set_pairing_mark(session: AsyncSession, mark: str) -> None:
    stmt = _insert(session)(PairingMark).values(id=1, mark=mark, set_at=utcnow())
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["id"], set_={"mark": stmt.excluded.mark, "set_at": stmt.excluded.set_at}))
