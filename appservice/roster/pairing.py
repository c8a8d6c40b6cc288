"""Are the store and the homeserver from the same moment? The pairing mark.

The room-state cache (council/roomstate.py) lives in Kabinet's store and describes rooms that
live in the homeserver's database. Restoring one of the two from a backup without the other
leaves the cache describing another moment than the homeserver: an apply trusting it would miss
what changed since, or redo what was undone. So both sides hold one random mark: the store in
`pairing_mark`, the homeserver in the bot's account data. `kabinet backup` gives both a new mark
right after its snapshots are taken (kabinet/backup.py), so a backup holds the old one and the
running installation the new one:

- both restored from the same backup, or neither: the marks agree, the cache is trusted;
- one restored without the other: they differ, and the next apply reads every room in full
  (as `--full` does) and then pairs the two again with a new mark;
- neither has a mark yet (a new installation, or one from before the mark existed): paired now.

A backup that cannot reach the homeserver to pair it leaves the marks apart: the next apply
then reads every room once, more work than needed but never a stale cache. A homeserver
restored from its own backup tools is not covered: take Kabinet's backup first and the
homeserver's right after (docs/deploy.md), or run `kabinet roster apply --full` after such a
restore.
"""

from __future__ import annotations

import logging
import secrets

from mautrix.errors import MNotFound
from mautrix.types import Obj

from appservice.homeserver import Homeserver
from council import roomstate
from council.store import Store

log = logging.getLogger(__name__)

ACCOUNT_DATA = "ua.kabinet.pairing"  # the bot's account data: {"mark": "…"}


async def homeserver_mark(hs: Homeserver) -> str | None:
    try:
        data = await hs.bot.get_account_data(ACCOUNT_DATA)
    except MNotFound:
        return None
    mark = data.get("mark") if isinstance(data, dict) else None
    return mark if isinstance(mark, str) else None


async def store_mark(store: Store) -> str | None:
    async with store.session() as s:
        return await roomstate.pairing_mark(s)


async def pair(hs: Homeserver, store: Store) -> str:
    """A new mark, the store's first (a failure between the two writes leaves them apart:
    one full read more, never a stale cache)."""
    mark = secrets.token_hex(16)
    async with store.session() as s:
        await roomstate.set_pairing_mark(s, mark)
    await hs.bot.set_account_data(ACCOUNT_DATA, Obj(mark=mark))
    return mark


async def apart(hs: Homeserver, store: Store) -> bool:
    """True when the store and the homeserver hold different marks (one of them was restored
    without the other): the cache must not be trusted. Pairs two that have no mark yet."""
    ours, theirs = await store_mark(store), await homeserver_mark(hs)
    if ours is None and theirs is None:
        await pair(hs, store)
        return False
    if ours != theirs:
        log.warning("the store and the homeserver are from different moments (a backup "
                    "restored into one of them): every room's state is read again")
        return True
    return False
