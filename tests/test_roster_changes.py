"""Changing the roster changes the council on Matrix — and an unchanged roster changes nothing."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator

import pytest
import yaml
from nio import AsyncClient, LoginResponse

from council import rooms as registry
from council.roster import Roster, parse_roster
from council.sittings import member_ids
from kabinet.wiring import Running
from tests.conftest import SMALL_ROSTER, start_installation
from tests.matrix_helpers import missing_memberships, settle, sync_token, timeline_since

BASE = yaml.safe_load(SMALL_ROSTER.read_text(encoding="utf-8"))


def variant(change) -> Roster:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(BASE)
    change(data)
    return parse_roster(data, "variant")


@pytest.fixture(scope="module")
async def small(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    running = await start_installation(tmp_path_factory.mktemp("small"), SMALL_ROSTER)
    await settle(running.kabinet, running.kabinet.roster)
    yield running
    await running.stop()


async def apply_and_settle(running: Running, roster: Roster):  # type: ignore[no-untyped-def]
    report = await running.kabinet.apply_roster(roster)
    await settle(running.kabinet, roster)
    return report


@pytest.fixture
async def back_to_base(small: Running) -> AsyncIterator[Running]:
    """Each test starts from the base roster and leaves it so (which tests the way back too)."""
    yield small
    await apply_and_settle(small, parse_roster(BASE, "base"))
    assert await missing_memberships(small.kabinet, small.kabinet.roster) == {}


async def login(running: Running, user: str, password: str) -> AsyncClient:
    client = AsyncClient(running.kabinet.settings.homeserver.client_url, f"@{user}:localhost")
    assert isinstance(await client.login(password), LoginResponse)
    return client


async def test_reapplying_an_unchanged_roster_writes_nothing_to_the_homeserver(small):
    clerk = await login(small, "clerk", "test-clerk-1")
    try:
        since = await sync_token(clerk)
        report = await small.kabinet.apply_roster(parse_roster(BASE, "base"))
        assert report.writes == 0 and report.changes == []
        assert await timeline_since(clerk, since) == {}  # no event in any room the clerk sees
    finally:
        await clerk.close()


async def test_moving_a_deputy_between_commissions_invites_and_removes_them(back_to_base):
    def move(data):  # zvarych: budget -> land
        data["deputies"][2]["commissions"] = ["land"]

    report = await apply_and_settle(back_to_base, variant(move))
    assert report.invites == 1 and report.removals == 1
    rooms = await registry.room_map(back_to_base.kabinet.store)
    land = await back_to_base.kabinet.hs.room_state(rooms["commission:land"])
    budget = await back_to_base.kabinet.hs.room_state(rooms["commission:budget"])
    assert _membership(land, "@zvarych:localhost") == "join"
    assert _membership(budget, "@zvarych:localhost") == "leave"


async def test_removing_a_deputy_takes_them_out_of_every_council_room_but_keeps_the_account(
        back_to_base):
    def remove(data):
        data["deputies"] = [d for d in data["deputies"] if d["id"] != "kuzmych"]

    await apply_and_settle(back_to_base, variant(remove))
    client = await login(back_to_base, "kuzmych", "test-deputy-4")  # the account stays
    try:
        joined = set((await client.joined_rooms()).rooms)
        managed = set((await registry.room_map(back_to_base.kabinet.store)).values())
        assert joined & managed == set()
    finally:
        await client.close()


async def test_adding_a_deputy_creates_their_account_and_their_rooms(back_to_base):
    def add(data):
        data["deputies"].append({"id": "shevchuk", "name": "Шевчук Марта Ігорівна",
                                 "commissions": ["land"], "password": "test-deputy-5"})

    report = await apply_and_settle(back_to_base, variant(add))
    assert report.accounts_created == 1 and report.rooms_created == 3  # cabinet space + 2 rooms
    client = await login(back_to_base, "shevchuk", "test-deputy-5")
    try:
        joined = set((await client.joined_rooms()).rooms)
        rooms = await registry.room_map(back_to_base.kabinet.store)
        for key in ("council", "announcements", "lounge", "commission:land", "cabinet:shevchuk",
                    "notes:shevchuk", "cabinet_space:shevchuk"):
            assert rooms[key] in joined, key
    finally:
        await client.close()


async def test_the_head_gets_an_account_the_council_rooms_a_cabinet_and_a_seat_at_sessions(
        back_to_base):
    def add(data):
        data["council"]["secretary"] = "hnatyshyn"
        data["head"] = {"id": "holova", "name": "Левицький Роман Ігорович",
                        "password": "test-head-1"}

    roster = variant(add)
    report = await apply_and_settle(back_to_base, roster)
    assert report.accounts_created == 1 and report.rooms_created == 3  # cabinet space + 2 rooms
    accounts = await registry.known_accounts(back_to_base.kabinet.store)
    assert accounts["@holova:localhost"].role == "head"
    client = await login(back_to_base, "holova", "test-head-1")
    try:
        joined = set((await client.joined_rooms()).rooms)
        rooms = await registry.room_map(back_to_base.kabinet.store)
        for key in ("council", "announcements", "lounge", "commissions", "sittings",
                    "cabinet:holova", "notes:holova", "cabinet_space:holova"):
            assert rooms[key] in joined, key
        assert not {rooms["commission:budget"], rooms["commission:land"]} & joined
    finally:
        await client.close()
    # A plenary sitting's participants: the deputies, then the head, then the secretariat.
    assert member_ids(roster, "plenary", "council") == [
        "bondar", "hnatyshyn", "zvarych", "kuzmych", "holova", "clerk"]
    again = await back_to_base.kabinet.apply_roster(roster)
    assert again.writes == 0 and again.changes == []


async def test_renaming_a_commission_renames_its_room_with_one_event(back_to_base):
    def rename(data):
        data["commissions"][1]["name"] = "Комісія з питань землі та екології"

    report = await apply_and_settle(back_to_base, variant(rename))
    assert report.state_events == 1 and report.writes == 1
    rooms = await registry.room_map(back_to_base.kabinet.store)
    state = await back_to_base.kabinet.hs.room_state(rooms["commission:land"])
    name = next(e for e in state if e["type"] == "m.room.name")
    assert name["content"]["name"] == "Комісія з питань землі та екології"


async def test_a_lost_room_mapping_is_found_again_by_alias_not_created_twice(small):
    kabinet = small.kabinet
    rooms = await registry.room_map(kabinet.store)
    async with kabinet.store.session() as s:
        from sqlalchemy import delete

        from council.models import ManagedRoom
        await s.execute(delete(ManagedRoom).where(ManagedRoom.key == "lounge"))
    report = await kabinet.apply_roster(parse_roster(BASE, "base"))
    assert report.rooms_created == 0 and report.writes == 0
    assert (await registry.room_map(kabinet.store))["lounge"] == rooms["lounge"]


def _membership(state: list[dict], user: str) -> str | None:
    for e in state:
        if e["type"] == "m.room.member" and e["state_key"] == user:
            return e["content"]["membership"]
    return None
