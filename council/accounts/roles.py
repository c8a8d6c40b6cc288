"""Who a signed-in Matrix account is to the council, from the roster: a deputy, the head, the
secretariat or an administrator. Anyone else (citizens included) has no role and no sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from council import rooms
from council.roster import Deputy, Head, Roster, StaffMember

Role = Literal["deputy", "head", "secretariat", "administrator"]
ROLES: tuple[Role, ...] = ("deputy", "head", "secretariat", "administrator")
STAFF: frozenset[Role] = frozenset({"secretariat", "administrator"})
MEMBERS: frozenset[Role] = frozenset({"deputy", "head"})


@dataclass(frozen=True)
class Identity:
    mxid: str
    person_id: str  # the roster id
    name: str
    role: Role

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    @property
    def sees_council(self) -> bool:
        """The head and the staff see the council's appeals, a deputy only their own."""
        return self.role != "deputy"


def identify(roster: Roster, server_name: str, mxid: str) -> Identity | None:
    person = roster.people_by_mxid(server_name).get(mxid)
    if isinstance(person, StaffMember):
        role: Role = "administrator" if person.administrator else "secretariat"
    elif isinstance(person, Head):
        role = "head"
    elif isinstance(person, Deputy):
        role = "deputy"
    else:
        return None
    return Identity(mxid=mxid, person_id=person.id, name=person.name, role=role)


def private_room(identity: Identity) -> str:
    """The room key where only this person and the bot are: the notes room."""
    return rooms.notes(identity.person_id)
