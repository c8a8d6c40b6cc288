"""A deputy opens Element and finds the council: the demo roster on a real Synapse."""

from __future__ import annotations

from nio import RoomSendError, RoomSendResponse

from tests.matrix_helpers import (
    hierarchy,
    kinds_in,
    members,
    missing_memberships,
    next_events,
    resolve,
    room_kind,
    settle,
)


async def test_a_deputy_finds_the_council_space_and_their_own_rooms(demo, people, demo_roster):
    deputy = next(d for d in demo_roster.deputies if len(d.commissions) == 2)
    client = await people.login(deputy.id, deputy.password)

    space = await resolve(client, "#kabinet_council:localhost")
    assert (await room_kind(client, space))["kind"] == "council"
    listed = [r["room_id"] for r in await hierarchy(client, space)]
    kinds = await kinds_in(client, listed)
    by_kind = {}
    for content in kinds.values():
        by_kind.setdefault(content["kind"], set()).add(content["ref"])
    assert {"council", "announcements", "lounge", "commissions", "sittings"} <= by_kind.keys()
    # Invite-only commission rooms: the hierarchy shows the deputy exactly their own.
    assert by_kind["commission"] == set(deputy.commissions)

    joined = (await client.joined_rooms()).rooms
    mine = await kinds_in(client, joined)
    cabinet_space = next(rid for rid, c in mine.items() if c["kind"] == "cabinet" and c.get("space"))
    assert mine[cabinet_space]["ref"] == deputy.id
    inside = await kinds_in(client, [r["room_id"] for r in await hierarchy(client, cabinet_space)])
    assert sorted(c["kind"] for c in inside.values()) == ["cabinet", "cabinet", "notes"]
    assert {c["ref"] for c in inside.values()} == {deputy.id}


async def test_every_council_member_is_joined_to_every_room_the_roster_gives_them(demo, demo_roster):
    # Invited at creation, joined by auto_accept_invites (rate limits raised, DESIGN.md):
    # every expected membership, not just a few, and nobody else.
    await settle(demo.kabinet, demo_roster)
    assert await missing_memberships(demo.kabinet, demo_roster) == {}


async def test_a_deputy_cannot_post_in_announcements_but_the_secretariat_can(demo, people, demo_roster):
    deputy, staff = demo_roster.deputies[0], demo_roster.secretariat[0]
    dep = await people.login(deputy.id, deputy.password)
    sec = await people.login(staff.id, staff.password)
    room = await resolve(dep, "#kabinet_announcements:localhost")

    refused = await dep.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "Привіт"})
    assert isinstance(refused, RoomSendError) and refused.status_code == "M_FORBIDDEN"

    body = "Сесія переноситься на 14:00"
    sent = await sec.room_send(room, "m.room.message", {"msgtype": "m.text", "body": body})
    assert isinstance(sent, RoomSendResponse), sent
    seen = await next_events(dep, room, lambda e: e.get("event_id") == sent.event_id)
    assert seen[0]["content"]["body"] == body


async def test_the_lounge_lists_every_deputy_and_the_secretariat(demo, people, demo_roster):
    deputy = demo_roster.deputies[-1]
    client = await people.login(deputy.id, deputy.password)
    lounge = await resolve(client, "#kabinet_lounge:localhost")
    expected = {f"@{p.id}:localhost" for p in (*demo_roster.deputies, *demo_roster.secretariat)}
    assert expected <= await members(client, lounge)
    assert (await room_kind(client, lounge)) == {"kind": "lounge", "ref": "council"}
