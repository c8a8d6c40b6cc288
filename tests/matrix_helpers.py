"""What a deputy's client does, with matrix-nio: walk the space hierarchy, wait for events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from nio import (
    AsyncClient,
    JoinedMembersResponse,
    RoomGetStateEventResponse,
    RoomGetStateResponse,
    RoomResolveAliasResponse,
    SpaceGetHierarchyResponse,
    SyncResponse,
)

KIND = "ua.kabinet.room"


async def resolve(client: AsyncClient, alias: str) -> str:
    resp = await client.room_resolve_alias(alias)
    assert isinstance(resp, RoomResolveAliasResponse), resp
    return resp.room_id


async def room_kind(client: AsyncClient, room_id: str) -> dict[str, Any]:
    resp = await client.room_get_state_event(room_id, KIND, "")
    assert isinstance(resp, RoomGetStateEventResponse), resp
    return resp.content


async def hierarchy(client: AsyncClient, space_id: str) -> list[dict[str, Any]]:
    """Every room reachable from the space (the rooms list of the hierarchy API), all pages."""
    rooms: list[dict[str, Any]] = []
    token = None
    while True:
        resp = await client.space_get_hierarchy(space_id, from_page=token, limit=50)
        assert isinstance(resp, SpaceGetHierarchyResponse), resp
        rooms.extend(resp.rooms)
        token = resp.next_batch
        if not token:
            return rooms


async def kinds_in(client: AsyncClient, room_ids: list[str]) -> dict[str, dict[str, Any]]:
    """room id -> ua.kabinet.room content, read from each room's state."""
    out = {}
    for rid in room_ids:
        resp = await client.room_get_state(rid)
        if isinstance(resp, RoomGetStateResponse):
            for ev in resp.events:
                if ev["type"] == KIND:
                    out[rid] = ev["content"]
    return out


async def members(client: AsyncClient, room_id: str) -> set[str]:
    resp = await client.joined_members(room_id)
    assert isinstance(resp, JoinedMembersResponse), resp
    return {m.user_id for m in resp.members}


async def wait_for(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2,
                   what: str = "condition") -> Any:
    """Poll until condition() returns something truthy (awaitable allowed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


async def next_events(client: AsyncClient, room_id: str, predicate: Callable[[dict], bool],
                      timeout: float = 30.0) -> list[dict]:
    """Sync until events in the room match predicate; returns the matching raw events."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        resp = await client.sync(timeout=2000, full_state=False)
        assert isinstance(resp, SyncResponse), resp
        room = resp.rooms.join.get(room_id)
        found = [e.source for e in (room.timeline.events if room else [])
                 if predicate(e.source)]
        if found:
            return found
    raise AssertionError(f"no matching event in {room_id} within {timeout:.0f} s")


async def sync_token(client: AsyncClient) -> str:
    resp = await client.sync(timeout=0, full_state=False)
    assert isinstance(resp, SyncResponse), resp
    return resp.next_batch


async def timeline_since(client: AsyncClient, since: str) -> dict[str, list[dict]]:
    """New timeline events per joined room since a sync token (empty dict: nothing happened)."""
    client.next_batch = since
    resp = await client.sync(timeout=0, since=since, full_state=False)
    assert isinstance(resp, SyncResponse), resp
    return {rid: [e.source for e in room.timeline.events]
            for rid, room in resp.rooms.join.items() if room.timeline.events}


async def missing_memberships(kabinet: Any, roster: Any) -> dict[str, set[str]]:
    """Managed room key -> members that differ from the roster (empty: all joined, no extras)."""
    from appservice.roster.desired import desired_rooms
    from council import rooms as registry

    rooms = await registry.room_map(kabinet.store)
    gaps: dict[str, set[str]] = {}
    for spec in desired_rooms(roster, kabinet.hs.server_name):
        state = await kabinet.hs.room_state(rooms[spec.key])
        joined = {e["state_key"] for e in state if e["type"] == "m.room.member"
                  and e["content"].get("membership") == "join"}
        want = set(spec.members) | {kabinet.hs.bot_mxid}
        if joined != want:
            gaps[spec.key] = want ^ joined
    return gaps


async def settle(kabinet: Any, roster: Any, timeout: float = 90.0) -> None:
    """Wait until auto_accept_invites has joined everyone to every room the roster gives them."""
    async def done() -> bool:
        return not await missing_memberships(kabinet, roster)

    await wait_for(done, timeout=timeout, what="every invite auto-accepted")
