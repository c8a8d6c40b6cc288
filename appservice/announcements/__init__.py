"""Announcements on Matrix: the `!announce` command (commands.py). What the bot posts in the
announcements room (the announcement, its expiry edit, the pinned list) goes through the
outbox (council/announcements/messages.py)."""

from appservice.announcements.commands import AnnounceCommand, Context, parse_args

__all__ = ["AnnounceCommand", "Context", "parse_args"]
