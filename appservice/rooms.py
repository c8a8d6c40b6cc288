"""Managed rooms on the homeserver: the one way to make one, keep its members and link it into a
space, for roster, sitting and appeal rooms alike.

- `ensure_room`: find the room by its alias, else create it with its state, preset, invites and
  power levels. The alias is made with the room, so it is the room's first record: a crash
  between createRoom and recording the room in the registry (`council.rooms`) is repaired by
  the next round, which finds the room again by its alias instead of creating a second one.
  At most `CREATE_INVITES` people are invited in createRoom itself, the rest right after.
- `reconcile_members`: invite who is missing, remove those who left (only among the accounts
  the caller manages: a room's other members are never touched).
- `link_into_space` / `unlink_from_space`: the space's `m.space.child`; a room made for a space
  carries `m.space.parent` from its creation (`parent_state`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mautrix.errors import MatrixRequestError, MRoomInUse
from mautrix.types import RoomCreatePreset, RoomID, UserID

from appservice.homeserver import Homeserver
from council import rooms as registry
from council.language import _
from council.store import Store

ROOM_STATE = "ua.kabinet.room"
SPACE_CHILD = "m.space.child"
SPACE_PARENT = "m.space.parent"
FIXED_STATE = {
    "m.room.join_rules": {"join_rule": "invite"},
    "m.room.history_visibility": {"history_visibility": "shared"},
    "m.room.guest_access": {"guest_access": "forbidden"},
}
ACTIVE = frozenset({"join", "invite"})

# Room versions where creators hold unbounded power and must not be listed in `users`.
CREATOR_PRIVILEGED_VERSIONS = frozenset({"12"})

STAFF_POWER = 50

# Synapse sends createRoom's invites one after another inside the one request: a plenary room's
# ~125 invitees, 8 rooms in flight, outlasted the client's 60 s timeout. So createRoom carries a
# few and the rest follow as separate invites, each a short request.
CREATE_INVITES = 20


@dataclass(frozen=True)
class RoomSpec:
    key: str  # stable identity, built by council.rooms: "lounge", "commission:budget", "appeal:7"
    kind: str  # the `kind` of ua.kabinet.room
    ref: str
    name: str
    topic: str
    members: frozenset[str]  # MXIDs besides the bot
    staff: frozenset[str] = frozenset()  # members with power 50
    space: bool = False
    children: tuple[str, ...] = ()  # keys of child rooms, in display order
    events_default: int = 0
    extra_events: Mapping[str, int] = field(default_factory=dict)
    redact: int = STAFF_POWER

    def alias_localpart(self, prefix: str) -> str:
        return prefix + self.key.replace(":", "_")

    def room_state_content(self) -> dict[str, Any]:
        content: dict[str, Any] = {"kind": self.kind, "ref": self.ref}
        if self.space:
            content["space"] = True
        return content

    def power_levels(self, bot: str, room_version: str) -> dict[str, Any]:
        users = {mxid: STAFF_POWER for mxid in self.staff}
        if room_version not in CREATOR_PRIVILEGED_VERSIONS:
            users[bot] = 100
        events = {
            "m.room.name": STAFF_POWER,
            "m.room.topic": STAFF_POWER,
            "m.room.avatar": STAFF_POWER,
            "m.room.pinned_events": STAFF_POWER,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.join_rules": 100,
            "m.room.encryption": 100,
            "m.room.server_acl": 100,
            "m.room.tombstone": 100,
            SPACE_CHILD: 100,
            SPACE_PARENT: 100,
            ROOM_STATE: 100,
            **self.extra_events,
        }
        return {
            "users": users,
            "users_default": 0,
            "events_default": self.events_default,
            "state_default": STAFF_POWER,
            "invite": STAFF_POWER,
            "kick": STAFF_POWER,
            "ban": STAFF_POWER,
            "redact": self.redact,
            "events": events,
        }


# -- making a room --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ensured:
    room_id: str
    created: bool = False  # made just now
    found: bool = False  # not in the registry, found again by its alias
    problems: tuple[str, ...] = ()  # invites after creation the homeserver refused
    invited: tuple[str, ...] = ()  # who was invited, in createRoom or right after (if created)


async def ensure_room(hs: Homeserver, spec: RoomSpec, *, alias_prefix: str, room_version: str,
                      extra_state: Sequence[dict[str, Any]] = (), known: str | None = None) -> Ensured:
    """The room for `spec`: `known` (the registry's room id) if given, else found by its alias,
    else created. Recording it in the registry is the caller's next step (`record`, or with
    whatever else must commit with it); until then the alias finds it again."""
    if known is not None:
        return Ensured(known)
    alias = f"#{spec.alias_localpart(alias_prefix)}:{hs.server_name}"
    found = await hs.resolve_alias(alias)
    if found is not None:
        return Ensured(found, found=True)
    invitees = sorted(spec.members)
    try:
        room_id = await _create(hs, spec, alias_prefix, room_version, extra_state,
                                invitees[:CREATE_INVITES])
    except MRoomInUse:  # the alias was taken since we looked: by our own room, made meanwhile
        found = await hs.resolve_alias(alias)
        if found is None:
            raise
        return Ensured(found, found=True)
    # A crash before these are all sent leaves the room unrecorded: the next round finds it by
    # its alias and its members' reconciliation invites whoever is still missing.
    rest = MemberChanges()
    await _invite(hs, room_id, invitees[CREATE_INVITES:], rest)
    return Ensured(room_id, created=True, problems=tuple(rest.problems),
                   invited=(*invitees[:CREATE_INVITES], *rest.invited))


async def _create(hs: Homeserver, spec: RoomSpec, alias_prefix: str, room_version: str,
                  extra_state: Sequence[dict[str, Any]], invitees: Sequence[str]) -> str:
    """One createRoom: the alias, the first invites, `ua.kabinet.room`, the fixed
    join/history/guest rules and the power levels."""
    initial = [{"type": ROOM_STATE, "state_key": "", "content": spec.room_state_content()}]
    initial += [{"type": t, "state_key": "", "content": c} for t, c in FIXED_STATE.items()]
    room_id = await hs.bot.create_room(
        alias_localpart=spec.alias_localpart(alias_prefix),
        preset=RoomCreatePreset.PRIVATE, name=spec.name, topic=spec.topic,
        invitees=[UserID(u) for u in invitees], initial_state=[*initial, *extra_state],
        room_version=room_version,
        creation_content={"type": "m.space"} if spec.space else None,
        power_level_override=spec.power_levels(hs.bot_mxid, room_version),
    )
    return str(room_id)


async def record(store: Store, spec: RoomSpec, room_id: str) -> None:
    """Remember the room under its key (after `ensure_room`)."""
    await registry.save_room(store, spec.key, spec.kind, spec.ref, room_id)


# -- members --------------------------------------------------------------------------------------


@dataclass
class MemberChanges:
    invited: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # invites the homeserver refused


def membership_changes(want: frozenset[str], state: list[dict[str, Any]], managed: set[str] | frozenset[str],
                       bot: str) -> tuple[list[str], list[str]]:
    """(to invite, to remove): who is wanted and neither in nor banned; who is in, managed by us
    and no longer wanted. Accounts we do not manage are never removed; nor is the bot."""
    current = {e["state_key"]: e["content"].get("membership") for e in state
               if e["type"] == "m.room.member"}
    active = {u for u, m in current.items() if m in ACTIVE}
    invite = sorted(u for u in want - active if current.get(u) != "ban")
    remove = sorted(u for u in (active & managed) - want if u != bot)
    return invite, remove


async def reconcile_members(hs: Homeserver, room_id: str, want: frozenset[str],
                            managed: set[str] | frozenset[str], *, reason: str | None = None,
                            state: list[dict[str, Any]] | None = None) -> MemberChanges:
    """Invite the missing, remove the managed who are no longer wanted. `state` spares a read
    when the caller has the room's state already. An invite the homeserver refuses is a problem
    to report, not a reason to stop."""
    if state is None:
        state = await hs.room_state(room_id)
    invite, remove = membership_changes(want, state, managed, hs.bot_mxid)
    changes = MemberChanges()
    await _invite(hs, room_id, invite, changes)
    for user in remove:
        await hs.bot.kick_user(RoomID(room_id), UserID(user),
                               reason=reason or _("No longer a member (the council's roster)"))
        changes.removed.append(user)
    return changes


async def _invite(hs: Homeserver, room_id: str, users: Sequence[str], changes: MemberChanges) -> None:
    """Invite one after another (a room's events are serialised by the homeserver anyway)."""
    for user in users:
        try:
            # ensure_joined is taken by mautrix's decorator: the bot is in every managed room.
            await hs.bot.invite_user(RoomID(room_id), UserID(user),
                                     ensure_joined=False)  # type: ignore[call-arg]
        except MatrixRequestError as exc:
            changes.problems.append(f"could not invite {user}: {exc.message}")
            continue
        changes.invited.append(user)


# -- spaces ---------------------------------------------------------------------------------------


def child_content(server_name: str, order: str | None = None) -> dict[str, Any]:
    """The content of a space's `m.space.child` event; `order` sorts the children."""
    content: dict[str, Any] = {"via": [server_name]}
    if order is not None:
        content["order"] = order
    return content


def child_state(child_id: str, server_name: str, order: str | None = None) -> dict[str, Any]:
    """A space's `m.space.child` as initial state of the space."""
    return {"type": SPACE_CHILD, "state_key": child_id, "content": child_content(server_name, order)}


def parent_state(space_id: str, server_name: str) -> dict[str, Any]:
    """A room's `m.space.parent` as initial state of the room made for that space."""
    return {"type": SPACE_PARENT, "state_key": space_id,
            "content": {"via": [server_name], "canonical": True}}


async def link_into_space(hs: Homeserver, space_id: str, room_id: str, *, order: str | None = None) -> None:
    """Show the room in the space (an idempotent PUT: linking twice changes nothing)."""
    await hs.send_state(space_id, SPACE_CHILD, child_content(hs.server_name, order), state_key=room_id)


async def unlink_from_space(hs: Homeserver, space_id: str, room_id: str) -> None:
    await hs.send_state(space_id, SPACE_CHILD, {}, state_key=room_id)
