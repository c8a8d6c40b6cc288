"""News feeds (RSS, Atom) posted into the announcements room: each entry once, as a card.

The bridge (bridges/feeds.py) fetches and parses; here the outcome is stored: per-feed state
(conditional-GET validators, failures and backoff, whether the secretariat was told) and every
entry seen, with each new entry's card enqueued in the same unit of work (outbox key
`feed:<feed>:<entry hash>`), so a restart, a re-ordered feed or a re-dated entry posts nothing twice.
"""

from council.feeds import cards
from council.feeds.inputs import MAX_ENTRIES, FeedItem, Fetched
from council.feeds.operations import Policy, due, entry_key, failed, polled
from council.feeds.queries import seen_count, states
from council.feeds.tables import FeedEntry, FeedState

__all__ = [
    "MAX_ENTRIES", "FeedEntry", "FeedItem", "FeedState", "Fetched", "Policy", "cards", "due",
    "entry_key", "failed", "polled", "seen_count", "states",
]
