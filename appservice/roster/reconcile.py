"""Reconciliation: make the homeserver match the roster, writing only the difference.

Every managed room has an alias `#kabinet_<key>` in the appservice's exclusive
namespace. The store maps keys to room ids; if the store lost a mapping (a crash
between createRoom and the commit, a fresh data dir), the alias finds the room
again, so a room is never created twice.

A room's state comes from the room-state cache (council/roomstate.py, fed by the appservice's
transactions) when the cache holds all of it; otherwise it is read once (GET /state) and fills
the cache. What the reconciler sends is written through to the cache, so a re-apply right after
does not send it again. `apply(full=True)` reads every room, and so does an apply that finds
the store and the homeserver from different moments (appservice/roster/pairing.py: one of the two
databases restored without the other); either pairs them again once done. A write that fails
on cached state is taken as a sign that the cache is behind: the room is read in full and
brought in line again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from mautrix.errors import MatrixRequestError

from appservice.homeserver import Homeserver
from appservice.rooms import (
    FIXED_STATE,
    ROOM_STATE,
    SPACE_CHILD,
    Ensured,
    MemberChanges,
    RoomSpec,
    child_content,
    child_state,
    ensure_room,
    reconcile_members,
    record,
)
from appservice.roster import pairing
from appservice.roster.desired import desired_rooms
from council import rooms as registry
from council import roomstate
from council.models import CouncilAccount, utcnow
from council.roster import Person, Roster
from council.store import Store

log = logging.getLogger(__name__)

# (localpart, password, displayname) -> True if created, False if it existed.
AccountCreator = Callable[[str, str, str], Awaitable[bool]]


@dataclass(frozen=True)
class Progress:
    """How far an apply has come: the roster's accounts and the rooms (wanted, and those no
    longer wanted) looked at so far, out of all; invites sent so far (how many there will be is
    known only as each room is looked at)."""

    accounts: int = 0
    accounts_total: int = 0
    rooms: int = 0
    rooms_total: int = 0
    invites: int = 0

    @property
    def done(self) -> int:
        return self.accounts + self.rooms

    @property
    def total(self) -> int:
        return self.accounts_total + self.rooms_total


# Told after each account and each room (and once at the start): e.g. kabinet/progress.py.
OnProgress = Callable[[Progress], None]


@dataclass
class Report:
    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rooms_created: int = 0
    invites: int = 0
    removals: int = 0
    state_events: int = 0
    accounts_created: int = 0
    writes: int = 0
    state_reads: int = 0  # rooms whose whole state was read from the homeserver (not cached)

    def note(self, line: str) -> None:
        log.info(line)
        self.changes.append(line)

    def summary(self) -> str:
        if not self.changes:
            return "nothing to change: the homeserver already matches the roster"
        return (f"{self.rooms_created} rooms created, {self.invites} invites, {self.removals} "
                f"removals, {self.state_events} state changes, {self.accounts_created} accounts "
                f"created ({self.writes} homeserver writes)")


@dataclass(frozen=True)
class StateChange:
    event_type: str
    state_key: str
    content: dict[str, Any]


def _by_key(state: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["type"], e.get("state_key", "")): e.get("content", {}) for e in state}


def power_levels_change(actual: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """The new power levels if `actual` differs from `desired` in what we manage, else None.

    Keys we do not manage (notifications, homeserver defaults) are kept as they are.
    """
    differs = any(
        (actual.get("events") or {}).get(k) != v for k, v in desired["events"].items()
    ) or any(actual.get(k) != v for k, v in desired.items() if k != "events")
    if not differs:
        return None
    merged = {**actual, **{k: v for k, v in desired.items() if k != "events"}}
    merged["events"] = {**(actual.get("events") or {}), **desired["events"]}
    return merged


def state_changes(
    spec: RoomSpec, state: list[dict[str, Any]], child_ids: dict[str, str],
    removable_children: set[str], bot: str, server_name: str,
) -> list[StateChange]:
    """What must be sent so that the room's state matches the spec (pure; unit-tested)."""
    actual = _by_key(state)
    version = actual.get(("m.room.create", ""), {}).get("room_version", "1")
    wanted: dict[tuple[str, str], dict[str, Any]] = {
        ("m.room.name", ""): {"name": spec.name},
        ("m.room.topic", ""): {"topic": spec.topic},
        (ROOM_STATE, ""): spec.room_state_content(),
        **{(t, ""): c for t, c in FIXED_STATE.items()},
    }
    for order, child_key in enumerate(spec.children):
        if child_key in child_ids:
            wanted[(SPACE_CHILD, child_ids[child_key])] = child_content(server_name, f"{order:04d}")
    changes = [StateChange(t, k, c) for (t, k), c in wanted.items()
               if not _contains(actual.get((t, k)), c)]
    wanted_children = {k for (t, k) in wanted if t == SPACE_CHILD}
    for (etype, skey), content in actual.items():
        if etype == SPACE_CHILD and content and skey in removable_children \
                and skey not in wanted_children:
            changes.append(StateChange(SPACE_CHILD, skey, {}))
    new_pl = power_levels_change(actual.get(("m.room.power_levels", ""), {}),
                                 spec.power_levels(bot, version))
    if new_pl is not None:
        changes.append(StateChange("m.room.power_levels", "", new_pl))
    return changes


