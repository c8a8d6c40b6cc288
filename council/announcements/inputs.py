"""What comes in: an announcement's text, pin and expiry (from the desk's form or the
`!announce` command), and the feature's error (a stable code, no HTTP status)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from council.language import Refusal, Text

MAX_TEXT = 4000  # characters: one readable message, far below Matrix's 64 KiB
MAX_DAYS = 366  # an expiry further than a year is a typo
ANNOUNCEMENT_KEY = "ua.kabinet.announcement"  # in the bot's messages: {id, pinned, expires}
# The units people type after the number: `7d`, `3д` (days), `12h`, `5г` (hours).
DAYS, HOURS = ("d", "д"), ("h", "г")
# ASCII digits only ("²".isdigit() is true and int("²") raises).
_TERM = re.compile(rf"([0-9]{{1,4}})({'|'.join(DAYS + HOURS)})", re.IGNORECASE)


class AnnouncementError(Refusal):
    """Refused: a stable code, a message in any language, the field at fault."""


class NewAnnouncement(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    pinned: bool = False
    expires_at: datetime | None = Field(None, description="When a pinned announcement is unpinned "
                                        "and marked expired (aware)")

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("a moment with its time zone")
        return value


def term(word: str) -> timedelta | None:
    """`7d` (days) or `12h` (hours), Ukrainian `д`/`г` too; None if `word` is not one."""
    found = _TERM.fullmatch(word.strip())
    if found is None:
        return None
    n, unit = int(found[1]), found[2].lower()
    return timedelta(days=n) if unit in DAYS else timedelta(hours=n)


def check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is None:
        return
    if expires_at <= now:
        raise AnnouncementError("KB_EXPIRY_PAST", Text("the expiry is in the past"), "expires_at")
    if expires_at - now > timedelta(days=MAX_DAYS):
        raise AnnouncementError("KB_EXPIRY_FAR", Text("the expiry is at most a year ahead"),
                                "expires_at")
