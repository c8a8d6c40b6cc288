"""The outbox: everything that leaves Kabinet is first a row written in the same transaction as
the decision that caused it, then sent by a worker. Two channels, one mechanism:

- `matrix` (table `outbox`): messages and state events for Matrix rooms, in order per room;
- `mail` (table `mail_jobs`): e-mail to citizens;
- `policy`: the one retry policy both follow (states, due filter, backoff, parking);
- `sender`: the one shape of their senders (appservice/delivery.py, bridges/mail.py).

The Matrix channel's names are re-exported here (`outbox.enqueue`, `outbox.ROOM_REF`, …), as
callers have always used them.
"""

from council.outbox import mail, policy
from council.outbox.matrix import (
    EVENT_REF,
    ROOM_REF,
    Media,
    Pending,
    Results,
    counts,
    defer,
    due,
    due_in,
    enqueue,
    mark_attempt,
    mark_failed,
    mark_sent,
    message_values,
    record,
    resolve_refs,
    save_media_mxc,
    sent_event_id,
    sent_event_ids,
    sent_event_ids_in,
    txn_id_for,
    write,
)

__all__ = [
    "EVENT_REF", "ROOM_REF", "Media", "Pending", "Results", "counts", "defer", "due", "due_in",
    "enqueue", "mail", "mark_attempt", "mark_failed", "mark_sent", "message_values", "policy",
    "record", "resolve_refs", "save_media_mxc", "sent_event_id", "sent_event_ids",
    "sent_event_ids_in", "txn_id_for", "write",
]
