"""What comes in: new sittings and drafts, a checked file, the context, and the domain's error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from council.files.blobs import BlobStore
from council.files.kinds import FileType
from council.language import Refusal
from council.law.holidays import Holidays
from council.roster import Roster

SittingKind = Literal["plenary", "commission", "executive"]


class SittingError(Refusal):
    """Bad input: a stable code, a message in any language, the field at fault. No HTTP status:
    the web maps codes to answers in one table (web.errors)."""


class NewSitting(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: SittingKind
    body: str | None = Field(None, max_length=64, description="Commission id (commission "
                             "sittings); default: the council or the executive committee")
    number: str | None = Field(None, max_length=32)
    title: str = Field(min_length=3, max_length=500)
    starts_at: AwareDatetime
    place: str = Field(min_length=2, max_length=500)
    external_key: str | None = Field(None, max_length=200)


class NewDraft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-zА-Яа-яІіЇїЄєҐґ./\-]+$")
    title: str = Field(min_length=3, max_length=500)
    initiator: str = Field(min_length=2, max_length=255)
    commission: str | None = Field(None, max_length=64)


@dataclass
class Context:
    """What the domain needs from its surroundings."""

    roster: Roster
    blobs: BlobStore
    holidays: Holidays
    tz: ZoneInfo
    max_bytes: int


@dataclass(frozen=True)
class PreparedFile:
    data: bytes
    filename: str
    filetype: FileType
    pages: int
