"""Content-addressed file storage for drafts and attachments (sha256 names, atomic writes).

The web site serves files from here, never from the homeserver; the outbox uploads them to
the homeserver's media repository when it delivers the message that carries them.

A file is stored before the row that names it is committed, so a refused or failed request can
leave a file nothing names; `collect_orphans` removes those once they are older than a grace
period (uploads in flight are younger). A blob is named by any column called `sha256` or
`…_sha256` (appeal attachments, draft versions, outbox media): keep to that convention.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, select

from council.models import Base

if TYPE_CHECKING:
    from council.store import Store

log = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(hours=1)
TEMP_PREFIX = ".incoming-"


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store bytes; returns their sha256. Storing the same bytes twice is a no-op."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            # Fresh again: an old orphan being stored anew must not be collected before the
            # row that names it is committed.
            os.utime(target)
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def older_than(self, age: float, now: float | None = None) -> list[Path]:
        """Files (blobs and interrupted writes) not modified for `age` seconds."""
        cutoff = (time.time() if now is None else now) - age
        out: list[Path] = []
        if not self.root.is_dir():
            return out
        for sub in self.root.iterdir():
            if not sub.is_dir() or len(sub.name) != 2:
                continue
            for f in sub.iterdir():
                try:
                    if f.is_file() and f.stat().st_mtime < cutoff:
                        out.append(f)
                except FileNotFoundError:  # removed meanwhile
                    continue
        return out


def blob_columns() -> list[Column]:
    """Every column that names a blob (by the naming convention above)."""
    return [c for t in Base.metadata.sorted_tables for c in t.columns
            if c.name == "sha256" or c.name.endswith("_sha256")]


async def referenced(store: Store) -> set[str]:
    out: set[str] = set()
    async with store.session() as s:
        for column in blob_columns():
            out.update(v for v in (await s.scalars(select(column).distinct())).all() if v)
    return out


async def collect_orphans(store: Store, blobs: BlobStore, grace: timedelta = ORPHAN_GRACE) -> int:
    """Remove files that no row names and that are older than `grace`. The candidates are
    listed before the references are read, and each is checked for age again just before it
    goes, so a file stored (or stored again) meanwhile is kept."""
    if not blob_columns():  # the models are not loaded: nothing could be told apart
        return 0
    age = grace.total_seconds()
    candidates = await asyncio.to_thread(blobs.older_than, age)
    if not candidates:
        return 0
    names = await referenced(store)

    def remove() -> int:
        cutoff, removed = time.time() - age, 0
        for f in candidates:
            if f.name in names:
                continue
            try:
                if f.stat().st_mtime < cutoff:
                    f.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    removed = await asyncio.to_thread(remove)
    if removed:
        log.info("removed %d orphaned file(s) from the file store", removed)
    return removed
