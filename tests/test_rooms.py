"""The one way to make and keep managed rooms (appservice/rooms.py), the room keys (council/rooms.py),
the one ghost test and the one list of the secretariat's Matrix ids."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from mautrix.errors import MatrixRequestError, MForbidden, MRoomInUse
from mautrix.types import MessageEvent
from sqlalchemy import select

from appservice.commands import Commands
from appservice.homeserver import Homeserver, is_ours
from appservice.rooms import (
    SPACE_CHILD,
    SPACE_PARENT,
    RoomSpec,
    ensure_room,
    link_into_space,
    parent_state,
    reconcile_members,
    record,
    unlink_from_space,
)
from council import rooms as registry
from council.models import OutboxMessage
from council.roster import load_roster
from council.store import Store
from tests.conftest import SMALL_ROSTER

ROOT = Path(__file__).resolve().parent.parent
SERVER = "localhost"
BOT = "@kabinet:localhost"


class FakeBot:
    """The bot's intent, as far as the routines use it; records every write."""

    def __init__(self, hs: FakeHomeserver) -> None:
        self.hs = hs
        self.refuse_invites: set[str] = set()
        self.in_use_once = False  # createRoom answers M_ROOM_IN_USE once (a racing creator)

    async def create_room(self, *, alias_localpart: str, **body: Any) -> str:
        alias = f"#{alias_localpart}:{SERVER}"
        if self.in_use_once:
            self.in_use_once = False
            self.hs.aliases[alias] = "!raced:localhost"
            raise MRoomInUse(400, "Room alias already taken")
        if alias in self.hs.aliases:
            raise MRoomInUse(400, "Room alias already taken")
        room_id = f"!room{len(self.hs.created) + 1}:localhost"
        self.hs.aliases[alias] = room_id
        self.hs.created.append((room_id, body))
        return room_id

    async def invite_user(self, room_id: str, user: str, ensure_joined: bool = True) -> None:
        if user in self.refuse_invites:
            raise MForbidden(403, "not allowed")
        self.hs.writes.append(("invite", room_id, user))

    async def kick_user(self, room_id: str, user: str, reason: str = "") -> None:
        self.hs.writes.append(("kick", room_id, user, reason))


class FakeHomeserver:
    server_name = SERVER
    bot_mxid = BOT

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.writes: list[tuple[Any, ...]] = []
        self.state: dict[str, list[dict[str, Any]]] = {}
        self.bot = FakeBot(self)
        self.hide_alias_once = False  # the alias is not visible yet when first looked up

    async def resolve_alias(self, alias: str) -> str | None:
        if self.hide_alias_once:
            self.hide_alias_once = False
            return None
        return self.aliases.get(alias)

    async def room_state(self, room_id: str) -> list[dict[str, Any]]:
        return self.state.get(room_id, [])

    async def send_state(self, room_id: str, event_type: str, content: dict[str, Any],
                         state_key: str = "") -> str:
        self.writes.append(("state", room_id, event_type, state_key, content))
        return "$e"


def spec(**kw: Any) -> RoomSpec:
    base: dict[str, Any] = {
        "key": registry.commission("budget"), "kind": "commission", "ref": "budget",
        "name": "Бюджетна", "topic": "Т", "members": frozenset({"@a:localhost", "@clerk:localhost"}),
        "staff": frozenset({"@clerk:localhost"})}
    return RoomSpec(**{**base, **kw})


def member(user: str, membership: str) -> dict[str, Any]:
    return {"type": "m.room.member", "state_key": user, "content": {"membership": membership}}


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> Any:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'kabinet.db'}")
    await store.migrate()
    yield store
    await store.close()


# -- ensure_room --------------------------------------------------------------------------------


async def test_a_crash_between_create_and_record_is_repaired_by_the_next_round(sqlite_store: Store):
    hs, s = FakeHomeserver(), spec()
    first = await ensure_room(hs, s, alias_prefix="kabinet_", room_version="12")  # type: ignore[arg-type]
    assert first.created and not first.found
    # … the process dies here: the room was never recorded.
    assert await registry.room_map(sqlite_store) == {}
    again = await ensure_room(hs, s, alias_prefix="kabinet_", room_version="12")  # type: ignore[arg-type]
    assert (again.room_id, again.found, again.created) == (first.room_id, True, False)
    assert len(hs.created) == 1  # never a second room
    await record(sqlite_store, s, again.room_id)
    assert await registry.room_map(sqlite_store) == {"commission:budget": first.room_id}


