"""Sittings, their agenda items (each with its draft decision) and the draft's versions.

Every operation runs in the caller's unit of work and enqueues what Matrix must be told
(outbox, same transaction): nothing reaches a room without a stored draft, and no stored
draft goes undelivered. Operations on one sitting are serialised by bumping its
`agenda_rev` first (a row lock on PostgreSQL; SQLite has one writer anyway), so each agenda
edit gets its own outbox key `agenda:<sitting>:rev:<n>` and reflects every earlier change.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from council import agenda, law, outbox
from council.blobs import BlobStore
from council.filetypes import INSPECT_SECONDS, FileType, UnsupportedFile, UnusualArchive, sniff
from council.holidays import Holidays
from council.models import Base, BigId, utcnow
from council.paper import CorruptedFile, Paper, count_pages, paper_for
from council.roster import Roster

SittingKind = Literal["plenary", "commission", "executive"]


class Sitting(Base):
    __tablename__ = "sittings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # plenary | commission | executive
    body: Mapped[str] = mapped_column(String(64))  # roster body id, or the commission id
    number: Mapped[str | None] = mapped_column(String(32))  # the session's number
    title: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    place: Mapped[str] = mapped_column(String(500))
    announced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    agenda_rev: Mapped[int] = mapped_column(Integer, default=0)
    # Idempotent creation (demo seeder, API clients that retry): one sitting per key.
    external_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class AgendaItem(Base):
    """An agenda item with its draft decision (one draft per item, in versions)."""

    __tablename__ = "agenda_items"
    __table_args__ = (UniqueConstraint("sitting_id", "number", name="uq_agenda_items_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500))
    initiator: Mapped[str] = mapped_column(String(255))
    commission: Mapped[str | None] = mapped_column(String(64))  # responsible commission id
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | withdrawn
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A file dropped into the sitting room is its own first event (not posted again).
    room_event_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DraftVersion(Base):
    __tablename__ = "draft_versions"
    __table_args__ = (UniqueConstraint("item_id", "version", name="uq_draft_versions_version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("agenda_items.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    mimetype: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # cli | api | matrix | demo
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SittingError(ValueError):
    """Bad input: a stable code, a bilingual message, the field at fault."""

    def __init__(self, code: str, uk: str, en: str, field_name: str | None = None,
                 status: int = 400) -> None:
        self.code, self.uk, self.en, self.field, self.status = code, uk, en, field_name, status
        super().__init__(f"{uk} / {en}")


class NewSitting(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: SittingKind
    body: str | None = Field(None, max_length=64, description="Commission id (commission "
                             "sittings); default: the council or the executive committee")
    number: str | None = Field(None, max_length=32)
    title: str = Field(min_length=3, max_length=500)
    starts_at: AwareDatetime
    place: str = Field(min_length=2, max_length=500)
    external_key: str | None = Field(None, max_length=200)


class NewDraft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-zА-Яа-яІіЇїЄєҐґ./\-]+$")
    title: str = Field(min_length=3, max_length=500)
    initiator: str = Field(min_length=2, max_length=255)
    commission: str | None = Field(None, max_length=64)


@dataclass
class Context:
    """What the domain needs from its surroundings."""

    roster: Roster
    blobs: BlobStore
    holidays: Holidays
    tz: ZoneInfo
    max_bytes: int


@dataclass(frozen=True)
class PreparedFile:
    data: bytes
    filename: str
    filetype: FileType
    pages: int


def prepare_file(ctx: Context, data: bytes, filename: str) -> PreparedFile:
    """Check a file before anything is stored: size, type by content, readable pages."""
    if len(data) > ctx.max_bytes:
        raise SittingError("KB_FILE_TOO_LARGE",
                           f"файл більший за дозволені {ctx.max_bytes // (1024 * 1024)} МіБ",
                           f"the file exceeds the limit of {ctx.max_bytes // (1024 * 1024)} MiB",
                           "file", 413)
    if not data:
        raise SittingError("KB_EMPTY_FILE", "файл порожній", "the file is empty", "file")
    try:
        filetype = sniff(data)
        pages = count_pages(data, filetype)
    except UnusualArchive as exc:
        raise SittingError("KB_UNUSUAL_ARCHIVE", exc.uk, exc.en, "file", 422) from None
    except UnsupportedFile:
        raise SittingError("KB_UNSUPPORTED_FILE",
                           "непідтримуваний тип файлу (за вмістом); дозволено PDF, DOCX, ODT",
                           "unsupported file type (by content); PDF, DOCX and ODT are accepted",
                           "file", 415) from None
    except CorruptedFile:
        raise SittingError("KB_CORRUPTED_FILE", "файл пошкоджений, його неможливо прочитати",
                           "the file is corrupted and cannot be read", "file") from None
    return PreparedFile(data, safe_filename(filename, filetype), filetype, pages)


async def prepare_file_off_loop(ctx: Context, data: bytes, filename: str,
                                timeout: float = INSPECT_SECONDS) -> PreparedFile:
    """`prepare_file` in a worker thread with a time cap, for async callers: inspecting a
    hostile archive or PDF never holds the event loop (web, bot and /healthz share it)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(prepare_file, ctx, data, filename), timeout)
    except TimeoutError:  # the thread finishes on its own; the caps in filetypes bound it
        raise SittingError("KB_FILE_TOO_COMPLEX", "файл надто складний: його перевірка триває задовго",
                           "the file is too complex: inspecting it takes too long", "file", 422) from None


