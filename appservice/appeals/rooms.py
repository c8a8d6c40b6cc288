"""Appeal rooms: the appservice-side worker that gives every registered appeal its room.

For each appeal without a room it registers the citizen's ghost, finds the room by its alias
`#kabinet_appeal_<id>` or creates it (invite-only, never in a directory, `ua.kabinet.room`
kind `appeal`, the deputy or the district's deputies, the secretariat and the ghost invited),
joins the ghost with the citizen's name as its display name (marked as a citizen's, cleaned:
`council.names`), links the room into the addressed deputies' cabinet Spaces, and records
it — in that order, each step idempotent, so a crash anywhere is repaired by the next round.
Messages for the room wait in the outbox (`$room:appeal:<id>`) and flow as soon as it is
recorded. After `!transfer` / `!take` it brings members and Space links in line with the
appeal. It also posts the art. 20 reminders.

Room names and topics carry the number, status and deadline only; log lines carry ids only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from mautrix.api import Method, Path
from mautrix.errors import MatrixRequestError, MNotFound
from mautrix.types import RoomCreatePreset, RoomID, UserID
from sqlalchemy import select, update

from appservice.homeserver import Homeserver
from appservice.roster.desired import ROOM_STATE, SPACE_CHILD, RoomSpec
from appservice.roster.reconcile import FIXED_STATE
from council import appeals
from council.appeals import Appeal, texts
from council.models import ManagedRoom
from council.names import citizen_display_name
from council.roster import Roster
from council.store import Store
from council.worker import Worker

log = logging.getLogger(__name__)


class AppealRooms(Worker):
    def __init__(self, hs: Homeserver, store: Store, ctx: appeals.Context, roster: Callable[[], Roster],
                 *, alias_prefix: str = "kabinet_", room_version: str = "12",
                 on_ready: Callable[[], None] = lambda: None, idle: float = 1.0) -> None:
        self.hs = hs
        self.store = store
        self.ctx = ctx
        self.roster = roster
        self.alias_prefix = alias_prefix
        self.room_version = room_version
        self.on_ready = on_ready
        super().__init__(idle)
        self.created = 0

    async def round(self) -> bool:
        """One round: rooms for new appeals, then membership changes. True if any work."""
        async with self.store.session() as s:
            new = list(await s.scalars(select(Appeal.id).where(Appeal.room_ready.is_(False))
                                       .order_by(Appeal.id).limit(self.hs.concurrency * 4)))
            moved = list(await s.scalars(select(Appeal.id).where(
                Appeal.room_ready.is_(True), Appeal.members_version != Appeal.members_done)
                .limit(self.hs.concurrency * 4)))
        results = await self.hs.gather([lambda i=i: self._guard(self.create, i) for i in new] +
                                       [lambda i=i: self._guard(self.members, i) for i in moved])
        return any(results)

    async def _guard(self, job: Callable[[int], Any], appeal_id: int) -> bool:
        try:
            await job(appeal_id)
            return True
        except (MatrixRequestError, OSError, TimeoutError) as exc:
            log.warning("appeal %s: homeserver not reachable or refused (%s); will retry",
                        appeal_id, type(exc).__name__)
            return False

    # -- who belongs where -------------------------------------------------------------------

    def _deputy_mxids(self, ids: list[str]) -> list[str]:
        server = self.hs.server_name
        by_id = {d.id: d.mxid(server) for d in self.roster().deputies}
        return [by_id[i] for i in ids if i in by_id]

    def _staff(self) -> list[str]:
        return [p.mxid(self.hs.server_name) for p in self.roster().secretariat]

    async def _spaces(self, deputies: list[str]) -> dict[str, str]:
        """deputy id -> room id of their cabinet Space (those the reconciler has made)."""
        keys = [f"cabinet_space:{d}" for d in deputies]
        async with self.store.session() as s:
            rows = await s.execute(select(ManagedRoom.key, ManagedRoom.room_id)
                                   .where(ManagedRoom.key.in_(keys)))
            return {k.removeprefix("cabinet_space:"): rid for k, rid in rows.all()}

    # -- creating ------------------------------------------------------------------------------

    async def create(self, appeal_id: int) -> None:
        async with self.store.session() as s:
            appeal = await appeals.by_id(s, appeal_id)
            if appeal is None or appeal.room_ready:
                return
            version, deputies = appeal.members_version, appeal.members()
            name, number, topic = appeal.name, appeal.number, texts.topic(appeal)
        ghost_id = self.ctx.ghost(appeal_id)
        ghost = self.hs.ghost(ghost_id)
        await ghost.ensure_registered()
        spaces = await self._spaces(deputies)
        key = appeals.room_key(appeal_id)
        alias_local = self.alias_prefix + key.replace(":", "_")
        room_id = await self.hs.resolve_alias(f"#{alias_local}:{self.hs.server_name}")
        if room_id is None:
            room_id = await self._create_room(alias_local, appeal_id, number, topic,
                                              [*self._deputy_mxids(deputies), ghost_id],
                                              list(spaces.values()))
        # Joining with the member event's content sets the citizen's name in this room only.
        # The homeserver's auto_accept_invites module joins the invited ghost too, in the
        # background and with the profile's name: let it go first, so ours is the last word.
        await self._await_auto_join(room_id, ghost_id)
        await self.hs.send_state(room_id, "m.room.member",
                                 {"membership": "join", "displayname": citizen_display_name(name)},
                                 ghost_id, as_user=ghost_id)
        for space_id in spaces.values():
            await self.hs.send_state(space_id, SPACE_CHILD, {"via": [self.hs.server_name]}, room_id)
        async with self.store.session() as s:
            await s.merge(ManagedRoom(key=key, kind="appeal", ref=str(appeal_id), room_id=room_id))
            await s.execute(update(Appeal).where(Appeal.id == appeal_id).values(
                room_ready=True, parents=sorted(spaces), members_done=version))
            await appeals.release_room_messages(s, appeal_id)
        self.created += 1
        log.info("appeal %s: room %s ready", appeal_id, room_id)
        self.on_ready()

    async def _await_auto_join(self, room_id: str, user: str, limit: float = 3.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while loop.time() < deadline:
            try:
                member = await self.hs.request(
                    Method.GET, Path.v3.rooms[room_id].state["m.room.member"][user])
            except MNotFound:
                member = {}
            if member.get("membership") == "join":
                return
            await asyncio.sleep(0.05)

    async def _create_room(self, alias_local: str, appeal_id: int, number: str, topic: str,
                           invitees: list[str], spaces: list[str]) -> str:
        staff = self._staff()
        spec = RoomSpec(key=appeals.room_key(appeal_id), kind="appeal", ref=str(appeal_id),
                        name=texts.room_name(number), topic=topic,
                        members=frozenset(invitees) | frozenset(staff), staff=frozenset(staff))
        initial = [{"type": ROOM_STATE, "state_key": "", "content": spec.room_state_content()}]
        initial += [{"type": t, "state_key": "", "content": c} for t, c in FIXED_STATE.items()]
        initial += [{"type": "m.space.parent", "state_key": sid,
                     "content": {"via": [self.hs.server_name], "canonical": True}}
                    for sid in spaces]
        try:
            return str(await self.hs.bot.create_room(
                alias_localpart=alias_local, preset=RoomCreatePreset.PRIVATE, name=spec.name,
                topic=spec.topic, invitees=[UserID(u) for u in sorted(spec.members)],
                initial_state=initial, room_version=self.room_version,
                power_level_override=spec.power_levels(self.hs.bot_mxid, self.room_version)))
        except MatrixRequestError as exc:
            if exc.errcode != "M_ROOM_IN_USE":  # made by an earlier attempt that crashed
                raise
            found = await self.hs.resolve_alias(f"#{alias_local}:{self.hs.server_name}")
            if found is None:
                raise
            return found

    # -- transfer / take ---------------------------------------------------------------------

    async def members(self, appeal_id: int) -> None:
        """Bring the room's deputies and its Space links in line with the appeal."""
        async with self.store.session() as s:
            appeal = await appeals.by_id(s, appeal_id)
            room_id = await s.scalar(select(ManagedRoom.room_id).where(
                ManagedRoom.key == appeals.room_key(appeal_id)))
            if appeal is None or room_id is None:
                return
            version, wanted, old_parents = appeal.members_version, appeal.members(), appeal.parents
        state = await self.hs.room_state(room_id)
        current = {e["state_key"]: e["content"].get("membership") for e in state
                   if e["type"] == "m.room.member"}
        want = set(self._deputy_mxids(wanted))
        all_deputies = set(self._deputy_mxids([d.id for d in self.roster().deputies]))
        for user in sorted(want):
            if current.get(user) not in ("join", "invite", "ban"):
                await self.hs.bot.invite_user(RoomID(room_id), UserID(user), ensure_joined=False)
        for user in sorted(all_deputies - want):
            if current.get(user) in ("join", "invite"):
                await self.hs.bot.kick_user(RoomID(room_id), UserID(user),
                                            reason="Звернення передано / The appeal was handed over")
        spaces = await self._spaces(sorted(set(wanted) | set(old_parents)))
        for deputy in set(old_parents) - set(wanted):
            if deputy in spaces:
                await self.hs.send_state(spaces[deputy], SPACE_CHILD, {}, room_id)
        for deputy in set(wanted) - set(old_parents):
            if deputy in spaces:
                await self.hs.send_state(spaces[deputy], SPACE_CHILD,
                                         {"via": [self.hs.server_name]}, room_id)
        async with self.store.session() as s:
            await s.execute(update(Appeal).where(Appeal.id == appeal_id).values(
                members_done=version, parents=sorted(set(wanted) & set(spaces))))
        log.info("appeal %s: members brought in line (version %s)", appeal_id, version)


async def reminders(store: Store, interval: float, on_queued: Callable[[], None],
                    today: Callable[[], date] = date.today) -> None:
    """art. 20 reminders, checked every `interval` seconds (the keys make each one once)."""
    while True:
        async with store.session() as s:
            queued = await appeals.remind(s, today())
        if queued:
            log.info("queued %s appeal deadline reminders", queued)
            on_queued()
        await asyncio.sleep(interval)
