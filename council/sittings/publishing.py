"""What Matrix is told: the agenda message, its edits and the drafts' files."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox, rooms
from council.sittings import agenda
from council.sittings.inputs import Context
from council.sittings.queries import (
    _items,
    draft_warnings,
    room,
    sitting_warnings,
)
from council.sittings.tables import AgendaItem, DraftVersion, Sitting


def _agenda_key(sitting_id: int) -> str:
    return f"agenda:{sitting_id}"


def _file_key(item_id: int, version: int, where: str) -> str:
    return f"draft:{item_id}:v{version}:{where}"


def _file_event(item: AgendaItem, latest: DraftVersion) -> str:
    if latest.version == 1 and item.room_event_id:
        return item.room_event_id
    return f"{outbox.EVENT_REF}{_file_key(item.id, latest.version, 'sitting')}"


async def _agenda_content(session: AsyncSession, ctx: Context, sitting: Sitting) -> dict:
    commissions = {c.id: c.name for c in ctx.roster.commissions}
    views = []
    for item, versions in await _items(session, sitting.id):
        latest = versions[-1]
        views.append(agenda.ItemView(
            item.id, item.number, item.title, item.initiator, commissions.get(item.commission or ""),
            item.status, latest.version, latest.filename, _file_event(item, latest),
            tuple(draft_warnings(ctx, sitting, latest)) if item.status == "active" else ()))
    heading = agenda.sitting_heading(sitting.kind, sitting.title, sitting.number)
    return agenda.agenda_message(sitting.id, heading, agenda.when(sitting.starts_at, ctx.tz),
                                 sitting.place, sitting.agenda_rev, views,
                                 sitting_warnings(ctx, sitting))


async def edit_agenda(session: AsyncSession, ctx: Context, sitting: Sitting) -> None:
    content = await _agenda_content(session, ctx, sitting)
    key = _agenda_key(sitting.id)
    await outbox.enqueue(session, f"{key}:rev:{sitting.agenda_rev}", room(sitting.id),
                         "m.room.message", agenda.agenda_edit(key, content))


async def _publish(session: AsyncSession, ctx: Context, sitting: Sitting, item: AgendaItem,
                   version: DraftVersion) -> None:
    """Post one version to the sitting room and the responsible commission's room."""
    media = outbox.Media(version.sha256, version.filename, version.mimetype)
    targets = [("sitting", room(sitting.id))]
    if item.commission and not (sitting.kind == "commission" and sitting.body == item.commission):
        targets.append(("commission", rooms.placeholder(rooms.commission(item.commission))))
    for where, room_id in targets:
        root = None
        if version.version > 1:
            root = (item.room_event_id if where == "sitting" and item.room_event_id
                    else f"{outbox.EVENT_REF}{_file_key(item.id, 1, where)}")
        if version.version == 1 and where == "sitting" and item.room_event_id:
            continue  # the dropped file is already in the room
        content = agenda.file_message(item.id, sitting.id, item.number, item.title,
                                      version.version, version.filename, version.mimetype,
                                      version.size, version.sha256, root)
        await outbox.enqueue(session, _file_key(item.id, version.version, where), room_id,
                             "m.room.message", content, media=media)
    for w in draft_warnings(ctx, sitting, version):
        anchor = _file_event(item, version)
        await outbox.enqueue(session, f"{_file_key(item.id, version.version, 'law')}", room(sitting.id),
                             "m.room.message", {**agenda.notice(w.text),
                                                "m.relates_to": {"m.in_reply_to": {"event_id": anchor}}})
