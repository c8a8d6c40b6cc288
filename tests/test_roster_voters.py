"""Who counts at a sitting: the head, the secretary, voters, total composition, quorum, chairs."""

from __future__ import annotations

import copy

import pytest
import yaml

from council.roster import Head, Roster, RosterError, parse_roster
from council.sittings import member_ids
from tests.conftest import DEMO_ROSTER, SMALL_ROSTER

BASE = yaml.safe_load(SMALL_ROSTER.read_text(encoding="utf-8"))
DEPUTIES = ("bondar", "hnatyshyn", "zvarych", "kuzmych")
HEAD = {"id": "holova", "name": "Марцінків Руслан Романович", "password": "test-head-1"}


def roster(**change: object) -> Roster:
    """The small roster with top-level keys replaced (None deletes a key)."""
    data = copy.deepcopy(BASE)
    for key, value in change.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return parse_roster(data, "council.yaml")


def problems(data: dict) -> list[str]:
    with pytest.raises(RosterError) as info:
        parse_roster(data, "council.yaml")
    return info.value.problems


def with_head(**extra: object) -> dict:
    data = copy.deepcopy(BASE)
    data["head"] = {**HEAD, **extra}
    return data


# --- the head and the secretary ---------------------------------------------------------------

def test_the_head_is_loaded_with_a_default_position():
    r = parse_roster(with_head(), "council.yaml")
    assert isinstance(r.head, Head)
    assert r.head.position == "Міський голова"
    assert r.head.mxid("localhost") == "@holova:localhost"


def test_a_roster_without_a_head_still_loads():
    assert roster().head is None


def test_the_heads_id_may_not_clash_with_a_deputy_or_staff_id():
    assert any("duplicate id 'bondar'" in p for p in problems(with_head(id="bondar")))
    assert any("duplicate id 'clerk'" in p for p in problems(with_head(id="clerk")))


def test_the_heads_matrix_id_may_not_clash_with_another():
    data = with_head(matrix_id="@mayor:city.example")
    data["deputies"][0]["matrix_id"] = "@mayor:city.example"
    assert any("matrix_id: duplicate id '@mayor:city.example'" in p for p in problems(data))


def test_the_head_may_sit_on_the_executive_committee():
    data = with_head()
    data["bodies"].append({"id": "vykonkom", "kind": "executive_committee", "name": "Виконком",
                           "members": ["holova", "bondar", "clerk"]})
    assert parse_roster(data, "x").voters("executive", "vykonkom") == ("holova", "bondar", "clerk")


def test_the_secretary_must_be_a_deputy():
    data = copy.deepcopy(BASE)
    data["council"]["secretary"] = "clerk"
    assert problems(data) == ["council: secretary 'clerk' is not a deputy"]
    data["council"]["secretary"] = "zvarych"
    data["council"]["convocation"] = "VIII скликання"
    loaded = parse_roster(data, "x")
    assert loaded.council.secretary == "zvarych" and loaded.council.convocation == "VIII скликання"


def test_a_too_long_convocation_is_refused():
    data = copy.deepcopy(BASE)
    data["council"]["convocation"] = "V" * 65
    [problem] = problems(data)
    assert problem.startswith("council.convocation")


# --- voters -----------------------------------------------------------------------------------

def test_plenary_voters_are_all_deputies_then_the_head():
    assert roster().voters("plenary", "council") == DEPUTIES
    assert parse_roster(with_head(), "x").voters("plenary", "council") == (*DEPUTIES, "holova")


def test_commission_voters_are_its_members_and_an_unknown_commission_has_none():
    r = parse_roster(with_head(), "x")
    assert r.voters("commission", "budget") == ("bondar", "zvarych", "kuzmych")
    assert r.voters("commission", "transport") == ()
    assert r.voters("something-else", "council") == ()


def test_executive_voters_by_id_else_the_first_executive_body_else_nobody():
    assert roster().voters("executive", "vykonkom") == ()
    bodies = [*BASE["bodies"],
              {"id": "vykonkom", "kind": "executive_committee", "name": "Виконком",
               "members": ["zvarych", "clerk"]},
              {"id": "other", "kind": "executive_committee", "name": "Інший виконком",
               "members": ["bondar"]}]
    r = roster(bodies=bodies)
    assert r.voters("executive", "other") == ("bondar",)
    assert r.voters("executive", "missing") == ("zvarych", "clerk")


# --- total composition and quorum -------------------------------------------------------------

def test_plenary_composition_falls_back_from_body_to_total_seats_to_voters():
    council = {**BASE["council"]}
    council.pop("total_seats")
    assert roster(council=council).total_composition("plenary", "council") == 4
    assert roster().total_composition("plenary", "council") == 7  # total_seats
    bodies = [{**BASE["bodies"][0], "total_composition": 43, "quorum": 20}]
    r = roster(bodies=bodies)
    assert r.total_composition("plenary", "council") == 43
    assert r.quorum("plenary", "council") == 20
    assert r.seats == 7  # the old property is unchanged


