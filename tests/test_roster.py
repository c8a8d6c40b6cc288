"""Roster validation: every problem named with its file, entry and reason; nothing half-loaded."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from council.roster import RosterError, load_roster, parse_roster
from tests.conftest import DEMO_ROSTER, SMALL_ROSTER


@pytest.fixture
def small() -> dict:
    return yaml.safe_load(SMALL_ROSTER.read_text(encoding="utf-8"))


def problems_of(data: dict) -> list[str]:
    with pytest.raises(RosterError) as info:
        parse_roster(data, "council.yaml")
    assert str(info.value).startswith("council.yaml: the roster is invalid, nothing was applied")
    return info.value.problems


def test_the_demo_roster_is_a_realistic_council():
    roster = load_roster(DEMO_ROSTER)
    assert len(roster.deputies) >= 30
    assert len(roster.commissions) >= 6
    assert len(roster.secretariat) >= 3
    assert all(c.chair for c in roster.commissions)
    assert {b.kind for b in roster.bodies} == {"council", "executive_committee"}


def test_an_unknown_commission_is_named_with_the_deputy(small):
    small["deputies"][0]["commissions"] = ["budget", "transport"]
    [problem] = problems_of(small)
    assert "bondar" in problem and "transport" in problem and "unknown commission" in problem


def test_a_duplicate_id_is_refused(small):
    small["deputies"].append(copy.deepcopy(small["deputies"][1]))
    assert any("duplicate id 'hnatyshyn'" in p for p in problems_of(small))


def test_a_malformed_matrix_id_is_refused_and_located(small):
    small["deputies"][2]["matrix_id"] = "zvarych@example.org"
    [problem] = problems_of(small)
    assert problem.startswith("deputies[2] (id 'zvarych').matrix_id")
    assert "malformed Matrix id" in problem


def test_a_chair_who_is_not_a_member_is_refused(small):
    small["commissions"][1]["chair"] = "zvarych"
    [problem] = problems_of(small)
    assert "commission 'land'" in problem and "not a member" in problem


def test_a_missing_required_field_is_named(small):
    del small["deputies"][3]["name"]
    [problem] = problems_of(small)
    assert problem == "deputies[3] (id 'kuzmych').name: required field is missing"


def test_an_unknown_key_is_an_error_not_ignored(small):
    small["deputies"][0]["comissions"] = ["budget"]  # a typo must not pass silently
    [problem] = problems_of(small)
    assert "comissions: unknown field" in problem


def test_a_file_that_is_not_yaml_names_the_file(tmp_path: Path):
    bad = tmp_path / "roster.yaml"
    bad.write_text("council: [unclosed\n", encoding="utf-8")
    with pytest.raises(RosterError) as info:
        load_roster(bad)
    assert str(bad) in str(info.value) and "not valid YAML" in str(info.value)


def test_every_problem_is_reported_at_once(small):
    small["deputies"][0]["commissions"] = ["nope"]
    small["commissions"][0]["chair"] = "ghost"
    assert len(problems_of(small)) == 2