async def test_the_room_is_made_as_the_spec_says():
    hs = FakeHomeserver()
    s = spec(space=True, members=frozenset({"@b:localhost", "@a:localhost"}))
    extra = [parent_state("!space:localhost", SERVER)]
    got = await ensure_room(hs, s, alias_prefix="kabinet_", room_version="10",  # type: ignore[arg-type]
                            extra_state=extra)
    assert hs.aliases == {"#kabinet_commission_budget:localhost": got.room_id}
    body = hs.created[0][1]
    assert body["invitees"] == ["@a:localhost", "@b:localhost"]
    assert body["creation_content"] == {"type": "m.space"}
    assert body["power_level_override"] == s.power_levels(BOT, "10")
    types = [(e["type"], e["state_key"]) for e in body["initial_state"]]
    assert ("ua.kabinet.room", "") in types and (SPACE_PARENT, "!space:localhost") in types
    assert ("m.room.join_rules", "") in types


async def test_a_known_room_is_neither_looked_up_nor_created():
    hs = FakeHomeserver()
    got = await ensure_room(hs, spec(), alias_prefix="kabinet_", room_version="12",  # type: ignore[arg-type]
                            known="!known:localhost")
    assert (got.room_id, got.created, got.found) == ("!known:localhost", False, False)
    assert hs.created == []


async def test_an_alias_taken_by_a_racing_creator_is_our_room_found_again():
    hs = FakeHomeserver()
    hs.hide_alias_once, hs.bot.in_use_once = True, True
    got = await ensure_room(hs, spec(), alias_prefix="kabinet_", room_version="12")  # type: ignore[arg-type]
    assert (got.room_id, got.found, got.created) == ("!raced:localhost", True, False)


async def test_another_refusal_of_create_room_is_not_swallowed():
    hs = FakeHomeserver()

    async def refuse(**_: Any) -> str:
        raise MForbidden(403, "no")

    hs.bot.create_room = refuse  # type: ignore[method-assign]
    with pytest.raises(MatrixRequestError):
        await ensure_room(hs, spec(), alias_prefix="kabinet_", room_version="12")  # type: ignore[arg-type]


# -- reconcile_members ----------------------------------------------------------------------------


async def test_members_are_invited_and_removed_only_among_the_managed():
    hs = FakeHomeserver()
    hs.state["!r"] = [member(BOT, "join"), member("@a:localhost", "join"),
                      member("@gone:localhost", "join"), member("@guest:localhost", "join"),
                      member("@banned:localhost", "ban")]
    want = frozenset({"@a:localhost", "@new:localhost", "@banned:localhost"})
    managed = {"@a:localhost", "@gone:localhost", BOT}
    changes = await reconcile_members(hs, "!r", want, managed, reason="why")  # type: ignore[arg-type]
    assert (changes.invited, changes.removed) == (["@new:localhost"], ["@gone:localhost"])
    assert changes.problems == []
    assert hs.writes == [("invite", "!r", "@new:localhost"), ("kick", "!r", "@gone:localhost", "why")]


async def test_a_refused_invite_is_a_problem_and_the_rest_goes_on():
    hs = FakeHomeserver()
    hs.bot.refuse_invites = {"@a:localhost"}
    changes = await reconcile_members(hs, "!r", frozenset({"@a:localhost", "@b:localhost"}),  # type: ignore[arg-type]
                                      set(), state=[member(BOT, "join")])
    assert changes.invited == ["@b:localhost"]
    assert len(changes.problems) == 1 and "@a:localhost" in changes.problems[0]


# -- spaces ---------------------------------------------------------------------------------------


async def test_linking_puts_the_child_in_the_space_and_unlinking_empties_it():
    hs = FakeHomeserver()
    await link_into_space(hs, "!space", "!room", order="s00000007")  # type: ignore[arg-type]
    await link_into_space(hs, "!space", "!other")  # type: ignore[arg-type]
    await unlink_from_space(hs, "!space", "!room")  # type: ignore[arg-type]
    assert hs.writes == [
        ("state", "!space", SPACE_CHILD, "!room", {"via": [SERVER], "order": "s00000007"}),
        ("state", "!space", SPACE_CHILD, "!other", {"via": [SERVER]}),
        ("state", "!space", SPACE_CHILD, "!room", {}),
    ]


