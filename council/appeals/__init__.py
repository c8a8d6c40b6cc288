"""Citizens' appeals (Law "Про звернення громадян"): the tables and what may happen to them.

Every operation runs inside the caller's unit of work and writes, in that same transaction,
the appeal change, its history event, the Matrix messages (outbox, room `$room:appeal:<id>`)
and the e-mail to the citizen (mail queue), so a crash never leaves one without the others.
Personal data (name, residence, contacts) is kept here and posted only into the appeal room;
it never goes into room names, topics, history notes or logs.

An answer given in Matrix is shown to its author first and goes only when confirmed
(`answers`: propose, revise, add a file, confirm, cancel).
"""

from __future__ import annotations

from council.appeals import answers, texts
from council.appeals.keys import by_key, prune_keys, remember_key
from council.appeals.operations import (
    add_answer_file,
    answer,
    deadlines_window,
    extend,
    follow_up,
    mail_outcome,
    next_number,
    register,
    release_room_messages,
    remind,
    set_status,
    take,
    transfer,
)
from council.appeals.queries import (
    attachments,
    by_id,
    by_token,
    history,
    listing,
    mail_prefix,
    mails,
    messages,
    overdue,
)
from council.appeals.tables import (
    Appeal,
    AppealAttachment,
    AppealCounter,
    AppealEvent,
    AppealMessage,
    IntakeKey,
    PendingAnswer,
)
from council.appeals.values import (
    KEY_RETENTION,
    OPEN,
    SETTABLE,
    STATUSES,
    TOKEN_BYTES,
    AppealError,
    Context,
    Idempotency,
    KeyReused,
    NewAppeal,
    StoredFile,
    format_number,
    hash_token,
    room_ref,
)

__all__ = [
    "KEY_RETENTION", "OPEN", "SETTABLE", "STATUSES", "TOKEN_BYTES", "Appeal", "AppealAttachment",
    "AppealCounter", "AppealError", "AppealEvent", "AppealMessage", "Context", "Idempotency",
    "IntakeKey", "KeyReused", "NewAppeal", "PendingAnswer", "StoredFile", "add_answer_file",
    "answer", "answers", "attachments",
    "by_id", "by_key", "by_token", "deadlines_window", "extend", "follow_up", "format_number",
    "hash_token", "history", "listing", "mail_outcome", "mail_prefix", "mails", "messages",
    "next_number", "overdue", "prune_keys",
    "register", "release_room_messages", "remember_key", "remind", "room_ref",
    "set_status", "take", "texts", "transfer",
]
