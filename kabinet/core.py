"""What every part of Kabinet stands on: settings, roster, store, files.

The secretariat's commands (`kabinet sitting …`, `appeals list`, `report paper`) get only this:
they read and write the store (the outbox included) and exit, and a running `kabinet up`
delivers what they queued. Building a Core starts no homeserver, needs no appservice
registration and writes no secrets, so it works beside an external homeserver too.
`Kabinet` (kabinet/wiring.py) is a Core with the homeserver and the features on top.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from council import language
from council.files.blobs import BlobStore
from council.roster import Roster
from council.store import Store
from kabinet.config import Settings
from kabinet.secrets import DIR_MODE


@dataclass
class Core:
    settings: Settings
    roster: Roster
    store: Store = field(init=False)
    blobs: BlobStore = field(init=False)

    def __post_init__(self) -> None:
        self.settings.data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        language.use(self.settings.language)
        self.store = Store(self.settings.db_url)
        self.blobs = BlobStore(self.settings.data_dir / "files")

    async def store_ctx(self, _app: web.Application | None = None) -> AsyncIterator[None]:
        """The store, migrated, for the life of a command or (as a cleanup context) the site."""
        await self.store.migrate()
        yield
        await self.store.close()