def _contains(actual: dict[str, Any] | None, desired: dict[str, Any]) -> bool:
    """Does the actual content hold what we want? Extra keys the homeserver adds (such as the
    `m.topic` block of a topic set at creation) are not a difference."""
    return actual is not None and all(actual.get(k) == v for k, v in desired.items())


class Reconciler:
    def __init__(
        self, hs: Homeserver, store: Store, *, alias_prefix: str = "kabinet_",
        room_version: str = "12", create_account: AccountCreator | None = None,
    ) -> None:
        self.hs = hs
        self.store = store
        self.alias_prefix = alias_prefix
        self.room_version = room_version
        self.create_account = create_account

    async def apply(self, roster: Roster, progress: OnProgress | None = None, *,
                    full: bool = False) -> Report:
        """Bring the homeserver in line with the roster; `full` reads every room's state from
        the homeserver instead of the cache (and refills the cache)."""
        report = Report()
        full = full or await pairing.apart(self.hs, self.store)
        writes_before = self.hs.writes  # the roster's writes, not the pairing's bookkeeping
        specs = desired_rooms(roster, self.hs.server_name)
        room_ids = await registry.room_map(self.store)
        desired_keys = {s.key for s in specs}
        orphans = [k for k in room_ids if k not in desired_keys and _roster_key(k)]
        counts = Progress(rooms_total=len(specs) + len(orphans))

        def step(accounts: int = 0, rooms: int = 0, accounts_total: int = 0) -> None:
            nonlocal counts
            counts = replace(counts, accounts=counts.accounts + accounts, rooms=counts.rooms + rooms,
                             accounts_total=counts.accounts_total + accounts_total,
                             invites=report.invites)
            if progress is not None:
                progress(counts)

        council = await self._accounts(roster, report, step)
        removable = {rid for key, rid in room_ids.items() if _roster_key(key)}
        # Every room's cached state in one read; a room not (completely) cached is read alone.
        cached = {} if full else await roomstate.load(self.store, room_ids.values())

        async def room(spec: RoomSpec) -> None:
            await self._room(spec, room_ids, removable, council, report, cached)
            step(rooms=1)

        async def retire(key: str) -> None:
            await self._retire(key, room_ids[key], council, report)
            step(rooms=1)

        pending = list(specs)
        while pending:  # children first: a space is handled once all its children have ids
            ready = [s for s in pending if all(c in room_ids for c in s.children)]
            if not ready:
                raise RuntimeError("space hierarchy has a cycle or a missing child")
            done = {s.key for s in ready}
            pending = [s for s in pending if s.key not in done]
            await self.hs.gather(partial(room, s) for s in ready)
        await self.hs.gather(partial(retire, k) for k in orphans)
        report.writes = self.hs.writes - writes_before
        if full:  # every room read: the cache is the homeserver's now, whatever the marks said
            await pairing.pair(self.hs, self.store)
        return report

    async def _accounts(self, roster: Roster, report: Report,
                        step: Callable[..., None]) -> set[str]:
        server = self.hs.server_name
        known = await registry.known_accounts(self.store)
        # The role is informational (nothing reads it back): who the roster said they were.
        people: list[tuple[Person, str]] = [(p, "deputy") for p in roster.deputies]
        people += [(roster.head, "head")] if roster.head else []
        people += [(p, "staff") for p in roster.secretariat]
        missing = [(p, role, p.mxid(server)) for p, role in people if p.mxid(server) not in known]
        step(accounts=len(people) - len(missing), accounts_total=len(people))

        async def account(person: Person, mxid: str) -> bool:
            localpart, _, domain = mxid[1:].partition(":")
            if not (self.create_account and person.password and domain == server):
                step(accounts=1)
                return False
            created = await self.create_account(localpart, person.password, person.name)
            if created:
                report.accounts_created += 1
                report.note(f"created account {mxid} ({person.name})")
            step(accounts=1)
            return created

        created = await self.hs.gather(partial(account, p, m) for p, _, m in missing)
        new = [CouncilAccount(mxid=mxid, roster_id=p.id, role=role, created_by_us=made)
               for (p, role, mxid), made in zip(missing, created, strict=True)]
        if new:
            async with self.store.session() as s:
                await registry.remember_accounts(s, new)
        return set(known) | {a.mxid for a in new}

    async def _room(self, spec: RoomSpec, room_ids: dict[str, str], removable: set[str],
                    council: set[str], report: Report, cached: dict[str, roomstate.State]) -> None:
        children = [child_state(room_ids[c], self.hs.server_name, f"{i:04d}")
                    for i, c in enumerate(spec.children)]
        began = utcnow()
        got = await ensure_room(self.hs, spec, alias_prefix=self.alias_prefix,
                                room_version=self.room_version, extra_state=children,
                                known=room_ids.get(spec.key))
        room_id = room_ids[spec.key] = got.room_id
        if got.created:
            self._created(spec, got.problems, report)
            await record(self.store, spec, room_id)
            async with self.store.session() as s:  # its whole state is what we made it with
                await roomstate.replace(s, room_id, self._initial_state(spec, children, got),
                                        began, source="created")
            return  # made as the spec says: nothing to bring in line
        if got.found:
            report.note(f"found {spec.key} again by its alias "
                        f"#{spec.alias_localpart(self.alias_prefix)}:{self.hs.server_name}")
            await record(self.store, spec, room_id)
        state = cached.get(room_id)
        if state is not None:
            try:
                if await self._in_line(spec, room_id, state, room_ids, removable, council,
                                       report, fresh=False):
                    return
            except MatrixRequestError as exc:  # e.g. removing someone who had already left
                log.info("%s: %s on cached state; reading the room in full", spec.key, exc)
        # Not cached, or refused on cached state (the cache may be behind): ask the homeserver.
        await self._in_line(spec, room_id, await self._read(room_id, report), room_ids,
                            removable, council, report, fresh=True)

    async def _read(self, room_id: str, report: Report) -> roomstate.State:
        """The room's whole state from the homeserver, kept in the cache (now complete)."""
        began = utcnow()
        state = await self.hs.room_state(room_id)
        report.state_reads += 1
        async with self.store.session() as s:
            await roomstate.replace(s, room_id, state, began)
        return state

    async def _in_line(self, spec: RoomSpec, room_id: str, state: roomstate.State,
                       room_ids: dict[str, str], removable: set[str], council: set[str],
                       report: Report, *, fresh: bool) -> bool:
        """Send what differs from `state`, write it through to the cache. False if an invite
        was refused on a state that was not `fresh` (the refusal is not reported: the caller
        tries again on a fresh read)."""
        began = utcnow()
        sent: roomstate.State = []
        bot = self.hs.bot_mxid
        for change in state_changes(spec, state, room_ids, removable, bot, self.hs.server_name):
            event_id = await self.hs.send_state(room_id, change.event_type, change.content,
                                                change.state_key)
            sent.append({"type": change.event_type, "state_key": change.state_key,
                         "content": change.content, "event_id": event_id})
            report.state_events += 1
            report.note(f"{spec.key}: set {change.event_type} {change.state_key}".rstrip())
        try:
            changes = await reconcile_members(self.hs, room_id, spec.members, council, state=state)
        except MatrixRequestError:
            await self._write_through(room_id, sent, began)
            raise
        await self._write_through(room_id, sent + _memberships(changes), began)
        if changes.problems and not fresh:
            self._members(spec.key, MemberChanges(changes.invited, changes.removed), report)
            return False
        self._members(spec.key, changes, report)
        return True

    async def _write_through(self, room_id: str, events: roomstate.State, began: datetime) -> None:
        if events:
            async with self.store.session() as s:
                await roomstate.write_through(s, room_id, events, began)

    def _initial_state(self, spec: RoomSpec, children: list[dict[str, Any]],
                       got: Ensured) -> roomstate.State:
        """A room's state as createRoom made it (appservice/rooms.py `_create`): what the
        reconciler compares, until the transactions bring the homeserver's own events."""
        create: dict[str, Any] = {"room_version": self.room_version}
        if spec.space:
            create["type"] = "m.space"
        fixed = {"m.room.create": create,
                 "m.room.power_levels": spec.power_levels(self.hs.bot_mxid, self.room_version),
                 "m.room.name": {"name": spec.name}, "m.room.topic": {"topic": spec.topic},
                 ROOM_STATE: spec.room_state_content(), **FIXED_STATE}
        state = [{"type": t, "state_key": "", "content": c} for t, c in fixed.items()]
        state += [{"type": c["type"], "state_key": c["state_key"], "content": c["content"]}
                  for c in children]
        state.append(_member(self.hs.bot_mxid, "join"))
        return state + [_member(u, "invite") for u in got.invited]

    @staticmethod
    def _members(key: str, changes: MemberChanges, report: Report) -> None:
        report.problems += [f"{key}: {p}" for p in changes.problems]
        report.invites += len(changes.invited)
        report.removals += len(changes.removed)
        for user in changes.invited:
            report.note(f"{key}: invited {user}")
        for user in changes.removed:
            report.note(f"{key}: removed {user}")

    @staticmethod
    def _created(spec: RoomSpec, problems: tuple[str, ...], report: Report) -> None:
        report.rooms_created += 1
        report.invites += len(spec.members) - len(problems)
        report.problems += [f"{spec.key}: {p}" for p in problems]
        report.note(f"created {'space' if spec.space else 'room'} {spec.key} «{spec.name}» "
                    f"with {len(spec.members)} members")

    async def _retire(self, key: str, room_id: str, council: set[str], report: Report) -> None:
        """A roster room that is no longer wanted: council members leave, history stays. Rare:
        the room's state is read from the homeserver, and who left written through."""
        began = utcnow()
        changes = await reconcile_members(self.hs, room_id, frozenset(), council)
        await self._write_through(room_id, _memberships(changes), began)
        self._members(key, changes, report)


def _member(user: str, membership: str) -> dict[str, Any]:
    return {"type": "m.room.member", "state_key": user, "content": {"membership": membership}}


def _memberships(changes: MemberChanges) -> roomstate.State:
    """Invites and removals just sent, as the cache keeps them (their ids come with the echo)."""
    return ([_member(u, "invite") for u in changes.invited]
            + [_member(u, "leave") for u in changes.removed])


def _roster_key(key: str) -> bool:
    return registry.family(key) in registry.ROSTER_FAMILIES