def safe_filename(name: str, filetype: FileType) -> str:
    base = os.path.basename(name.replace("\\", "/")).strip() or "draft"
    base = re.sub(r"[\x00-\x1f\x7f\"]", "", base)[:200] or "draft"
    if not base.lower().endswith(filetype.extension):
        base = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", base) + filetype.extension
    return base


def member_ids(roster: Roster, kind: str, body: str) -> list[str]:
    """Roster ids of a sitting's participants: the body's members and the secretariat."""
    if kind == "commission":
        people = list(roster.commission_members(body))
    else:
        found = next((b for b in roster.bodies if b.id == body), None)
        people = list(roster.body_members(found)) if found else [d.id for d in roster.deputies]
    staff = [s.id for s in roster.secretariat]
    return people + [s for s in staff if s not in people]


def _default_body(roster: Roster, kind: str, body: str | None) -> str:
    if kind == "commission":
        if not body or body not in {c.id for c in roster.commissions}:
            raise SittingError("KB_UNKNOWN_COMMISSION", f"невідома комісія «{body or ''}»",
                               f"unknown commission {body or ''!r}", "body", 404)
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
    raise SittingError("KB_UNKNOWN_BODY", f"невідомий орган «{body or ''}»",
                       f"unknown body {body or ''!r}", "body", 404)


async def get_sitting(session: AsyncSession, sitting_id: int) -> Sitting:
    sitting = await session.get(Sitting, sitting_id)
    if sitting is None:
        raise SittingError("KB_UNKNOWN_SITTING", f"засідання {sitting_id} не знайдено",
                           f"sitting {sitting_id} not found", "sitting", 404)
    return sitting


async def _lock(session: AsyncSession, sitting_id: int) -> Sitting:
    """Bump the agenda revision first: serialises changes to one sitting."""
    sitting = await get_sitting(session, sitting_id)
    await session.execute(update(Sitting).where(Sitting.id == sitting_id)
                          .values(agenda_rev=Sitting.agenda_rev + 1))
    await session.refresh(sitting)
    return sitting


def room(sitting_id: int) -> str:
    return f"{outbox.ROOM_REF}sitting:{sitting_id}"


def _agenda_key(sitting_id: int) -> str:
    return f"agenda:{sitting_id}"


def _file_key(item_id: int, version: int, where: str) -> str:
    return f"draft:{item_id}:v{version}:{where}"


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=utcnow().tzinfo)
    return moment.astimezone(tz).date()


