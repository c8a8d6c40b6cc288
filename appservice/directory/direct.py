"""Direct chats between two people, made by the bot for `!написати` (`!dm`).

The appservice's namespace is the bot and the ghosts only, so the bot cannot act as either
person: it creates a private room (`trusted_private_chat`, `is_direct`) and invites both with
`is_direct`. Synapse's `auto_accept_invites` joins each of them and adds the room to their
`m.direct` account data under the *inviter*, which is the bot: in each person's `m.direct` the
partner key is the bot's Matrix id, not the colleague's (clients list it among direct chats).

A room is found again by its alias `#kabinet_direct_<hash of the pair>_<generation>` (no names
in aliases), so a crash between createRoom and the commit makes no second room. The pair's
newest room is reused while both are still in it (joined or invited); if one of them left, the
next generation is made.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mautrix.errors import MatrixRequestError, MRoomInUse
from mautrix.types import RoomCreatePreset, UserID

from appservice.homeserver import Homeserver
from appservice.rooms import ACTIVE, FIXED_STATE, ROOM_STATE
from council import directory as domain
from council.language import _
from council.store import Store
from council.worker import Worker

log = logging.getLogger(__name__)

KIND = "direct"  # the ua.kabinet.room kind of these rooms


def pair_ref(one: str, other: str) -> str:
    """The pair's name in aliases and `ua.kabinet.room`: a hash, so no Matrix id shows."""
    a, b = domain.pair(one, other)
    return hashlib.sha256(f"{a}\n{b}".encode()).hexdigest()[:20]


def alias_localpart(prefix: str, one: str, other: str, generation: int) -> str:
    return f"{prefix}direct_{pair_ref(one, other)}_{generation}"


def both_in(state: list[dict[str, Any]], one: str, other: str) -> bool:
    members = {e["state_key"]: e["content"].get("membership") for e in state
               if e["type"] == "m.room.member"}
    return members.get(one) in ACTIVE and members.get(other) in ACTIVE


@dataclass(frozen=True)
class People:
    asker: str
    partner: str
    asker_name: str
    partner_name: str


async def ensure_direct(hs: Homeserver, people: People, generation: int, *, alias_prefix: str,
                        room_version: str) -> str:
    """The pair's room of this generation: found by its alias, else created with both invited
    as a direct chat."""
    localpart = alias_localpart(alias_prefix, people.asker, people.partner, generation)
    alias = f"#{localpart}:{hs.server_name}"
    found = await hs.resolve_alias(alias)
    if found is not None:
        return found
    ref = pair_ref(people.asker, people.partner)
    state = [{"type": ROOM_STATE, "state_key": "", "content": {"kind": KIND, "ref": ref}}]
    state += [{"type": t, "state_key": "", "content": c} for t, c in FIXED_STATE.items()]
    try:
        room_id = await hs.bot.create_room(
            alias_localpart=localpart, preset=RoomCreatePreset.TRUSTED_PRIVATE, is_direct=True,
            name=f"{people.asker_name} · {people.partner_name}",
            topic=_("A direct chat made by the Kabinet bot at the request of one of you (!dm)"),
            invitees=[UserID(people.asker), UserID(people.partner)], initial_state=state,
            room_version=room_version)
    except MRoomInUse:  # made meanwhile by an earlier try of ours
        found = await hs.resolve_alias(alias)
        if found is None:
            raise
        return found
    return str(room_id)


class DirectChats(Worker):
    """Answers `!dm` requests: finds the pair's room or makes one, then replies with its link."""

    def __init__(self, hs: Homeserver, store: Store, names: Callable[[str], str], *,
                 alias_prefix: str, room_version: str, on_queued: Callable[[], None],
                 idle: float = 30.0) -> None:
        super().__init__(idle)
        self.hs, self.store, self.names = hs, store, names
        self.alias_prefix, self.room_version = alias_prefix, room_version
        self.on_queued = on_queued

    async def round(self) -> bool:
        async with self.store.session() as s:
            waiting = [r.event_id for r in await domain.pending_requests(s)]
        for event_id in waiting:
            try:
                await self._answer(event_id)
            except MatrixRequestError as exc:
                if exc.http_status >= 500 or exc.http_status == 429:
                    raise  # the homeserver's trouble: the round is retried with backoff
                log.warning("direct chat request %s refused: %s %s", event_id, exc.http_status,
                            exc.errcode)
                async with self.store.session() as s:
                    await domain.give_up_request(s, event_id)
        if waiting:
            self.on_queued()
        return bool(waiting)

    async def _answer(self, event_id: str) -> None:
        async with self.store.session() as s:
            request = await s.get(domain.DirectRequest, event_id)
            if request is None or request.done_at is not None:
                return
            people = People(request.asker, request.partner, self.names(request.asker),
                            request.partner_name)
            chat = await domain.latest_chat(s, people.asker, people.partner)
            known = (chat.room_id, chat.generation) if chat else None
        if known is not None and both_in(await self.hs.room_state(known[0]), people.asker,
                                          people.partner):
            room_id, generation, created = known[0], known[1], False
        else:
            generation = known[1] + 1 if known else 1
            room_id = await ensure_direct(self.hs, people, generation,
                                          alias_prefix=self.alias_prefix,
                                          room_version=self.room_version)
            created = True
        async with self.store.session() as s:
            request = await s.get(domain.DirectRequest, event_id)
            if request is None or request.done_at is not None:
                return
            chat = await domain.latest_chat(s, people.asker, people.partner)
            if chat is None or chat.generation != generation:
                chat = await domain.record_chat(s, people.asker, people.partner, generation, room_id)
            await domain.answer_request(s, request, chat, domain.Answer(created))
        log.info("direct chat %s generation %d %s", pair_ref(people.asker, people.partner),
                 generation, "created" if created else "reused")
