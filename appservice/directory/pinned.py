"""The lounge's pinned directory, kept current: a worker compares the directory's text (from
the roster in force) with the digest stored for the lounge, and only when they differ writes
one message — the first post and its pin, or one `m.replace` edit. An unchanged roster writes
nothing. Poke it after a roster apply; it also looks every `idle` seconds."""

from __future__ import annotations

from collections.abc import Callable

from council import directory as domain
from council.store import Store
from council.worker import Worker


class PinnedDirectory(Worker):
    def __init__(self, store: Store, context: Callable[[], domain.Context], *,
                 on_queued: Callable[[], None], idle: float = 60.0) -> None:
        super().__init__(idle)
        self.store, self.context, self.on_queued = store, context, on_queued
        self.versions: list[int] = []  # versions written by this worker (tests and logs)
        self.rounds = 0  # rounds completed: a test waits for one instead of sleeping

    async def round(self) -> bool:
        ctx = self.context()
        async with self.store.session() as s:
            version = await domain.refresh_directory(s, ctx.roster, ctx.server_name)
        if version is not None:
            self.versions.append(version)
            self.on_queued()
        self.rounds += 1
        return False  # one round brings it up to date