def sitting_warnings(ctx: Context, sitting: Sitting) -> list[law.LawWarning]:
    w = law.local_self_government_art46_p10(local_day(sitting.announced_at, ctx.tz),
                                            local_day(sitting.starts_at, ctx.tz))
    return [w] if w else []


def draft_warnings(ctx: Context, sitting: Sitting, version: DraftVersion) -> list[law.LawWarning]:
    w = law.access_to_public_information_art15_p3(local_day(version.published_at, ctx.tz),
                                                  local_day(sitting.starts_at, ctx.tz),
                                                  ctx.holidays)
    return [w] if w else []


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
    text = (f"📅 {heading}\n🕙 {starts}, {sitting.place}\nПорядок денний і проєкти рішень — у "
            f"кімнаті засідання (простір «Засідання») / Agenda and drafts in the sitting room.")
    text += "".join(f"\n{w.text}" for w in warnings)
    await outbox.enqueue(session, f"sitting:{sitting.id}:announce", f"{outbox.ROOM_REF}announcements",
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


async def _items(session: AsyncSession, sitting_id: int
                 ) -> list[tuple[AgendaItem, list[DraftVersion]]]:
    items = (await session.scalars(select(AgendaItem).where(AgendaItem.sitting_id == sitting_id)
                                   .order_by(AgendaItem.position, AgendaItem.id))).all()
    ids = [i.id for i in items]
    versions: dict[int, list[DraftVersion]] = {i: [] for i in ids}
    if ids:
        for v in await session.scalars(select(DraftVersion).where(DraftVersion.item_id.in_(ids))
                                       .order_by(DraftVersion.version)):
            versions[v.item_id].append(v)
    return [(i, versions[i.id]) for i in items]


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
        targets.append(("commission", f"{outbox.ROOM_REF}commission:{item.commission}"))
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


async def _new_version(session: AsyncSession, ctx: Context, item: AgendaItem, version: int,
                       file: PreparedFile, source: str, now: datetime | None) -> DraftVersion:
    sha = ctx.blobs.put(file.data)  # the blob first: a row never points at a missing file
    row = DraftVersion(item_id=item.id, version=version, sha256=sha, filename=file.filename,
                       mimetype=file.filetype.mimetype, size=len(file.data), pages=file.pages,
                       source=source, published_at=(now or utcnow()).astimezone(UTC))
    session.add(row)
    await session.flush()
    return row


async def next_number(session: AsyncSession, sitting_id: int) -> str:
    numbers = (await session.scalars(select(AgendaItem.number)
                                     .where(AgendaItem.sitting_id == sitting_id))).all()
    return str(max((int(n) for n in numbers if n.isascii() and n.isdigit()), default=0) + 1)


async def add_draft(session: AsyncSession, ctx: Context, sitting_id: int, spec: NewDraft,
                    file: PreparedFile, *, source: str, now: datetime | None = None,
                    room_event_id: str | None = None, edit: bool = True) -> AgendaItem:
    """A new agenda item with version 1 of its draft, published to Matrix."""
    sitting = await _lock(session, sitting_id)
    if spec.commission and spec.commission not in {c.id for c in ctx.roster.commissions}:
        raise SittingError("KB_UNKNOWN_COMMISSION", f"невідома комісія «{spec.commission}»",
                           f"unknown commission {spec.commission!r}", "commission", 404)
    if await session.scalar(select(AgendaItem.id).where(AgendaItem.sitting_id == sitting_id,
                                                        AgendaItem.number == spec.number)):
        raise SittingError("KB_DUPLICATE_NUMBER",
                           f"проєкт № {spec.number} уже є в порядку денному цього засідання",
                           f"draft No. {spec.number} is already on this sitting's agenda",
                           "number", 409)
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
        raise SittingError("KB_UNKNOWN_ITEM", f"проєкту № {number} немає в цьому засіданні",
                           f"no draft No. {number} in this sitting", "number", 404)
    return item


async def revise_draft(session: AsyncSession, ctx: Context, sitting_id: int, number: str,
                       file: PreparedFile, *, source: str, now: datetime | None = None
                       ) -> DraftVersion:
    sitting = await _lock(session, sitting_id)
    item = await _item(session, sitting_id, number)
    if item.status == "withdrawn":
        raise SittingError("KB_WITHDRAWN", f"проєкт № {number} знято з розгляду",
                           f"draft No. {number} was withdrawn", "number", 409)
    latest = await session.scalar(select(func.max(DraftVersion.version))
                                  .where(DraftVersion.item_id == item.id))
    version = await _new_version(session, ctx, item, (latest or 0) + 1, file, source, now)
    await _publish(session, ctx, sitting, item, version)
    await edit_agenda(session, ctx, sitting)
    return version


async def withdraw_item(session: AsyncSession, ctx: Context, sitting_id: int, number: str,
                        now: datetime | None = None) -> AgendaItem:
    """Marked withdrawn, never deleted: its versions stay downloadable."""
    sitting = await _lock(session, sitting_id)
    item = await _item(session, sitting_id, number)
    if item.status != "withdrawn":
        item.status, item.withdrawn_at = "withdrawn", (now or utcnow()).astimezone(UTC)
        root = item.room_event_id or f"{outbox.EVENT_REF}{_file_key(item.id, 1, 'sitting')}"
        await outbox.enqueue(session, f"item:{item.id}:withdrawn", room(sitting.id), "m.room.message",
                             agenda.notice(f"Питання № {item.number} знято з розгляду / "
                                           f"Item No. {item.number} withdrawn", thread_root=root))
        await edit_agenda(session, ctx, sitting)
    return item


async def reorder(session: AsyncSession, ctx: Context, sitting_id: int, numbers: list[str]) -> None:
    """New order: every item's number exactly once."""
    sitting = await _lock(session, sitting_id)
    items = {i.number: i for i, _ in await _items(session, sitting_id)}
    if sorted(numbers) != sorted(items) or len(set(numbers)) != len(numbers):
        raise SittingError("KB_BAD_ORDER",
                           "новий порядок має містити кожен номер проєкту рівно один раз",
                           "the new order must list every draft number exactly once", "order")
    for position, number in enumerate(numbers, 1):
        items[number].position = position
    await session.flush()
    await edit_agenda(session, ctx, sitting)


@dataclass
class SittingView:
    sitting: Sitting
    items: list[tuple[AgendaItem, list[DraftVersion]]]
    warnings: list[law.LawWarning]
    item_warnings: dict[int, list[law.LawWarning]] = field(default_factory=dict)
    paper: Paper = field(default_factory=lambda: Paper(0, 0, 0, 0))


async def list_sittings(session: AsyncSession) -> list[Sitting]:
    return list((await session.scalars(select(Sitting).order_by(Sitting.starts_at))).all())


async def view(session: AsyncSession, ctx: Context, sitting_id: int) -> SittingView:
    sitting = await get_sitting(session, sitting_id)
    items = await _items(session, sitting_id)
    recipients = len(member_ids(ctx.roster, sitting.kind, sitting.body))
    paper = paper_for([v.pages for _, vs in items for v in vs], recipients)
    item_warnings = {i.id: draft_warnings(ctx, sitting, vs[-1]) for i, vs in items
                     if i.status == "active"}
    return SittingView(sitting, items, sitting_warnings(ctx, sitting), item_warnings, paper)


async def version_file(session: AsyncSession, sitting_id: int, item_id: int, version: int
                       ) -> DraftVersion | None:
    return await session.scalar(
        select(DraftVersion).join(AgendaItem, AgendaItem.id == DraftVersion.item_id)
        .where(AgendaItem.sitting_id == sitting_id, AgendaItem.id == item_id,
               DraftVersion.version == version))
