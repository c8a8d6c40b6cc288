"""Announcements: what the secretariat posts into the announcements room (read-only for
deputies), from the desk (/desk/announcements) or with `!announce` in Element; important ones
pinned, and expiring. Every operation runs in the caller's unit of work and enqueues what the
room must be told (outbox, same transaction); operations.py says what happens at expiry."""

from council.announcements import messages
from council.announcements.inputs import (
    ANNOUNCEMENT_KEY,
    MAX_TEXT,
    AnnouncementError,
    NewAnnouncement,
    check_expiry,
    term,
)
from council.announcements.operations import (
    AnnouncementExpiry,
    by_command,
    expire_due,
    pinned_ids,
    post,
    recent,
)
from council.announcements.tables import Announcement

__all__ = [
    "ANNOUNCEMENT_KEY",
    "MAX_TEXT",
    "Announcement",
    "AnnouncementError",
    "AnnouncementExpiry",
    "NewAnnouncement",
    "by_command",
    "check_expiry",
    "expire_due",
    "messages",
    "pinned_ids",
    "post",
    "recent",
    "term",
]
