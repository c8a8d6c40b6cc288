"""Sessions, one-time links, roles and the audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from council import accounts
from council.accounts import SignInLink, WebSession
from council.roster import parse_roster
from council.store import Store
from council.types import utcnow
from tests.votes_support import SERVER, roster_data

ME = f"@bondar:{SERVER}"


async def test_a_session_is_found_by_its_token_only_while_open(store: Store):
    async with store.session() as s:
        token = await accounts.start_session(s, ME, "password")
        other = await accounts.start_session(s, ME, "link")
    async with store.session() as s:
        found = await accounts.find_session(s, token)
        assert found is not None and found.mxid == ME and found.via == "password"
        assert await accounts.find_session(s, token + "x") is None
        # The store keeps the token's hash, never the token.
        stored = set(await s.scalars(select(WebSession.token_hash)))
        assert token not in stored and accounts.token_hash(token) in stored
        assert await accounts.find_session(s, token, now=utcnow() + timedelta(days=15)) is None
    async with store.session() as s:
        assert await accounts.end_session(s, token)
        assert not await accounts.end_session(s, token)  # once
    async with store.session() as s:
        assert await accounts.find_session(s, token) is None
        assert await accounts.find_session(s, other) is not None
        assert await accounts.end_all(s, ME) == 1
        assert await accounts.find_session(s, other) is None


async def test_a_link_signs_in_once_and_only_while_fresh(store: Store):
    async with store.session() as s:
        _, token = await accounts.new_link(s, ME)
        _, stale = await accounts.new_link(s, ME, lifetime=timedelta(seconds=-1))
    async with store.session() as s:
        assert await accounts.use_link(s, "forged-" + token) is None
        assert await accounts.use_link(s, stale) is None
        assert await accounts.use_link(s, token) == ME
    async with store.session() as s:
        assert await accounts.use_link(s, token) is None  # reused
        assert token not in set(await s.scalars(select(SignInLink.token_hash)))


async def test_two_requests_with_one_link_sign_in_once(store: Store):
    async with store.session() as s:
        _, token = await accounts.new_link(s, ME)

    async def use() -> str | None:
        async with store.session() as s:
            return await accounts.use_link(s, token)

    results = await asyncio.gather(use(), use(), return_exceptions=True)
    assert [r for r in results if r == ME] == [ME]


async def test_the_audit_log_keeps_who_did_what(store: Store):
    async with store.session() as s:
        await accounts.audit.record(s, ME, "sitting.create", "sitting:1", {"title": "x"})
        await accounts.audit.record(s, "staff-api", "sitting.withdraw", "sitting:1")
    async with store.session() as s:
        entries = await accounts.audit.recent(s)
    assert [(e.actor, e.action) for e in entries] == [
        ("staff-api", "sitting.withdraw"), (ME, "sitting.create")]
    assert entries[1].detail == {"title": "x"} and entries[0].at >= entries[1].at


async def test_visits_are_remembered_per_person(store: Store):
    async with store.session() as s:
        assert await accounts.last_visit(s, ME) is None
        await accounts.mark_visit(s, ME)
    async with store.session() as s:
        first = await accounts.last_visit(s, ME)
        await accounts.mark_visit(s, ME, first + timedelta(minutes=1) if first else None)
        await accounts.mark_visit(s, ME, first + timedelta(minutes=2) if first else None)
    async with store.session() as s:
        assert first is not None and await accounts.last_visit(s, ME) == first + timedelta(minutes=2)


def test_roles_come_from_the_roster():
    data = roster_data()
    data["secretariat"].append({"id": "admin", "name": "Адмін Системи", "administrator": True})
    roster = parse_roster(data)
    role = {p: accounts.identify(roster, SERVER, f"@{p}:{SERVER}") for p in
            ("bondar", "holova", "sekretar", "admin", "stranger")}
    assert {p: i.role if i else None for p, i in role.items()} == {
        "bondar": "deputy", "holova": "head", "sekretar": "secretariat",
        "admin": "administrator", "stranger": None}
    assert role["admin"] and role["admin"].is_staff and role["sekretar"] and role["sekretar"].is_staff
    assert role["bondar"] and not role["bondar"].sees_council
    assert role["holova"] and role["holova"].sees_council
    # A deputy with the same localpart on another server is not the council's deputy.
    assert accounts.identify(roster, SERVER, "@bondar:elsewhere.example") is None
    assert accounts.private_room(role["sekretar"]) == "notes:sekretar"
