"""The desired state: which rooms and spaces a roster calls for, who is in them, with what power.

Pure functions of the roster; reconcile.py compares this with the homeserver. Names and topics
are in the council's language: an installation that changes it renames its rooms once (one
name and one topic event each), and an unchanged re-apply writes nothing.
"""

from __future__ import annotations

from appservice.rooms import STAFF_POWER, RoomSpec
from council import rooms as keys
from council.language import _
from council.roster import Person, Roster


def _deputy_short(person: Person) -> str:
    parts = person.name.split()
    return " ".join(parts[:2]) if len(parts) >= 2 else person.name


def cabinet_name(person: Person) -> str:
    """The name of a deputy's (or the head's) cabinet room, the one they share with the
    secretariat: where they send the secretariat a document."""
    return _("Cabinet — {name}", name=_deputy_short(person))


def desired_rooms(roster: Roster, server_name: str) -> list[RoomSpec]:
    """Every roster-defined room, children before the spaces that hold them."""
    deputies = {d.id: d.mxid(server_name) for d in roster.deputies}
    staff = roster.secretariat_mxids(server_name)
    # The head is a member of the council: in its rooms and spaces, in no commission.
    head = frozenset({roster.head.mxid(server_name)}) if roster.head else frozenset()
    everyone = frozenset(deputies.values()) | head | staff
    council_ref = next((b.id for b in roster.bodies if b.kind == "council"), "council")
    council_name = roster.council.short_name or roster.council.name
    rooms: list[RoomSpec] = []

    rooms.append(RoomSpec(
        key=keys.announcements(), kind="announcements", ref=council_ref, name=_("Announcements"),
        topic=_("The secretariat's announcements: {council}. The secretariat and the bot may post.",
                council=council_name),
        members=everyone, staff=staff, events_default=STAFF_POWER))
    rooms.append(RoomSpec(
        key=keys.secretariat(), kind="secretariat", ref=council_ref, name=_("Secretariat"),
        topic=_("The secretariat's service room: the bot reports here what needs attention."),
        members=staff, staff=staff))
    rooms.append(RoomSpec(
        key=keys.lounge(), kind="lounge", ref=council_ref, name=_("Deputies' lounge"),
        topic=_("Deputies talk among themselves and with the secretariat."), members=everyone,
        staff=staff))

    names = {d.id: d.name for d in roster.deputies}
    for c in roster.commissions:
        members = frozenset(deputies[m] for m in roster.commission_members(c.id)) | staff
        topic = (_("The standing commission's working room. Chair: {chair}.", chair=names[c.chair])
                 if c.chair else _("The standing commission's working room."))
        rooms.append(RoomSpec(
            key=keys.commission(c.id), kind="commission", ref=c.id, name=c.name,
            topic=topic, members=members, staff=staff))
    rooms.append(RoomSpec(
        key=keys.commissions_space(), kind="commissions", ref=council_ref, name=_("Commissions"),
        topic=_("The council's standing commissions"), members=everyone, staff=staff, space=True,
        children=tuple(keys.commission(c.id) for c in roster.commissions)))
    rooms.append(RoomSpec(
        key=keys.sittings_space(), kind="sittings", ref=council_ref, name=_("Sittings"),
        topic=_("Sessions, commission and executive committee sittings: agenda, draft decisions, "
                "votes"), members=everyone, staff=staff, space=True))
    rooms.append(RoomSpec(
        key=keys.council_space(), kind="council", ref=council_ref, name=roster.council.name,
        topic=_("The deputy's electronic cabinet: {council}", council=council_name),
        members=everyone, staff=staff,
        space=True, children=(keys.announcements(), keys.lounge(), keys.commissions_space(),
                                      keys.sittings_space())))

    for d in roster.deputies:
        rooms += _cabinet(d, _("Deputy's cabinet: {name}", name=d.name),
                          _("The deputy's personal notes."), server_name, staff)
    if roster.head:
        rooms += _cabinet(roster.head, _("Cabinet: {name}", name=roster.head.name),
                          _("Personal notes."), server_name, staff)
    # The secretariat's own private room: their notes, and where the bot posts their one-time
    # sign-in links (a cabinet room is shared with the whole secretariat: never there).
    for member in roster.secretariat:
        rooms.append(_notes_room(member, _("Personal notes."), server_name))
    return rooms


def _notes_room(person: Person, notes_topic: str, server_name: str) -> RoomSpec:
    return RoomSpec(
        key=keys.notes(person.id), kind="notes", ref=person.id, name=_("My notes"),
        topic=_("{notes} Only you and Kabinet's bot see it. The bot also sends the links for "
                "signing in to the website here.", notes=notes_topic),
        members=frozenset({person.mxid(server_name)}))


def _cabinet(person: Person, space_name: str, notes_topic: str, server_name: str,
             staff: frozenset[str]) -> list[RoomSpec]:
    """A personal cabinet: the room shared with the secretariat, private notes, their space."""
    me = person.mxid(server_name)
    return [
        RoomSpec(
            key=keys.cabinet(person.id), kind="cabinet", ref=person.id, name=cabinet_name(person),
            topic=_("Personal notices, documents and reminders from the secretariat."),
            members=frozenset({me}) | staff, staff=staff),
        _notes_room(person, notes_topic, server_name),
        RoomSpec(
            key=keys.cabinet_space(person.id), kind="cabinet", ref=person.id, name=space_name,
            topic=_("Personal space: cabinet, notes, citizens' appeals."),
            members=frozenset({me}) | staff, staff=staff, space=True,
            children=(keys.cabinet(person.id), keys.notes(person.id))),
    ]
