"""What the bot says in a person's notes room: their web notes, edits of those (m.replace) and
redactions. Pure functions; operations.py enqueues them. `$outbox:<key>` points at the bot's
earlier message until delivery knows its event id (council/outbox/matrix.py)."""

from __future__ import annotations

from typing import Any

from council import outbox
from council.language import Text, _
from council.notes.inputs import NOTE_KEY

REDACTION = "m.room.redaction"  # an outbox row of this type is sent with the redact API
DELETED_REASON = Text("Note deleted in the web cabinet")
MOVED_REASON = Text("Note edited in the web cabinet; the new version follows")


def post_key(note_id: int, version: int = 1) -> str:
    """The bot's message carrying a note: `note:<id>`, or `note:<id>:v<n>` when an Element note
    edited on the web is posted again by the bot."""
    return f"note:{note_id}" if version == 1 else f"note:{note_id}:v{version}"


def edit_key(note_id: int, version: int) -> str:
    return f"note:{note_id}:edit:{version}"


def redaction_key(note_id: int, version: int) -> str:
    return f"note:{note_id}:redact:{version}"


def text(body: str, label: str | None, *, edited: bool = False) -> str:
    """The readable message: a heading naming the subject, then the note."""
    head = _("📝 Note from the web cabinet (edited)") if edited else _("📝 Note from the web cabinet")
    return f"{head}" + (f" — {label}" if label else "") + f"\n{body}"


def marker(note_id: int, subject: str | None) -> dict[str, Any]:
    return {NOTE_KEY: {"id": note_id, "subject": subject}}


def note_message(note_id: int, subject: str | None, body: str, label: str | None, *,
                 edited: bool = False) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": text(body, label, edited=edited),
            **marker(note_id, subject)}


def edit_message(note_id: int, subject: str | None, body: str, label: str | None,
                 original_key: str) -> dict[str, Any]:
    """An m.replace of the bot's own note message (clients show the new content in place)."""
    new = note_message(note_id, subject, body, label, edited=True)
    return {"msgtype": "m.text", "body": "* " + new["body"], "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": outbox.EVENT_REF + original_key},
            **marker(note_id, subject)}


def redaction(target: str, reason: Text) -> dict[str, Any]:
    """`target`: an event id, or `$outbox:<key>` of the bot's own message."""
    return {"redacts": target, "reason": reason.render()}
