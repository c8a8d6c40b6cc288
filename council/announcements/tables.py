"""The announcements table: each announcement the secretariat posted (from the desk or with
`!announce` in Element), whether it is pinned in the announcements room and until when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from council.models import Base, BigId, UTCDateTime, utcnow


class Announcement(Base):
    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255))  # the secretariat member's Matrix id
    origin: Mapped[str] = mapped_column(String(8))  # desk | matrix
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the worker ended it
    # The bot's message in the announcements room (its outbox key; the event id is the outbox's).
    outbox_key: Mapped[str] = mapped_column(String(200))
    # The `!announce` command's event: the same command handled twice posts once.
    command_event_id: Mapped[str | None] = mapped_column(String(255), unique=True)
