"""What may happen to a sitting: creation, drafts added and revised, items withdrawn, reordering."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox, rooms
from council.language import Text, _
from council.models import utcnow
from council.roster import Roster
from council.sittings import agenda
from council.sittings.inputs import Context, NewDraft, NewSitting, PreparedFile, SittingError
from council.sittings.publishing import (
    _agenda_content,
    _agenda_key,
    _file_key,
    _publish,
    edit_agenda,
)
from council.sittings.queries import (
    _items,
    get_sitting,
    room,
    sitting_warnings,
)
from council.sittings.tables import AgendaItem, DraftVersion, Sitting


def _default_body(roster: Roster, kind: str, body: str | None) -> str:
    if kind == "commission":
        if not body or body not in {c.id for c in roster.commissions}:
            raise SittingError("KB_UNKNOWN_COMMISSION",
                               Text("unknown commission “{name}”", name=body or ""), "body")
        return body
    wanted = "council" if kind == "plenary" else "executive_committee"
    bodies = [b.id for b in roster.bodies if b.kind == wanted]
    if body is None:
        if kind == "plenary":
            return bodies[0] if bodies else "council"
        if bodies:
            return bodies[0]
    elif body in bodies or (kind == "plenary" and body == "council" and not bodies):
        return body
    raise SittingError("KB_UNKNOWN_BODY", Text("unknown body “{name}”", name=body or ""), "body")


async def _lock(session: AsyncSession, sitting_id: int) -> Sitting:
    """Bump the agenda revision first: serialises changes to one sitting."""
    sitting = await get_sitting(session, sitting_id)
    await session.execute(update(Sitting).where(Sitting.id == sitting_id)
                          .values(agenda_rev=Sitting.agenda_rev + 1))
    await session.refresh(sitting)
    return sitting


async def create_sitting(session: AsyncSession, ctx: Context, spec: NewSitting,
                         now: datetime | None = None) -> tuple[Sitting, bool]:
    """A new sitting (or the existing one with the same external_key); True if created."""
    if spec.external_key:
        existing = await session.scalar(select(Sitting)
                                        .where(Sitting.external_key == spec.external_key))
        if existing is not None:
            return existing, False
    body = _default_body(ctx.roster, spec.kind, spec.body)
    # Stored in UTC: SQLite keeps no offset, and every reader treats a naive value as UTC.
    sitting = Sitting(kind=spec.kind, body=body, number=spec.number, title=spec.title,
                      starts_at=spec.starts_at.astimezone(UTC), place=spec.place,
                      announced_at=(now or utcnow()).astimezone(UTC),
                      agenda_rev=0, external_key=spec.external_key)
    session.add(sitting)
    await session.flush()
    heading = agenda.sitting_heading(sitting.kind, sitting.title, sitting.number)
    starts = agenda.when(sitting.starts_at, ctx.tz)
    warnings = sitting_warnings(ctx, sitting)
    text = (f"📅 {heading}\n🕙 {starts}, {sitting.place}\n"
            + _("The agenda and the draft decisions are in the sitting's room (the “Sittings” "
                "space)."))
    text += "".join(f"\n{w.text}" for w in warnings)
    await outbox.enqueue(session, f"sitting:{sitting.id}:announce", rooms.placeholder(rooms.announcements()),
                         "m.room.message", {"msgtype": "m.notice", "body": text})
    key = _agenda_key(sitting.id)
    await outbox.enqueue(session, key, room(sitting.id), "m.room.message",
                         await _agenda_content(session, ctx, sitting))
    await outbox.enqueue(session, f"{key}:pin", room(sitting.id), "m.room.pinned_events",
                         {"pinned": [f"{outbox.EVENT_REF}{key}"]}, state_key="")
    for w in warnings:
        await outbox.enqueue(session, f"sitting:{sitting.id}:law:{w.rule}", room(sitting.id),
                             "m.room.message", agenda.notice(w.text))
    return sitting, True


async def _new_version(session: AsyncSession, ctx: Context, item: AgendaItem, version: int,
                       file: PreparedFile, source: str, now: datetime | None) -> DraftVersion:
    sha = ctx.blobs.put(file.data)  # the blob first: a row never points at a missing file
    row = DraftVersion(item_id=item.id, version=version, sha256=sha, filename=file.filename,
                       mimetype=file.filetype.mimetype, size=len(file.data), pages=file.pages,
                       source=source, published_at=(now or utcnow()).astimezone(UTC))
    session.add(row)
    await session.flush()
    return row


async def add_draft(session: AsyncSession, ctx: Context, sitting_id: int, spec: NewDraft,
                    file: PreparedFile, *, source: str, now: datetime | None = None,
                    room_event_id: str | None = None, edit: bool = True) -> AgendaItem:
    """A new agenda item with version 1 of its draft, published to Matrix."""
    sitting = await _lock(session, sitting_id)
    if spec.commission and spec.commission not in {c.id for c in ctx.roster.commissions}:
        raise SittingError("KB_UNKNOWN_COMMISSION",
                           Text("unknown commission “{name}”", name=spec.commission), "commission")
    if await session.scalar(select(AgendaItem.id).where(AgendaItem.sitting_id == sitting_id,
                                                        AgendaItem.number == spec.number)):
        raise SittingError("KB_DUPLICATE_NUMBER",
                           Text("draft No. {number} is already on this sitting's agenda",
                                number=spec.number), "number")
    position = await session.scalar(select(func.coalesce(func.max(AgendaItem.position), 0))
                                    .where(AgendaItem.sitting_id == sitting_id))
    item = AgendaItem(sitting_id=sitting_id, position=(position or 0) + 1, number=spec.number,
                      title=spec.title, initiator=spec.initiator, commission=spec.commission,
                      status="active", room_event_id=room_event_id)
    session.add(item)
    await session.flush()
    version = await _new_version(session, ctx, item, 1, file, source, now)
    await _publish(session, ctx, sitting, item, version)
    if edit:
        await edit_agenda(session, ctx, sitting)
    return item


async def add_drafts(session: AsyncSession, ctx: Context, sitting_id: int,
                     drafts: list[tuple[NewDraft, PreparedFile]], *, source: str,
                     now: datetime | None = None) -> list[AgendaItem]:
    """Several drafts at once (a folder with a manifest): all or none, one agenda edit."""
    items = [await add_draft(session, ctx, sitting_id, spec, file, source=source, now=now,
                             edit=False) for spec, file in drafts]
    await edit_agenda(session, ctx, await get_sitting(session, sitting_id))
    return items


async def _item(session: AsyncSession, sitting_id: int, number: str) -> AgendaItem:
    item = await session.scalar(select(AgendaItem).where(AgendaItem.sitting_id == sitting_id,
                                                         AgendaItem.number == number))
    if item is None:
        raise SittingError("KB_UNKNOWN_ITEM", Text("no draft No. {number} in this sitting",
                                                   number=number), "number")
    return item


async def revise_draft(session: AsyncSession, ctx: Context, sitting_id: int, number: str,
                       file: PreparedFile, *, source: str, now: datetime | None = None
                       ) -> DraftVersion:
    sitting = await _lock(session, sitting_id)
    item = await _item(session, sitting_id, number)
    if item.status == "withdrawn":
        raise SittingError("KB_WITHDRAWN", Text("draft No. {number} was withdrawn", number=number),
                           "number")
    latest = await session.scalar(select(func.max(DraftVersion.version))
                                  .where(DraftVersion.item_id == item.id))
    version = await _new_version(session, ctx, item, (latest or 0) + 1, file, source, now)
    await _publish(session, ctx, sitting, item, version)
    await edit_agenda(session, ctx, sitting)
    return version


async def withdraw_item(session: AsyncSession, ctx: Context, sitting_id: int, number: str,
                        now: datetime | None = None, reason: str | None = None) -> AgendaItem:
    """Marked withdrawn, never deleted: its versions stay downloadable. The reason, if given,
    is said in the room's notice."""
    sitting = await _lock(session, sitting_id)
    item = await _item(session, sitting_id, number)
    if item.status != "withdrawn":
        item.status, item.withdrawn_at = "withdrawn", (now or utcnow()).astimezone(UTC)
        root = item.room_event_id or f"{outbox.EVENT_REF}{_file_key(item.id, 1, 'sitting')}"
        await outbox.enqueue(session, f"item:{item.id}:withdrawn", room(sitting.id), "m.room.message",
                             agenda.notice(_("Item No. {number} withdrawn: {reason}",
                                             number=item.number, reason=reason.strip())
                                           if reason and reason.strip()
                                           else _("Item No. {number} withdrawn", number=item.number),
                                           thread_root=root))
        await edit_agenda(session, ctx, sitting)
    return item


async def reorder(session: AsyncSession, ctx: Context, sitting_id: int, numbers: list[str]) -> None:
    """New order: every item's number exactly once."""
    sitting = await _lock(session, sitting_id)
    items = {i.number: i for i, _ in await _items(session, sitting_id)}
    if sorted(numbers) != sorted(items) or len(set(numbers)) != len(numbers):
        raise SittingError("KB_BAD_ORDER",
                           Text("the new order must list every draft number exactly once"), "order")
    for position, number in enumerate(numbers, 1):
        items[number].position = position
    await session.flush()
    await edit_agenda(session, ctx, sitting)
