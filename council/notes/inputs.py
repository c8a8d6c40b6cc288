"""What comes in: a note's body and subject, who writes it, the markers that name a draft or an
appeal in a Matrix message, and the feature's error (a stable code, no HTTP status)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from council import rooms
from council.appeals.operations import APPEAL_KEY
from council.language import Refusal, Text
from council.roster import Roster
from council.sittings.agenda import DRAFT_KEY

MAX_BODY = 10_000  # characters of one note
NOTE_KEY = "ua.kabinet.note"  # in the bot's note messages: {id, subject}
MARKERS = {DRAFT_KEY: "draft", APPEAL_KEY: "appeal"}  # content key -> subject family
MAX_ID = 2**63 - 1
# ASCII digits only: "²".isdigit() is true and int("²") raises.
_SUBJECT = re.compile(r"(draft|appeal):([0-9]{1,19})")

Origin = Literal["matrix", "web"]


class NoteError(Refusal):
    """Refused: a stable code, the message (`Text`), the field at fault. No HTTP status: the
    web maps codes to answers."""


def unknown_note() -> NoteError:
    # The same answer whether the note is someone else's or does not exist: no one learns
    # that another person's note exists.
    return NoteError("KB_UNKNOWN_NOTE", Text("no such note"))


@dataclass(frozen=True)
class Context:
    """The notes domain's view of the installation (read afresh: the roster may change)."""

    roster: Roster
    server_name: str

    def owner_mxid(self, person_id: str) -> str | None:
        """The Matrix id of the person whose notes room has this ref."""
        for mxid, person in self.roster.people_by_mxid(self.server_name).items():
            if person.id == person_id:
                return mxid
        return None


@dataclass(frozen=True)
class Author:
    """Who writes: a person of the roster (their Matrix id and roster id)."""

    mxid: str
    person_id: str

    @property
    def room(self) -> str:
        """Their notes room, as the outbox names it (it may not exist yet)."""
        return rooms.placeholder(rooms.notes(self.person_id))


def subject_of(family: str, ref: int) -> str:
    """The one spelling of a subject: `draft:<agenda item id>` or `appeal:<appeal id>`."""
    return f"{family}:{ref}"


def parse_subject(text: str | None) -> tuple[str, int] | None:
    """("draft", 12) for "draft:12"; None for no subject. NoteError if malformed."""
    if text is None or not text.strip():
        return None
    found = _SUBJECT.fullmatch(text.strip())
    if found is None or not 0 < int(found[2]) <= MAX_ID:
        raise NoteError("KB_UNKNOWN_SUBJECT",
                        Text("unknown subject (draft:<id> or appeal:<id>)"), "subject")
    return found[1], int(found[2])


def marker_subject(content: dict[str, object]) -> str | None:
    """The subject a forwarded draft or appeal message names (`ua.kabinet.draft`/`…appeal`)."""
    for key, family in MARKERS.items():
        marker = content.get(key)
        ref = marker.get("id") if isinstance(marker, dict) else None
        if isinstance(ref, int) and not isinstance(ref, bool) and 0 < ref <= MAX_ID:
            return f"{family}:{ref}"
    return None


class NewNote(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    subject: str | None = Field(None, max_length=64, description="`draft:<agenda item id>`, "
                                "`appeal:<appeal id>`, or none")
    body: str = Field(min_length=1, max_length=MAX_BODY)


class NoteEdit(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(min_length=1, max_length=MAX_BODY)
