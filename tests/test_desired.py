"""The desired state and its diff against the homeserver's state (pure functions)."""

from __future__ import annotations

from appservice.rooms import RoomSpec, membership_changes
from appservice.roster.desired import desired_rooms
from appservice.roster.reconcile import power_levels_change, state_changes
from appservice.sittings.rooms import POLL_START, sitting_power_overrides
from council import language
from council.roster import load_roster
from tests.conftest import SMALL_ROSTER

BOT = "@kabinet:localhost"


def spec(**kw) -> RoomSpec:
    base = {"key": "lounge", "kind": "lounge", "ref": "council", "name": "Зала", "topic": "Т",
            "members": frozenset({"@a:localhost", "@clerk:localhost"}),
            "staff": frozenset({"@clerk:localhost"})}
    return RoomSpec(**{**base, **kw})


def state_for(s: RoomSpec, version: str = "12", **extra) -> list[dict]:
    """The state a freshly created room has (plus what the homeserver adds on its own)."""
    events = [
        {"type": "m.room.create", "state_key": "", "content": {"room_version": version}},
        {"type": "m.room.name", "state_key": "", "content": {"name": s.name}},
        {"type": "m.room.topic", "state_key": "", "content": {
            "topic": s.topic, "m.topic": {"m.text": [{"body": s.topic}]}}},
        {"type": "ua.kabinet.room", "state_key": "", "content": s.room_state_content()},
        {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "invite"}},
        {"type": "m.room.history_visibility", "state_key": "",
         "content": {"history_visibility": "shared"}},
        {"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "forbidden"}},
        {"type": "m.room.power_levels", "state_key": "",
         "content": {**s.power_levels(BOT, version), "notifications": {"room": 50}}},
    ]
    return events + [{"type": "m.room.member", "state_key": u, "content": {"membership": m}}
                     for u, m in extra.items()]


def test_a_room_matching_its_spec_needs_no_change_even_with_homeserver_extras():
    s = spec()
    assert state_changes(s, state_for(s), {}, set(), BOT, "localhost") == []


def test_a_renamed_room_needs_exactly_one_name_event():
    old = spec()
    changes = state_changes(spec(name="Нова назва"), state_for(old), {}, set(), BOT, "localhost")
    assert [(c.event_type, c.content) for c in changes] == [("m.room.name", {"name": "Нова назва"})]


def test_room_version_12_keeps_the_creator_out_of_the_users_map():
    assert BOT not in spec().power_levels(BOT, "12")["users"]
    assert spec().power_levels(BOT, "11")["users"][BOT] == 100


def test_announcements_are_read_only_for_deputies():
    roster = load_roster(SMALL_ROSTER)
    ann = next(r for r in desired_rooms(roster, "localhost") if r.kind == "announcements")
    pl = ann.power_levels(BOT, "12")
    assert pl["events_default"] == 50 and pl["users"] == {"@clerk:localhost": 50}


def test_in_sitting_rooms_only_the_bot_may_start_polls_or_redact():
    pl = spec(**sitting_power_overrides()).power_levels(BOT, "12")
    assert pl["events"][POLL_START] == 100 and pl["redact"] == 100
    assert pl["events"]["m.room.redaction"] == 100


def test_power_levels_keep_keys_we_do_not_manage():
    desired = spec().power_levels(BOT, "12")
    actual = {**desired, "notifications": {"room": 50}, "users": {}}
    merged = power_levels_change(actual, desired)
    assert merged is not None and merged["notifications"] == {"room": 50}
    assert merged["users"] == {"@clerk:localhost": 50}
    assert power_levels_change(merged, desired) is None


def test_membership_invites_the_missing_and_removes_only_council_accounts():
    s = spec()
    state = state_for(s, **{"@clerk:localhost": "join", "@gone:localhost": "join",
                            "@guest:localhost": "join", BOT: "join"})
    invite, remove = membership_changes(s.members, state, {"@gone:localhost", "@a:localhost",
                                                           "@clerk:localhost"}, BOT)
    assert invite == ["@a:localhost"]
    assert remove == ["@gone:localhost"]  # a guest the roster never named is left alone


def test_an_invited_member_is_not_invited_again():
    s = spec()
    state = state_for(s, **{"@a:localhost": "invite", "@clerk:localhost": "join"})
    assert membership_changes(s.members, state, set(), BOT) == ([], [])


def test_space_children_are_added_and_retired_children_unlinked():
    space = spec(key="commissions", kind="commissions", space=True,
                 children=("commission:budget",))
    old_child = {"type": "m.space.child", "state_key": "!old:localhost",
                 "content": {"via": ["localhost"]}}
    state = [*state_for(space), old_child]
    changes = state_changes(space, state, {"commission:budget": "!budget:localhost"},
                            {"!old:localhost", "!budget:localhost"}, BOT, "localhost")
    assert {(c.state_key, bool(c.content)) for c in changes} == {
        ("!budget:localhost", True), ("!old:localhost", False)}


def test_every_deputy_gets_a_cabinet_space_with_cabinet_and_notes():
    roster = load_roster(SMALL_ROSTER)
    rooms = {r.key: r for r in desired_rooms(roster, "localhost")}
    for d in roster.deputies:
        space = rooms[f"cabinet_space:{d.id}"]
        assert space.children == (f"cabinet:{d.id}", f"notes:{d.id}")
        assert rooms[f"notes:{d.id}"].members == {f"@{d.id}:localhost"}
        assert "@clerk:localhost" in rooms[f"cabinet:{d.id}"].members


def test_a_council_that_changes_its_language_renames_each_room_once():
    """Names and topics follow the council's language: against rooms made in Ukrainian, an
    English council changes at most a name and a topic per room, once; then nothing."""
    roster = load_roster(SMALL_ROSTER)
    made = {r.key: r for r in desired_rooms(roster, "localhost")}
    assert made["notes:clerk"].name == "Мої замітки" and made["lounge"].name == "Депутатська зала"
    language.use("en")
    try:
        wanted = {r.key: r for r in desired_rooms(roster, "localhost")}
    finally:
        language.use("uk")
    assert wanted["lounge"].name == "Deputies' lounge"
    assert wanted["cabinet:bondar"].topic == ("Personal notices, documents and reminders from the "
                                              "secretariat.")
    for key, spec in wanted.items():
        changes = state_changes(spec, state_for(made[key]), {}, set(), BOT, "localhost")
        kinds = [c.event_type for c in changes]
        assert set(kinds) <= {"m.room.name", "m.room.topic"} and len(kinds) == len(set(kinds)), key
        assert state_changes(spec, state_for(spec), {}, set(), BOT, "localhost") == [], key
    renamed = [k for k, s in wanted.items() if s.name != made[k].name]
    assert "commission:budget" not in renamed  # the roster's own names stay as written
