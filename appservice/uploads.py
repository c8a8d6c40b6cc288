"""The outbox's files on their way to the homeserver (appservice/delivery.py): each file goes up
once however many messages carry it (a draft goes to the sitting room and to its commission's),
ahead of its message's turn, with at most half the homeserver's request slots, so the sends
always keep some.

A file that cannot be read is its message's failure (MediaUnreadable), not an outage: the
delivery takes an OSError from a request for the homeserver being away.
"""

from __future__ import annotations

import asyncio
from functools import partial

from appservice.homeserver import Homeserver
from council.files.blobs import BlobStore
from council.outbox import Media

REMEMBERED = 512  # sha256 -> mxc of the latest uploads


class MediaUnreadable(Exception):
    """The message's file cannot be read from the blob store."""


class Uploads:
    def __init__(self, hs: Homeserver, blobs: BlobStore | None) -> None:
        self.hs = hs
        self.blobs = blobs
        self.done: dict[str, str] = {}  # sha256 -> mxc, the latest REMEMBERED
        self._going: dict[str, asyncio.Task[str]] = {}  # sha256 -> upload in flight
        self._slots = asyncio.Semaphore(max(1, hs.concurrency // 2))

    def ahead(self, media: Media) -> None:
        """Start the file's upload unless it went up or is going."""
        if media.sha256 not in self.done:
            self._start(media)

    async def url(self, media: Media) -> str:
        """The file's mxc, once it is up. Shielded: the upload may serve another room's message
        with the same file, whatever happens to the one waiting here."""
        mxc = self.done.get(media.sha256)
        return mxc if mxc is not None else await asyncio.shield(self._start(media))

    async def cancel(self) -> None:
        tasks = list(self._going.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, media: Media) -> asyncio.Task[str]:
        task = self._going.get(media.sha256)
        if task is None:
            task = self._going[media.sha256] = asyncio.create_task(self._upload(media))
            task.add_done_callback(partial(self._finished, media.sha256))
        return task

    def _finished(self, sha256: str, task: asyncio.Task[str]) -> None:
        self._going.pop(sha256, None)
        if not task.cancelled() and task.exception() is None:  # a failure is its message's
            self.done[sha256] = task.result()
            while len(self.done) > REMEMBERED:
                del self.done[next(iter(self.done))]

    async def _upload(self, media: Media) -> str:
        async with self._slots:
            if self.blobs is None:
                raise MediaUnreadable("a message with media but no blob store")
            try:
                data = self.blobs.read(media.sha256)
            except OSError as exc:
                raise MediaUnreadable(f"{type(exc).__name__}: {exc}") from exc
            return str(await self.hs.limited(self.hs.bot.upload_media(
                data, mime_type=media.mimetype, filename=media.name, size=len(data))))
