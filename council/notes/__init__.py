"""Private notes: a person's own notes (a deputy's, the head's, a secretariat member's), written
in their notes room in Element or in the web cabinet, filed under a draft or an appeal or under
nothing. Nobody else reads them: every query and operation takes the author, and a note of
someone else is "unknown" (KB_UNKNOWN_NOTE), never "forbidden".

Every operation runs in the caller's unit of work and enqueues what the notes room must be told
(outbox, same transaction); operations.py says how edits and deletions travel both ways.
"""

from council.notes import messages
from council.notes.inputs import (
    MAX_BODY,
    NOTE_KEY,
    Author,
    Context,
    NewNote,
    NoteEdit,
    NoteError,
    marker_subject,
    parse_subject,
    subject_of,
)
from council.notes.operations import (
    checked_subject,
    delete,
    edit,
    edited_in_matrix,
    noted_in_matrix,
    redacted_in_matrix,
    remember_anchor,
    replied_subject,
    write,
)
from council.notes.queries import NoteView, by_event, for_author, own, subject_label, subject_labels, view
from council.notes.tables import Note, NoteAnchor

__all__ = [
    "MAX_BODY",
    "NOTE_KEY",
    "Author",
    "Context",
    "NewNote",
    "Note",
    "NoteAnchor",
    "NoteEdit",
    "NoteError",
    "NoteView",
    "by_event",
    "checked_subject",
    "delete",
    "edit",
    "edited_in_matrix",
    "for_author",
    "marker_subject",
    "messages",
    "noted_in_matrix",
    "own",
    "parse_subject",
    "redacted_in_matrix",
    "remember_anchor",
    "replied_subject",
    "subject_label",
    "subject_labels",
    "subject_of",
    "view",
    "write",
]