# -- keys -----------------------------------------------------------------------------------------

SPELLED_KEY = re.compile(
    r"""["'](?:commission|cabinet|cabinet_space|notes|sitting|appeal):(?:\{[^{}]*\})?["']"""  # "x:{id}"
    r"""|["']\$room:"""  # an outbox placeholder spelled out
    r"""|ROOM_REF\}[a-z]"""  # … or glued to ROOM_REF
    r"""|[\w)\]]\["(?:announcements|lounge|commissions|sittings|council)"\]"""  # rooms["sittings"]
    r"""|key="(?:announcements|lounge|commissions|sittings|council)\"""")
PACKAGES = ("council", "appservice", "web", "kabinet", "bench", "bridges")
ALLOWED = {Path("council/rooms.py"), Path("council/outbox/matrix.py")}  # the builders; ROOM_REF itself


def test_room_keys_are_spelled_only_in_council_rooms():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel in ALLOWED or "migrations" in rel.parts:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if SPELLED_KEY.search(line):
                    found.append(f"{rel}:{n}: {line.strip()}")
    assert found == [], "room keys spelled outside council/rooms.py:\n" + "\n".join(found)


def test_the_pattern_catches_what_it_is_meant_to():
    spelled = ['rooms[f"cabinet_space:{d.id}"]', 'f"{outbox.ROOM_REF}commission:{c}"',
               'x = "$room:appeal:1"', 'rooms["sittings"]', 'key="announcements"', "f'sitting:{s.id}'"]
    assert all(SPELLED_KEY.search(s) for s in spelled)
    # Outbox message keys are not room keys.
    assert not SPELLED_KEY.search('f"appeal:{appeal.id}:card"')
    assert not SPELLED_KEY.search('"required": ["sittings"]')  # a JSON list is not a lookup


def test_keys_and_placeholders():
    assert registry.placeholder(registry.appeal(42)) == "$room:appeal:42"
    assert registry.cabinet_space("tkachuk") == "cabinet_space:tkachuk"
    assert registry.family(registry.commission("budget")) == "commission"
    assert registry.family(registry.sitting(3)) not in registry.ROSTER_FAMILIES
    assert registry.family(registry.appeal(3)) not in registry.ROSTER_FAMILIES


# -- whose ----------------------------------------------------------------------------------------


def test_is_ours_is_the_bot_or_a_ghost_of_our_server():
    assert is_ours(BOT, BOT, "kabinet_")
    assert is_ours("@kabinet_citizen_7:localhost", BOT, "kabinet_")
    assert not is_ours("@kabinet_citizen_7:elsewhere.org", BOT, "kabinet_")
    assert not is_ours("@tkachuk:localhost", BOT, "kabinet_")
    assert not is_ours("@kabinet:elsewhere.org", BOT, "kabinet_")
    hs = Homeserver("http://hs", "token", "kabinet", SERVER, ghost_prefix="g_")
    assert hs.is_ours("@g_1:localhost") and not hs.is_ours("@kabinet_1:localhost")


async def _command_replies(store: Store, sender: str) -> list[str]:
    event = MessageEvent.deserialize({
        "type": "m.room.message", "room_id": "!r:localhost", "event_id": "$cmd", "sender": sender,
        "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "!ping"}})
    async with store.session() as s:
        await Commands(BOT, "kabinet_")(event, s)
        return list(await s.scalars(select(OutboxMessage.key)))


async def test_a_remote_user_whose_name_begins_with_the_ghost_prefix_is_answered(sqlite_store: Store):
    assert await _command_replies(sqlite_store, "@kabinet_someone:elsewhere.org") == ["reply:$cmd"]


async def test_our_own_ghosts_are_not_answered(sqlite_store: Store):
    assert await _command_replies(sqlite_store, "@kabinet_citizen_1:localhost") == []


def test_the_secretariat_mxids():
    roster = load_roster(SMALL_ROSTER)
    mxids = roster.secretariat_mxids(SERVER)
    assert mxids == {p.matrix_id or f"@{p.id}:{SERVER}" for p in roster.secretariat}
    assert mxids and isinstance(mxids, frozenset)
