"""The directory: who is who in the council (a pure search over the roster with contact cards),
the lounge's pinned directory, and the direct chats `!dm` makes between two people.

The Matrix side is `appservice/directory/`; the wiring is `kabinet/features/directory.py`.
"""

from council.directory.cards import card, digest, directory_content
from council.directory.operations import (
    Answer,
    answer_request,
    give_up_request,
    latest_chat,
    pair,
    pending_requests,
    post_key,
    record_chat,
    refresh_directory,
    request_direct,
)
from council.directory.search import (
    EXACT,
    FUZZY,
    PREFIX,
    Context,
    Entry,
    Match,
    best,
    entries,
    score,
    search,
)
from council.directory.tables import DirectChat, DirectoryPost, DirectRequest

__all__ = [
    "EXACT", "FUZZY", "PREFIX", "Answer", "Context", "DirectChat", "DirectRequest", "DirectoryPost",
    "Entry", "Match", "answer_request", "best", "card", "digest", "directory_content", "entries",
    "give_up_request", "latest_chat", "pair", "pending_requests", "post_key", "record_chat",
    "refresh_directory", "request_direct", "score", "search",
]
