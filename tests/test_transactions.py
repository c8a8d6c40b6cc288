"""The appservice endpoint: authenticated, and every transaction and event handled once."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
from mautrix.api import Method, Path

from council import inbox, outbox
from tests.matrix_helpers import next_events, resolve, wait_for


def txn_url(settled, txn_id: str) -> str:
    return f"{settled.web_url}/as/_matrix/app/v1/transactions/{txn_id}"


def hs_token(settled) -> str:
    return settled.kabinet.registration.hs_token


async def put_txn(settled, txn_id: str, events: list[dict], token: str | None = None
                  ) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"Bearer {token or hs_token(settled)}"}
    async with aiohttp.ClientSession() as http, \
            http.put(txn_url(settled, txn_id), json={"events": events}, headers=headers) as resp:
        await resp.read()
        return resp


def ping_event(room_id: str, sender: str) -> dict:
    return {
        "event_id": f"$test-{uuid.uuid4().hex}", "room_id": room_id, "sender": sender,
        "type": "m.room.message", "origin_server_ts": int(time.time() * 1000),
        "content": {"msgtype": "m.text", "body": "!ping"},
    }


async def bot_replies_to(settled, room_id: str, event_id: str) -> list[dict]:
    """The bot's replies to an event, read from the room timeline (what any client sees)."""
    kabinet = settled.kabinet
    await kabinet.delivery.drain_once()
    resp = await kabinet.hs.request(Method.GET, Path.v3.rooms[room_id].messages,
                                    query={"dir": "b", "limit": "100"})
    return [e for e in resp["chunk"] if e["sender"] == kabinet.hs.bot_mxid
            and e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
            == event_id]


async def lounge_id(settled) -> str:
    return await settled.kabinet.hs.resolve_alias("#kabinet_lounge:localhost")


async def test_a_wrong_hs_token_is_refused_with_403_and_changes_nothing(settled):
    txn = f"wrong-{uuid.uuid4().hex}"
    event = ping_event(await lounge_id(settled), "@tkachuk:localhost")
    resp = await put_txn(settled, txn, [event], token="not-the-token")
    assert resp.status == 403
    async with aiohttp.ClientSession() as http, \
            http.put(txn_url(settled, txn), json={"events": [event]}) as missing:
        assert missing.status == 401
        assert (await missing.json())["errcode"] == "M_MISSING_TOKEN"
    async with settled.kabinet.store.session() as s:  # never claimed
        assert await inbox.claim_event(s, event["event_id"], event["room_id"], event["type"])
    assert await outbox.sent_event_id(settled.kabinet.store, f"reply:{event['event_id']}") is None


async def test_a_forbidden_answer_carries_the_matrix_error_code(settled):
    async with aiohttp.ClientSession() as http, http.put(
            txn_url(settled, "x"), json={"events": []},
            headers={"Authorization": "Bearer nope"}) as resp:
        assert resp.status == 403
        assert (await resp.json())["errcode"] == "M_FORBIDDEN"


async def test_the_same_transaction_delivered_twice_is_handled_once(settled):
    room = await lounge_id(settled)
    event = ping_event(room, "@tkachuk:localhost")
    txn = f"twice-{uuid.uuid4().hex}"
    handled_before = settled.kabinet.transactions.events_handled
    for _ in range(2):
        assert (await put_txn(settled, txn, [event])).status == 200
    assert settled.kabinet.transactions.events_handled == handled_before + 1
    replies = await wait_for(lambda: bot_replies_to(settled, room, event["event_id"]), what="reply")
    assert len(replies) == 1


async def test_the_same_event_in_two_transactions_is_handled_once(settled):
    room = await lounge_id(settled)
    event = ping_event(room, "@tkachuk:localhost")
    handled_before = settled.kabinet.transactions.events_handled
    for n in range(2):
        assert (await put_txn(settled, f"resent-{n}-{uuid.uuid4().hex}", [event])).status == 200
    assert settled.kabinet.transactions.events_handled == handled_before + 1
    replies = await wait_for(lambda: bot_replies_to(settled, room, event["event_id"]), what="reply")
    assert len(replies) == 1


async def test_a_deputy_who_types_ping_gets_one_answer_from_the_bot(settled, people, demo_roster):
    deputy = demo_roster.deputies[1]
    client = await people.login(deputy.id, deputy.password)
    lounge = await resolve(client, "#kabinet_lounge:localhost")
    sent = await client.room_send(lounge, "m.room.message", {"msgtype": "m.text", "body": "!ping"})
    replies = await next_events(
        client, lounge, lambda e: e["sender"] == "@kabinet:localhost" and e["content"].get(
            "m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == sent.event_id)
    assert "на зв'язку" in replies[0]["content"]["body"]
    # A second answer would come right behind the first: read the room once delivery is idle.
    await asyncio.sleep(1)
    assert len(await bot_replies_to(settled, lounge, sent.event_id)) == 1


async def test_an_unknown_command_gets_the_help_not_silence(settled, people, demo_roster):
    deputy = demo_roster.deputies[2]
    client = await people.login(deputy.id, deputy.password)
    lounge = await resolve(client, "#kabinet_lounge:localhost")
    sent = await client.room_send(lounge, "m.room.message", {"msgtype": "m.text", "body": "!щось"})
    replies = await next_events(
        client, lounge, lambda e: e["content"].get("m.relates_to", {}).get(
            "m.in_reply_to", {}).get("event_id") == sent.event_id)
    assert "!help" in replies[0]["content"]["body"]


async def test_events_no_feature_acts_on_are_acknowledged_without_being_stored(settled):
    room = await lounge_id(settled)
    member = {"event_id": f"$member-{uuid.uuid4().hex}", "room_id": room, "type": "m.room.member",
              "sender": "@tkachuk:localhost", "state_key": "@tkachuk:localhost",
              "origin_server_ts": int(time.time() * 1000), "content": {"membership": "join"}}
    handled_before = settled.kabinet.transactions.events_handled
    assert (await put_txn(settled, f"member-{uuid.uuid4().hex}", [member])).status == 200
    assert settled.kabinet.transactions.events_handled == handled_before
    async with settled.kabinet.store.session() as s:  # not claimed: nothing written for it
        assert await inbox.claim_event(s, member["event_id"], room, "m.room.member")


async def test_our_own_messages_coming_back_are_not_stored(settled):
    room = await lounge_id(settled)
    echo = ping_event(room, settled.kabinet.hs.bot_mxid)
    ghost = ping_event(room, "@kabinet_citizen_1:localhost")
    handled_before = settled.kabinet.transactions.events_handled
    assert (await put_txn(settled, f"echo-{uuid.uuid4().hex}", [echo, ghost])).status == 200
    assert settled.kabinet.transactions.events_handled == handled_before
    async with settled.kabinet.store.session() as s:
        assert await inbox.claim_event(s, echo["event_id"], room, "m.room.message")
