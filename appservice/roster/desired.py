"""The desired state: which rooms and spaces a roster calls for, who is in them, with what power.

Pure functions of the roster; reconcile.py compares this with the homeserver.
"""

from __future__ import annotations

from appservice.rooms import STAFF_POWER, RoomSpec
from council import rooms as keys
from council.roster import Person, Roster


def _deputy_short(person: Person) -> str:
    parts = person.name.split()
    return " ".join(parts[:2]) if len(parts) >= 2 else person.name


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
        key=keys.announcements(), kind="announcements", ref=council_ref, name="Оголошення",
        topic=f"Оголошення секретаріату: {council_name}. Писати можуть секретаріат і бот.",
        members=everyone, staff=staff, events_default=STAFF_POWER))
    rooms.append(RoomSpec(
        key=keys.secretariat(), kind="secretariat", ref=council_ref, name="Секретаріат",
        topic="Службова кімната секретаріату: тут бот повідомляє про те, що потребує уваги.",
        members=staff, staff=staff))
    rooms.append(RoomSpec(
        key=keys.lounge(), kind="lounge", ref=council_ref, name="Депутатська зала",
        topic="Спілкування депутатів між собою та із секретаріатом.", members=everyone, staff=staff))

    names = {d.id: d.name for d in roster.deputies}
    for c in roster.commissions:
        members = frozenset(deputies[m] for m in roster.commission_members(c.id)) | staff
        chair = f" Голова: {names[c.chair]}." if c.chair else ""
        rooms.append(RoomSpec(
            key=keys.commission(c.id), kind="commission", ref=c.id, name=c.name,
            topic=f"Робоча кімната постійної комісії.{chair}", members=members, staff=staff))
    rooms.append(RoomSpec(
        key=keys.commissions_space(), kind="commissions", ref=council_ref, name="Комісії",
        topic="Постійні комісії ради", members=everyone, staff=staff, space=True,
        children=tuple(keys.commission(c.id) for c in roster.commissions)))
    rooms.append(RoomSpec(
        key=keys.sittings_space(), kind="sittings", ref=council_ref, name="Засідання",
        topic="Сесії, засідання комісій і виконавчого комітету: порядок денний, проєкти рішень, "
              "голосування", members=everyone, staff=staff, space=True))
    rooms.append(RoomSpec(
        key=keys.council_space(), kind="council", ref=council_ref, name=roster.council.name,
        topic=f"Електронний кабінет депутата: {council_name}", members=everyone, staff=staff,
        space=True, children=(keys.announcements(), keys.lounge(), keys.commissions_space(),
                                      keys.sittings_space())))

    for d in roster.deputies:
        rooms += _cabinet(d, f"Кабінет депутата: {d.name}", "Особисті замітки депутата.",
                          server_name, staff)
    if roster.head:
        rooms += _cabinet(roster.head, f"Кабінет: {roster.head.name}", "Особисті замітки.",
                          server_name, staff)
    # The secretariat's own private room: their notes, and where the bot posts their one-time
    # sign-in links (a cabinet room is shared with the whole secretariat: never there).
    for member in roster.secretariat:
        rooms.append(_notes_room(member, "Особисті замітки.", server_name))
    return rooms


def _notes_room(person: Person, notes_topic: str, server_name: str) -> RoomSpec:
    return RoomSpec(
        key=keys.notes(person.id), kind="notes", ref=person.id, name="Мої замітки",
        topic=f"{notes_topic} Бачите лише ви та бот Кабінету. Сюди ж бот надсилає посилання "
              "для входу на сайт.",
        members=frozenset({person.mxid(server_name)}))


def _cabinet(person: Person, space_name: str, notes_topic: str, server_name: str,
             staff: frozenset[str]) -> list[RoomSpec]:
    """A personal cabinet: the room shared with the secretariat, private notes, their space."""
    me = person.mxid(server_name)
    return [
        RoomSpec(
            key=keys.cabinet(person.id), kind="cabinet", ref=person.id,
            name=f"Кабінет — {_deputy_short(person)}",
            topic="Особисті повідомлення, документи та нагадування від секретаріату.",
            members=frozenset({me}) | staff, staff=staff),
        _notes_room(person, notes_topic, server_name),
        RoomSpec(
            key=keys.cabinet_space(person.id), kind="cabinet", ref=person.id, name=space_name,
            topic="Особистий простір: кабінет, замітки, звернення громадян.",
            members=frozenset({me}) | staff, staff=staff, space=True,
            children=(keys.cabinet(person.id), keys.notes(person.id))),
    ]
