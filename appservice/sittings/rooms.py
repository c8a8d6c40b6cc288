"""Sitting rooms on Matrix: created for each sitting, kept in step with the roster, and the
file-drop handler (a secretariat member's file becomes a draft; anyone else is told where
documents go: drops.py).

Rooms are made here (idempotently: alias `#kabinet_sitting_<id>`, found again if the store lost
the mapping), recorded in the registry, and linked into the `sittings` space. Everything
*said* in a sitting room (agenda, drafts, notices) goes through the outbox and waits for the
room (`$room:sitting:<id>`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from mautrix.errors import MatrixRequestError
from mautrix.types import (
    Event,
    EventType,
    MessageEvent,
    MessageType,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.homeserver import Homeserver
from appservice.rooms import RoomSpec, ensure_room, link_into_space, parent_state, reconcile_members, record
from appservice.sittings import drops, widgets
from council import outbox
from council import rooms as registry
from council import sittings as domain
from council.files.blobs import BlobStore
from council.language import Text, _
from council.models import ManagedRoom, OutboxMessage, utcnow
from council.roster import Roster
from council.sittings import agenda
from council.store import Store
from council.worker import Worker

log = logging.getLogger(__name__)

KIND = "sitting"
SHORT = {"plenary": Text("Session"), "commission": Text("Commission"),
         "executive": Text("Executive committee")}
POLL_START = "org.matrix.msc3381.poll.start"
POLL_END = "org.matrix.msc3381.poll.end"


def sitting_power_overrides() -> dict[str, Any]:
    """Sitting rooms: only the bot starts or ends polls and nobody else redacts (votes stay)."""
    return {
        "extra_events": {POLL_START: 100, POLL_END: 100, "m.poll.start": 100, "m.poll.end": 100,
                         "m.room.redaction": 100},
        "redact": 100,
    }


def sitting_spec(sitting: domain.Sitting, roster: Roster, server_name: str, tz: ZoneInfo) -> RoomSpec:
    people = {p.id: mxid for mxid, p in roster.people_by_mxid(server_name).items()}
    staff = roster.secretariat_mxids(server_name)
    members = frozenset(people[i] for i in domain.member_ids(roster, sitting.kind, sitting.body)
                        if i in people)
    starts = agenda.when(sitting.starts_at, tz)
    short = str(SHORT.get(sitting.kind) or _("Sitting"))
    name = (_("{kind} No. {number} · {date} · {title}", kind=short, number=sitting.number,
              date=starts[:10], title=sitting.title) if sitting.number
            else f"{short} · {starts[:10]} · {sitting.title}")[:250]
    topic = _("{heading} — {starts}, {place}. The agenda is pinned; draft decisions come as files. "
              "The room is not encrypted: the bot reads files and votes.",
              heading=agenda.sitting_heading(sitting.kind, sitting.title, sitting.number),
              starts=starts, place=sitting.place)
    return RoomSpec(key=registry.sitting(sitting.id), kind=KIND, ref=str(sitting.id), name=name,
                    topic=topic, members=members, staff=staff & members, **sitting_power_overrides())


class SittingRooms(Worker):
    """The worker (`run`) and the m.file handler (`__call__`, a TransactionServer handler)."""

    event_types = frozenset({"m.room.message"})  # the transaction server skips anything else

    def __init__(self, hs: Homeserver, store: Store, blobs: BlobStore,
                 context: Callable[[], domain.Context], *,
                 alias_prefix: str, room_version: str, resync_interval: float = 30.0,
                 on_change: Callable[[], None] = lambda: None, poll: float = 2.0) -> None:
        self.hs = hs
        self.store = store
        self.blobs = blobs
        self.context = context
        self.alias_prefix = alias_prefix
        self.room_version = room_version
        self.resync_interval = resync_interval
        self.on_change = on_change
        self.poll = poll
        super().__init__(poll)
        self._media = _Preupload(self)
        self._last_resync: float | None = None
        self.rooms_created = 0
        # The widgets feature sets this (kabinet/features/widgets.py); None: rooms carry none.
        self.widgets: widgets.WidgetPlan | None = None
        self._widgets_due: dict[int, bool] | None = None  # None: every sitting room (once per start)

    def poke(self) -> None:
        super().poke()
        self._media.poke()

    async def round(self) -> bool:
        """Rooms for new sittings; every `resync_interval` s, members brought in line."""
        if await self.create_missing():
            self.on_change()
        if await self.place_widgets():
            self.on_change()
        now = asyncio.get_running_loop().time()
        if self._last_resync is None or now - self._last_resync >= self.resync_interval:
            await self.resync_members()
            self._last_resync = now
        return False  # the next round after `poll`, or at once when poked

    async def create_missing(self) -> int:
        """Create rooms for sittings that have none yet; the number created."""
        async with self.store.session() as s:
            have = set((await s.scalars(select(ManagedRoom.ref).where(ManagedRoom.kind == KIND))).all())
            sittings = [x for x in await domain.list_sittings(s) if str(x.id) not in have]
        if not sittings:
            return 0
        rooms = await registry.room_map(self.store)
        space_id = rooms.get(registry.sittings_space())
        if space_id is None:
            return 0  # the roster has not been applied yet
        ctx = self.context()
        specs = [sitting_spec(x, ctx.roster, self.hs.server_name, ctx.tz) for x in sittings]
        await self.hs.gather(partial(self._ensure, spec, space_id) for spec in specs)
        return len(specs)

    async def _ensure(self, spec: RoomSpec, space_id: str) -> None:
        extra = [parent_state(space_id, self.hs.server_name)]
        if self.widgets is not None:  # part of the room from its first moment
            extra += widgets.room_state(self.widgets, int(spec.ref))
        got = await ensure_room(self.hs, spec, alias_prefix=self.alias_prefix,
                                room_version=self.room_version, extra_state=extra)
        for problem in got.problems:  # a refused invite: resync_members tries again
            log.warning("%s: %s", spec.key, problem)
        if got.created:
            self.rooms_created += 1
            log.info("created sitting room %s (%s) with %d members", spec.key, got.room_id,
                     len(spec.members))
        # Linked before it is recorded: a crash in between re-links (idempotent PUT) next time.
        await link_into_space(self.hs, space_id, got.room_id, order=f"s{int(spec.ref):08d}")
        await record(self.store, spec, got.room_id)
        if self._widgets_due is not None:  # True: created just now, with the widget state
            self._widgets_due[int(spec.ref)] = got.created and self.widgets is not None

    async def place_widgets(self) -> int:
        """The video line of new rooms (made with the widget state), and once per start what
        differs from the plan in every sitting room (made before widgets, or under another
        config): appservice/sittings/widgets.py. Through the outbox; the number of rows added."""
        plan, due = self.widgets, self._widgets_due
        if plan is None or due == {}:
            return 0
        tz = self.context().tz
        since = utcnow().date() - timedelta(days=1)
        rooms = await registry.rooms_by_kind(self.store, KIND)
        async with self.store.session() as s:
            targets = [x for x in await domain.list_sittings(s)
                       if str(x.id) in rooms and (due is None or x.id in due)]
        fresh = {x.id for x in targets if due is not None and due.get(x.id)}
        read = [x for x in targets if x.id not in fresh]
        states = await self.hs.gather(partial(self.hs.room_state, rooms[str(x.id)]) for x in read)
        current = {x.id: widgets.current_state(st) for x, st in zip(read, states, strict=True)}
        added = 0
        async with self.store.session() as s:
            for x in targets:
                upcoming = domain.local_day(x.starts_at, tz) >= since
                added += await widgets.enqueue(s, plan, x.id, announce=upcoming,
                                               current=current.get(x.id))
        self._widgets_due = {}  # rounds run one at a time: no room was added meanwhile
        return added

    async def resync_members(self) -> None:
        """Upcoming sittings' rooms follow the roster: new members invited, leavers removed."""
        ctx = self.context()
        since = utcnow() - timedelta(days=1)
        async with self.store.session() as s:
            upcoming = [x for x in await domain.list_sittings(s)
                        if domain.local_day(x.starts_at, ctx.tz) >= since.date()]
        rooms = await registry.rooms_by_kind(self.store, KIND)
        council = set(await registry.known_accounts(self.store))
        jobs = [(sitting_spec(x, ctx.roster, self.hs.server_name, ctx.tz), rooms[str(x.id)])
                for x in upcoming if str(x.id) in rooms]
        await self.hs.gather(partial(self._resync, spec, room_id, council) for spec, room_id in jobs)

    async def _resync(self, spec: RoomSpec, room_id: str, council: set[str]) -> None:
        changes = await reconcile_members(self.hs, room_id, spec.members, council)
        for problem in changes.problems:
            log.warning("%s: %s", spec.key, problem)

    # -- media ahead of delivery -------------------------------------------------------------

    async def preupload(self) -> None:
        """Worker: upload draft files before their turn comes. Delivery sends one message per
        room at a time (order), so uploading inline would serialise every 1 MiB upload behind
        the previous send; here they go ahead, `concurrency` at a time, and the same file bound
        for the sitting and the commission room is uploaded once."""
        await self._media.run()

    async def preupload_once(self, limit: int = 16) -> int:
        async with self.store.session() as s:
            rows = (await s.execute(
                select(OutboxMessage.id, OutboxMessage.media_sha256, OutboxMessage.media_name,
                       OutboxMessage.media_type)
                .where(OutboxMessage.status == "pending", OutboxMessage.attempts == 0,
                       OutboxMessage.media_sha256.is_not(None), OutboxMessage.media_mxc.is_(None))
                .order_by(OutboxMessage.id).limit(limit))).all()
            shas = {r.media_sha256 for r in rows}
            known = dict((await s.execute(
                select(OutboxMessage.media_sha256, OutboxMessage.media_mxc)
                .where(OutboxMessage.media_sha256.in_(shas), OutboxMessage.media_mxc.is_not(None))
            )).all()) if shas else {}
        first = {r.media_sha256: r for r in reversed(rows) if r.media_sha256 not in known}

        async def upload(row: Any) -> None:
            data = self.blobs.read(row.media_sha256)
            known[row.media_sha256] = str(await self.hs.bot.upload_media(
                data, mime_type=row.media_type or "application/octet-stream",
                filename=row.media_name or "file", size=len(data)))

        try:
            await self.hs.gather(partial(upload, r) for r in first.values())
        except (MatrixRequestError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("pre-upload failed (delivery will upload): %s", exc)
        for row in rows:
            if row.media_sha256 in known:
                await outbox.save_media_mxc(self.store, row.id, str(known[row.media_sha256]))
        if rows:
            self.on_change()
        return len(rows)

    # -- the file-drop handler ---------------------------------------------------------------

    async def __call__(self, event: Event, session: AsyncSession) -> None:
        """A file dropped into a sitting room: the secretariat's becomes a draft on the agenda
        (appservice/sittings/drops.py), anyone else is told in its thread where documents go."""
        if event.type != EventType.ROOM_MESSAGE or not isinstance(event, MessageEvent):
            return
        content = event.content
        if getattr(content, "msgtype", None) != MessageType.FILE:
            return
        if self.hs.is_ours(event.sender) or agenda.DRAFT_KEY in (content.serialize() or {}):
            return
        ref = await session.scalar(select(ManagedRoom.ref).where(ManagedRoom.room_id == event.room_id,
                                                                 ManagedRoom.kind == KIND))
        if ref is None:
            return
        ctx = self.context()
        if event.sender in ctx.roster.secretariat_mxids(self.hs.server_name):
            text = await drops.register(self.hs, event, session, ctx, int(ref))
        else:  # deputies share files too; only the secretariat publishes drafts
            text = drops.not_a_draft(ctx.roster, event.sender, self.hs.server_name)
        # One reply per file: the key is the event's (the transaction server handles an event
        # once, and a retried one finds its reply enqueued).
        await outbox.enqueue(session, f"reply:{event.event_id}", domain.room(int(ref)),
                             "m.room.message", drops.thread_reply(text, event))


class _Preupload(Worker):
    """The pre-upload loop of SittingRooms, in the one loop shape."""

    def __init__(self, rooms: SittingRooms) -> None:
        super().__init__(rooms.poll / 2)
        self.rooms = rooms

    async def round(self) -> bool:
        return bool(await self.rooms.preupload_once())