def test_the_default_quorum_is_more_than_half():
    assert roster().quorum("plenary", "council") == 4  # 7 // 2 + 1
    council = {**BASE["council"]}
    council.pop("total_seats")
    no_seats = parse_roster({**with_head(), "council": council}, "x")
    assert no_seats.total_composition("plenary", "council") == 5  # 4 deputies and the head
    assert no_seats.quorum("plenary", "council") == 3


def test_commission_composition_and_quorum_with_and_without_overrides():
    r = roster()
    assert (r.total_composition("commission", "budget"), r.quorum("commission", "budget")) == (3, 2)
    assert (r.total_composition("commission", "land"), r.quorum("commission", "land")) == (2, 2)
    commissions = [{**BASE["commissions"][0], "total_composition": 5, "quorum": 4},
                   BASE["commissions"][1]]
    r = roster(commissions=commissions)
    assert (r.total_composition("commission", "budget"), r.quorum("commission", "budget")) == (5, 4)


def test_the_composition_is_never_zero():
    assert roster().total_composition("commission", "transport") == 1
    assert roster().quorum("executive", "none") == 1


def test_executive_composition_and_quorum_with_and_without_overrides():
    body = {"id": "vykonkom", "kind": "executive_committee", "name": "Виконком",
            "members": ["zvarych", "clerk", "bondar"]}
    r = roster(bodies=[*BASE["bodies"], body])
    assert (r.total_composition("executive", "vykonkom"), r.quorum("executive", "vykonkom")) == (3, 2)
    r = roster(bodies=[*BASE["bodies"], {**body, "total_composition": 11}])
    assert (r.total_composition("executive", "vykonkom"), r.quorum("executive", "vykonkom")) == (11, 6)


def test_a_quorum_above_the_total_composition_is_refused():
    data = copy.deepcopy(BASE)
    data["commissions"][0].update(total_composition=3, quorum=4)
    [problem] = problems(data)
    assert problem.startswith("commissions[0] (id 'budget')") and "quorum 4 exceeds" in problem
    data = copy.deepcopy(BASE)
    data["bodies"][0]["quorum"] = 8  # total_seats is 7
    assert problems(data) == ["body 'council': quorum 8 exceeds the total composition 7"]
    data["bodies"][0]["total_composition"] = 9  # the body's own figure wins over total_seats
    assert parse_roster(data, "x").quorum("plenary", "council") == 8


def test_a_zero_override_is_refused():
    data = copy.deepcopy(BASE)
    data["commissions"][1]["quorum"] = 0
    [problem] = problems(data)
    assert problem.startswith("commissions[1] (id 'land').quorum")


# --- chairs and people ------------------------------------------------------------------------

def test_chairs_for_each_kind():
    data = with_head()
    data["council"]["secretary"] = "hnatyshyn"
    r = parse_roster(data, "x")
    assert r.chairs("plenary", "council") == {"holova", "hnatyshyn"}
    assert r.chairs("commission", "land") == {"hnatyshyn"}
    assert r.chairs("commission", "transport") == frozenset()
    assert r.chairs("executive", "vykonkom") == {"holova"}
    assert roster().chairs("plenary", "council") == frozenset()
    assert roster().chairs("executive", "vykonkom") == frozenset()


def test_people_by_id_and_by_matrix_id():
    r = parse_roster(with_head(), "x")
    assert r.person("holova") is r.head
    assert r.person("clerk") is r.secretariat[0]
    assert r.person("bondar") is r.deputies[0]
    assert r.person("ghost") is None
    assert r.faction_of("holova") is None and r.faction_of("ghost") is None
    by_mxid = r.people_by_mxid("localhost")
    assert set(by_mxid) == {f"@{i}:localhost" for i in (*DEPUTIES, "holova", "clerk")}
    assert by_mxid["@holova:localhost"] is r.head


def test_faction_of_a_deputy():
    data = copy.deepcopy(BASE)
    data["deputies"][1]["faction"] = "Громада міста"
    assert parse_roster(data, "x").faction_of("hnatyshyn") == "Громада міста"


# --- participants of a sitting room -----------------------------------------------------------

def test_sitting_participants_include_the_head_at_plenary_sittings_only():
    r = parse_roster(with_head(), "x")
    assert member_ids(r, "plenary", "council") == [*DEPUTIES, "holova", "clerk"]
    assert member_ids(r, "commission", "land") == ["hnatyshyn", "kuzmych", "clerk"]


def test_a_staff_member_on_the_executive_committee_is_listed_once():
    demo = parse_roster(yaml.safe_load(DEMO_ROSTER.read_text(encoding="utf-8")), "demo")
    ids = member_ids(demo, "executive", "executive")
    assert len(ids) == len(set(ids))
    assert ids[: len(demo.voters("executive", "executive"))] == list(
        demo.voters("executive", "executive"))
    assert {s.id for s in demo.secretariat} <= set(ids)
