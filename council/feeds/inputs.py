"""What the feeds bridge hands the store: one poll's outcome, validated at the edge.

Everything here came from a server we do not control: lengths are capped and text is cleaned
again in cards.py before anyone sees it."""

from __future__ import annotations

import hashlib

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

MAX_ENTRIES = 5000  # per poll: a feed larger than this is cut, its oldest entries first


def _cut(value: object, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text[:limit]


class FeedItem(BaseModel):
    """One entry as the feed gives it (title, summary may still hold markup)."""

    model_config = ConfigDict(extra="forbid")

    guid: str | None = Field(None, description="The entry's id (Atom) or guid (RSS)")
    link: str | None = None
    title: str = ""
    summary: str = ""
    published: AwareDatetime | None = None

    @field_validator("guid", "link", mode="before")
    @classmethod
    def _short(cls, value: object) -> str | None:
        return _cut(value, 2000) or None

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: object) -> str:
        return _cut(value, 2000) or ""

    @field_validator("summary", mode="before")
    @classmethod
    def _summary(cls, value: object) -> str:
        # Enough to make a ~300-character card after the markup is stripped.
        return _cut(value, 20000) or ""

    @property
    def key(self) -> str:
        """The entry's identity in its feed: its id/guid, else its link, else its title; hashed
        (ids may be long URLs). A re-dated or re-ordered entry keeps its key."""
        basis = ("id:" + self.guid if self.guid else "link:" + self.link if self.link
                 else "title:" + self.title)
        return hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()


class Fetched(BaseModel):
    """A successful poll: the entries (feed order) and the validators for the next conditional GET."""

    model_config = ConfigDict(extra="forbid")

    items: list[FeedItem] = Field(default_factory=list, max_length=MAX_ENTRIES)
    etag: str | None = Field(None, max_length=500)
    last_modified: str | None = Field(None, max_length=500)
    not_modified: bool = False  # the server answered 304: nothing new

    @field_validator("etag", "last_modified", mode="before")
    @classmethod
    def _validator(cls, value: object) -> str | None:
        # Kept only if sendable back as a header value.
        if value is None:
            return None
        text = str(value)
        if len(text) > 500 or any(ord(c) < 32 or ord(c) > 126 for c in text):
            return None
        return text
