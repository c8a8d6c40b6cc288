"""The feeds tables: each configured feed's polling state, and every entry already posted.

A feed is known by its configured name (what the card shows); its URL may change in the config,
and then its conditional-GET validators are dropped but its seen entries are kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from council.models import Base, BigId, UTCDateTime, utcnow


class FeedState(Base):
    __tablename__ = "feed_states"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(500))
    failures: Mapped[int] = mapped_column(Integer, default=0)  # failed polls in a row
    first_failure: Mapped[datetime | None] = mapped_column(UTCDateTime)  # of the current streak
    last_error: Mapped[str | None] = mapped_column(String(300))
    # The secretariat has been told about the current streak (once per streak).
    reported: Mapped[bool] = mapped_column(Boolean, default=False)
    next_try: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_ok: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FeedEntry(Base):
    """An entry seen (and so posted once): the key is a hash of its id/guid, else of its link."""

    __tablename__ = "feed_entries"
    __table_args__ = (UniqueConstraint("feed", "entry_key", name="uq_feed_entries_entry"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    feed: Mapped[str] = mapped_column(String(100))
    entry_key: Mapped[str] = mapped_column(String(64))  # sha256 hex
    title: Mapped[str] = mapped_column(String(300))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
