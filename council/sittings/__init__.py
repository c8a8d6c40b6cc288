"""Sittings, their agenda items (each with its draft decision) and the draft's versions.

Every operation runs in the caller's unit of work and enqueues what Matrix must be told
(outbox, same transaction): nothing reaches a room without a stored draft, and no stored
draft goes undelivered. Operations on one sitting are serialised by bumping its
`agenda_rev` first (a row lock on PostgreSQL; SQLite has one writer anyway), so each agenda
edit gets its own outbox key `agenda:<sitting>:rev:<n>` and reflects every earlier change.
"""

from __future__ import annotations

import asyncio

from council.files.kinds import INSPECT_SECONDS
from council.language import Text
from council.sittings import agenda
from council.sittings.files import file_too_large, prepare_file, safe_filename
from council.sittings.inputs import Context, NewDraft, NewSitting, PreparedFile, SittingError, SittingKind
from council.sittings.operations import (
    add_draft,
    add_drafts,
    create_sitting,
    reorder,
    revise_draft,
    withdraw_item,
)
from council.sittings.publishing import edit_agenda
from council.sittings.queries import (
    SittingView,
    draft_warnings,
    get_sitting,
    item_number,
    list_sittings,
    local_day,
    member_ids,
    next_number,
    next_numbers,
    room,
    sitting_warnings,
    version_file,
    view,
)
from council.sittings.tables import AgendaItem, DraftVersion, Sitting

__all__ = [
    "AgendaItem", "Context", "DraftVersion", "NewDraft", "NewSitting", "PreparedFile", "Sitting",
    "SittingError", "SittingKind", "SittingView", "add_draft", "add_drafts", "agenda", "create_sitting",
    "draft_warnings", "edit_agenda", "file_too_large", "get_sitting", "item_number", "list_sittings",
    "local_day", "member_ids", "next_number", "next_numbers", "prepare_file", "prepare_file_off_loop",
    "reorder", "revise_draft", "room", "safe_filename", "sitting_warnings", "version_file", "view",
    "withdraw_item",
]


# Here, not in .files: it calls this package's `prepare_file`, the name callers (and tests) replace.
async def prepare_file_off_loop(ctx: Context, data: bytes, filename: str,
                                timeout: float = INSPECT_SECONDS) -> PreparedFile:
    """`prepare_file` in a worker thread with a time cap, for async callers: inspecting a
    hostile archive or PDF never holds the event loop (web, bot and /healthz share it)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(prepare_file, ctx, data, filename), timeout)
    except TimeoutError:  # the thread finishes on its own; the caps in filetypes bound it
        raise SittingError("KB_FILE_TOO_COMPLEX",
                           Text("the file is too complex: inspecting it takes too long"),
                           "file") from None
