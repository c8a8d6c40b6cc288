"""The appeals' store-only background work, in the one loop shape (council/worker.py):
the art. 20 reminders, and housekeeping of intake keys and files nothing names."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from council.appeals.keys import prune_keys
from council.appeals.operations import remind
from council.files.blobs import BlobStore, collect_orphans
from council.store import Store
from council.worker import Worker

log = logging.getLogger(__name__)


class Reminders(Worker):
    """art. 20 reminders, looked for every `interval` seconds (their keys make each one once);
    `today` is the council's local day, the law's days being local days."""

    def __init__(self, store: Store, interval: float, today: Callable[[], date],
                 on_queued: Callable[[], None]) -> None:
        super().__init__(interval)
        self.store = store
        self.today = today
        self.on_queued = on_queued

    async def round(self) -> bool:
        async with self.store.session() as s:
            queued = await remind(s, self.today())
        if queued:
            log.info("queued %s appeal deadline reminders", queued)
            self.on_queued()
        return False


class Housekeeping(Worker):
    """Files that no row names (a refused upload, a crash between storing a file and its row)
    are removed after a grace period; Idempotency-Keys and form tokens after 24 hours."""

    def __init__(self, store: Store, blobs: BlobStore, interval: float) -> None:
        super().__init__(interval)
        self.store = store
        self.blobs = blobs

    async def round(self) -> bool:
        async with self.store.session() as s:
            keys = await prune_keys(s)
        if keys:
            log.info("forgot %d expired intake key(s)", keys)
        await collect_orphans(self.store, self.blobs)
        return False
