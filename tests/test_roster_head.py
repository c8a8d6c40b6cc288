"""The head's rooms (desired state) and room creation that stays short for a full-size council."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from appservice.rooms import CREATE_INVITES, ensure_room, reconcile_members
from appservice.roster.desired import desired_rooms
from council import rooms as keys
from council.roster import Roster, load_roster, parse_roster
from tests.conftest import DEMO_ROSTER, SMALL_ROSTER
from tests.test_rooms import FakeHomeserver, member, spec

BASE = yaml.safe_load(SMALL_ROSTER.read_text(encoding="utf-8"))
HEAD = "@holova:localhost"


def with_head() -> Roster:
    data = copy.deepcopy(BASE)
    data["head"] = {"id": "holova", "name": "Левицький Роман Ігорович", "password": "test-head-1"}
    return parse_roster(data, "x")


# -- desired rooms --------------------------------------------------------------------------------

def test_the_head_is_in_every_council_room_and_space_and_in_no_commission():
    by_key = {s.key: s for s in desired_rooms(with_head(), "localhost")}
    for key in (keys.council_space(), keys.announcements(), keys.lounge(),
                keys.commissions_space(), keys.sittings_space()):
        assert HEAD in by_key[key].members, key
        assert HEAD not in by_key[key].staff, key  # a member, not the secretariat
    for commission in ("budget", "land"):
        assert HEAD not in by_key[keys.commission(commission)].members


def test_the_head_gets_a_personal_cabinet_like_a_deputy():
    by_key = {s.key: s for s in desired_rooms(with_head(), "localhost")}
    cabinet, notes, space = (by_key[keys.cabinet("holova")], by_key[keys.notes("holova")],
                             by_key[keys.cabinet_space("holova")])
    assert cabinet.members == {HEAD, "@clerk:localhost"} and cabinet.name == "Кабінет — Левицький Роман"
    assert notes.members == {HEAD}
    assert space.space and space.children == (keys.cabinet("holova"), keys.notes("holova"))
    assert space.name == "Кабінет: Левицький Роман Ігорович"


def test_a_head_adds_only_their_own_rooms_and_leaves_the_deputies_rooms_as_they_were():
    without = {s.key: s for s in desired_rooms(parse_roster(BASE, "x"), "localhost")}
    with_ = {s.key: s for s in desired_rooms(with_head(), "localhost")}
    assert set(with_) - set(without) == {keys.cabinet("holova"), keys.notes("holova"),
                                         keys.cabinet_space("holova")}
    for key, before in without.items():
        after = with_[key]
        assert after.members - before.members <= {HEAD}, key
        assert (after.name, after.topic, after.staff) == (before.name, before.topic, before.staff)


def test_the_demo_roster_has_a_head_and_a_secretary():
    demo = load_roster(DEMO_ROSTER)
    assert demo.head is not None and demo.head.id == "holova"
    assert demo.council.secretary in {d.id for d in demo.deputies}
    assert demo.council.convocation == "VIII скликання"
    assert demo.chairs("plenary", "council") == {"holova", demo.council.secretary}
    assert "holova" in demo.voters("executive", "executive")
    assert demo.quorum("plenary", "council") == 22  # 42 seats by law


# -- a big room is created with a few invites, the rest follow ------------------------------------

def members(n: int) -> frozenset[str]:
    return frozenset(f"@d{i:03d}:localhost" for i in range(n))


async def test_a_big_room_is_created_with_a_few_invites_and_the_rest_invited_after():
    hs, s = FakeHomeserver(), spec(members=members(125))
    got = await ensure_room(hs, s, alias_prefix="kabinet_", room_version="12")  # type: ignore[arg-type]
    assert got.created and got.problems == ()
    [(room_id, body)] = hs.created
    everyone = sorted(s.members)
    assert body["invitees"] == everyone[:CREATE_INVITES]
    assert hs.writes == [("invite", room_id, u) for u in everyone[CREATE_INVITES:]]


async def test_a_small_room_is_created_with_all_its_invites_in_one_request():
    hs, s = FakeHomeserver(), spec(members=members(CREATE_INVITES))
    await ensure_room(hs, s, alias_prefix="kabinet_", room_version="12")  # type: ignore[arg-type]
    assert len(hs.created[0][1]["invitees"]) == CREATE_INVITES and hs.writes == []


async def test_a_refused_later_invite_is_a_problem_and_the_others_still_go_out():
    hs, s = FakeHomeserver(), spec(members=members(30))
    refused = sorted(s.members)[25]
    hs.bot.refuse_invites = {refused}
    got = await ensure_room(hs, s, alias_prefix="kabinet_", room_version="12")  # type: ignore[arg-type]
    assert got.created and len(got.problems) == 1 and refused in got.problems[0]
    assert len(hs.writes) == 30 - CREATE_INVITES - 1


async def test_a_crash_during_the_later_invites_is_repaired_without_a_second_room():
    hs, s = FakeHomeserver(), spec(members=members(60))
    sent: list[str] = []

    async def dies_after_five(room_id: str, user: str, ensure_joined: bool = True) -> None:
        if len(sent) == 5:
            raise ConnectionResetError("the process dies here")
        sent.append(user)

    real_invite = hs.bot.invite_user
    hs.bot.invite_user = dies_after_five  # type: ignore[method-assign]
    with pytest.raises(ConnectionResetError):
        await ensure_room(hs, s, alias_prefix="kabinet_", room_version="12")  # type: ignore[arg-type]
    hs.bot.invite_user = real_invite  # type: ignore[method-assign]
    [(room_id, body)] = hs.created
    # The next round: found again by its alias (never created twice); its members' reconciliation
    # invites exactly who is still missing.
    again = await ensure_room(hs, s, alias_prefix="kabinet_", room_version="12")  # type: ignore[arg-type]
    assert (again.room_id, again.found, again.created) == (room_id, True, False)
    assert len(hs.created) == 1
    state: list[dict[str, Any]] = [member(u, "invite") for u in [*body["invitees"], *sent]]
    changes = await reconcile_members(hs, room_id, s.members, set(), state=state)  # type: ignore[arg-type]
    assert sorted(changes.invited) == sorted(s.members - set(body["invitees"]) - set(sent))
    assert len(changes.invited) == 60 - CREATE_INVITES - 5
