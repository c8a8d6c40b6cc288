"""The desired state: which rooms and spaces a roster calls for, who is in them, with what power.

Pure functions of the roster; reconcile.py compares this with the homeserver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from council.roster import Deputy, Roster

ROOM_STATE = "ua.kabinet.room"
SPACE_CHILD = "m.space.child"
POLL_START = "org.matrix.msc3381.poll.start"
POLL_END = "org.matrix.msc3381.poll.end"

# Room versions where creators hold unbounded power and must not be listed in `users`.
CREATOR_PRIVILEGED_VERSIONS = frozenset({"12"})

STAFF_POWER = 50


@dataclass(frozen=True)
class RoomSpec:
    key: str  # stable identity: "lounge", "commission:budget", "cabinet:tkachuk"
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
            "m.space.child": 100,
            "m.space.parent": 100,
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


def sitting_power_overrides() -> dict[str, Any]:
    """Sitting rooms: only the bot starts or ends polls and nobody else redacts (votes stay)."""
    return {
        "extra_events": {POLL_START: 100, POLL_END: 100, "m.room.redaction": 100},
        "redact": 100,
    }


def _deputy_short(deputy: Deputy) -> str:
    parts = deputy.name.split()
    return " ".join(parts[:2]) if len(parts) >= 2 else deputy.name


def desired_rooms(roster: Roster, server_name: str) -> list[RoomSpec]:
    """Every roster-defined room, children before the spaces that hold them."""
    deputies = {d.id: d.mxid(server_name) for d in roster.deputies}
    staff = frozenset(s.mxid(server_name) for s in roster.secretariat)
    everyone = frozenset(deputies.values()) | staff
    council_ref = next((b.id for b in roster.bodies if b.kind == "council"), "council")
    council_name = roster.council.short_name or roster.council.name
    rooms: list[RoomSpec] = []

    rooms.append(RoomSpec(
        key="announcements", kind="announcements", ref=council_ref, name="Оголошення",
        topic=f"Оголошення секретаріату: {council_name}. Писати можуть секретаріат і бот.",
        members=everyone, staff=staff, events_default=STAFF_POWER))
    rooms.append(RoomSpec(
        key="lounge", kind="lounge", ref=council_ref, name="Депутатська зала",
        topic="Спілкування депутатів між собою та із секретаріатом.", members=everyone, staff=staff))

    chairs = {c.id: c.chair for c in roster.commissions}
    names = {d.id: d.name for d in roster.deputies}
    for c in roster.commissions:
        members = frozenset(deputies[m] for m in roster.commission_members(c.id)) | staff
        chair = f" Голова: {names[chairs[c.id]]}." if chairs[c.id] else ""
        rooms.append(RoomSpec(
            key=f"commission:{c.id}", kind="commission", ref=c.id, name=c.name,
            topic=f"Робоча кімната постійної комісії.{chair}", members=members, staff=staff))
    rooms.append(RoomSpec(
        key="commissions", kind="commissions", ref=council_ref, name="Комісії",
        topic="Постійні комісії ради", members=everyone, staff=staff, space=True,
        children=tuple(f"commission:{c.id}" for c in roster.commissions)))
    rooms.append(RoomSpec(
        key="sittings", kind="sittings", ref=council_ref, name="Засідання",
        topic="Сесії, засідання комісій і виконавчого комітету: порядок денний, проєкти рішень, "
              "голосування", members=everyone, staff=staff, space=True))
    rooms.append(RoomSpec(
        key="council", kind="council", ref=council_ref, name=roster.council.name,
        topic=f"Електронний кабінет депутата: {council_name}", members=everyone, staff=staff,
        space=True, children=("announcements", "lounge", "commissions", "sittings")))

    for d in roster.deputies:
        me = deputies[d.id]
        rooms.append(RoomSpec(
            key=f"cabinet:{d.id}", kind="cabinet", ref=d.id,
            name=f"Кабінет — {_deputy_short(d)}",
            topic="Особисті повідомлення, документи та нагадування від секретаріату.",
            members=frozenset({me}) | staff, staff=staff))
        rooms.append(RoomSpec(
            key=f"notes:{d.id}", kind="notes", ref=d.id, name="Мої замітки",
            topic="Особисті замітки депутата. Бачите лише ви.", members=frozenset({me})))
        rooms.append(RoomSpec(
            key=f"cabinet_space:{d.id}", kind="cabinet", ref=d.id,
            name=f"Кабінет депутата: {d.name}",
            topic="Особистий простір: кабінет, замітки, звернення громадян.",
            members=frozenset({me}) | staff, staff=staff, space=True,
            children=(f"cabinet:{d.id}", f"notes:{d.id}")))
    return rooms
