"""Appeal rooms: the appservice-side worker that gives every registered appeal its room.

For each appeal without a room it registers the citizen's ghost, finds the room by its alias
`#kabinet_appeal_<id>` or creates it (invite-only, never in a directory, `ua.kabinet.room`
kind `appeal`, the deputy or the district's deputies, the secretariat and the ghost invited),
joins the ghost with the citizen's name as its display name (marked as a citizen's, cleaned:
`council.names`), links the room into the addressed deputies' cabinet Spaces, and records
it — in that order, each step idempotent, so a crash anywhere is repaired by the next round.
Messages for the room wait in the outbox (`$room:appeal:<id>`) and flow as soon as it is
recorded. After `!transfer` / `!take` it brings members and Space links in line with the
appeal.

Room names and topics carry the number, status and deadline only; log lines carry ids only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from mautrix.api import Method, Path
from mautrix.errors import MatrixRequestError, MNotFound
from sqlalchemy import select, update

from appservice.homeserver import Homeserver
from appservice.rooms import (
    RoomSpec,
    ensure_room,
    link_into_space,
    parent_state,
    reconcile_members,
    unlink_from_space,
)
from council import appeals
from council import rooms as registry
from council.appeals import Appeal, texts
from council.language import Text
from council.names import citizen_display_name
from council.roster import Roster
from council.store import Store
from council.worker import Worker

log = logging.getLogger(__name__)

KIND = "appeal"  # the `ua.kabinet.room` kind of appeal rooms
HANDED_OVER = Text("The appeal was handed over")


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
        results = await self.hs.gather([partial(self._guard, self.create, i) for i in new] +
                                       [partial(self._guard, self.members, i) for i in moved])
        return any(results)

    async def _guard(self, job: Callable[[int], Any], appeal_id: int) -> bool:
        """Run one job; False (retry next round) if it did not finish."""
        try:
            return await job(appeal_id) is not False
        except (MatrixRequestError, OSError, TimeoutError) as exc:
            log.warning("appeal %s: homeserver not reachable or refused (%s); will retry",
                        appeal_id, type(exc).__name__)
            return False

    # -- who belongs where -------------------------------------------------------------------

    def _deputy_mxids(self, ids: list[str]) -> list[str]:
        server = self.hs.server_name
        by_id = {d.id: d.mxid(server) for d in self.roster().deputies}
        return [by_id[i] for i in ids if i in by_id]

    async def _spaces(self, deputies: list[str]) -> dict[str, str]:
        """deputy id -> room id of their cabinet Space (those the reconciler has made)."""
        keys = {registry.cabinet_space(d): d for d in deputies}
        return {keys[k]: rid for k, rid in (await registry.room_ids(self.store, keys)).items()}

    def _spec(self, appeal_id: int, number: str, topic: str, invitees: list[str]) -> RoomSpec:
        staff = self.roster().secretariat_mxids(self.hs.server_name)
        return RoomSpec(key=registry.appeal(appeal_id), kind=KIND, ref=str(appeal_id),
                        name=texts.room_name(number), topic=topic,
                        members=frozenset(invitees) | staff, staff=staff)

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
        spec = self._spec(appeal_id, number, topic, [*self._deputy_mxids(deputies), ghost_id])
        got = await ensure_room(self.hs, spec, alias_prefix=self.alias_prefix,
                                room_version=self.room_version,
                                extra_state=[parent_state(sid, self.hs.server_name)
                                             for sid in spaces.values()])
        room_id = got.room_id
        # Joining with the member event's content sets the citizen's name in this room only.
        # The homeserver's auto_accept_invites module joins the invited ghost too, in the
        # background and with the profile's name: let it go first, so ours is the last word.
        await self._await_auto_join(room_id, ghost_id)
        await self.hs.send_state(room_id, "m.room.member",
                                 {"membership": "join", "displayname": citizen_display_name(name)},
                                 ghost_id, as_user=ghost_id)
        for space_id in spaces.values():
            await link_into_space(self.hs, space_id, room_id)
        async with self.store.session() as s:
            await registry.remember_room(s, spec.key, spec.kind, spec.ref, room_id)
            await s.execute(update(Appeal).where(Appeal.id == appeal_id).values(
                room_ready=True, parents=sorted(spaces), members_done=version))
            await appeals.release_room_messages(s, appeal_id)
        self.created += 1
        log.info("appeal %s: room %s ready", appeal_id, room_id)
        self.on_ready()

    async def _await_auto_join(self, room_id: str, user: str, limit: float = 3.0) -> None:
        # Looked at 50, 100, 200, 400 … ms apart: many appeal rooms being made at once must not
        # spend the homeserver's request slots, which delivery needs, on asking.
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + limit, 0.05
        while loop.time() < deadline:
            try:
                member = await self.hs.request(
                    Method.GET, Path.v3.rooms[room_id].state["m.room.member"][user])
            except MNotFound:
                member = {}
            if member.get("membership") == "join":
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.4)

    # -- transfer / take ---------------------------------------------------------------------

    async def members(self, appeal_id: int) -> bool:
        """Bring the room's deputies and its Space links in line with the appeal; False if an
        invite was refused (the next round tries again)."""
        async with self.store.session() as s:
            appeal = await appeals.by_id(s, appeal_id)
            if appeal is None:
                return True
            version, wanted, old_parents = appeal.members_version, appeal.members(), appeal.parents
        room_id = await registry.room_id(self.store, registry.appeal(appeal_id))
        if room_id is None:
            return True
        all_deputies = frozenset(self._deputy_mxids([d.id for d in self.roster().deputies]))
        changes = await reconcile_members(self.hs, room_id, frozenset(self._deputy_mxids(wanted)),
                                          all_deputies, reason=str(HANDED_OVER))
        if changes.problems:
            log.warning("appeal %s: %d invite(s) refused; will retry", appeal_id, len(changes.problems))
            return False
        spaces = await self._spaces(sorted(set(wanted) | set(old_parents)))
        for deputy in set(old_parents) - set(wanted):
            if deputy in spaces:
                await unlink_from_space(self.hs, spaces[deputy], room_id)
        for deputy in set(wanted) - set(old_parents):
            if deputy in spaces:
                await link_into_space(self.hs, spaces[deputy], room_id)
        async with self.store.session() as s:
            await s.execute(update(Appeal).where(Appeal.id == appeal_id).values(
                members_done=version, parents=sorted(set(wanted) & set(spaces))))
        log.info("appeal %s: members brought in line (version %s)", appeal_id, version)
        return True
