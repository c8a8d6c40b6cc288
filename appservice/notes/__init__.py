"""Private notes on Matrix: the person's notes room as the transaction handler sees it
(events.py) and the `!note` command (commands.py). What the bot posts there (web notes, their
edits and redactions) goes through the outbox (council/notes/messages.py)."""

from appservice.notes.commands import NoteCommands
from appservice.notes.events import NoteEvents

__all__ = ["NoteCommands", "NoteEvents"]
