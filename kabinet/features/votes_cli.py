"""`kabinet votes …`: registration, votes and their records from the secretariat's terminal.

Like the sittings' commands they write the store (and the outbox) and exit; a running
`kabinet up` posts the ballots and counts the answers. `votes audit` is the one that reads the
homeserver: it recounts every closed vote of a sitting from the room's timeline.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from functools import partial

import aiohttp
from mautrix.errors import MatrixRequestError
from sqlalchemy import select

from appservice.homeserver import Homeserver
from appservice.votes.audit import poll_relations
from council import rooms as registry
from council import votes as domain
from council.sittings import AgendaItem
from council.votes import audit
from kabinet.bot_client import NoRegistration, bot_client
from kabinet.core import Core
from kabinet.features import CliError, CommonOptions, Subparsers, guarded

Context = Callable[[Core], domain.Context]
STAFF = domain.Actor.staff_tool("cli")


def add_commands(sub: Subparsers, common: CommonOptions, context: Context) -> None:
    votes = sub.add_parser("votes", help="registration, roll-call votes, results, audit")
    vsub = votes.add_subparsers(dest="votes_command", required=True)

    def command(name: str, help_: str, run: Callable[..., Awaitable[int]]) -> argparse.ArgumentParser:
        parser = vsub.add_parser(name, help=help_)
        common(parser)
        parser.add_argument("sitting", type=int)
        parser.set_defaults(run=partial(run, context))
        return parser

    command("registration", "open (or re-open) registration: the bot posts the ballot", cmd_registration)
    opening = command("open", "open a roll-call vote on an agenda item", cmd_open)
    opening.add_argument("item", help="the agenda item's number")
    opening.add_argument("--majority", choices=["total", "procedural", "two_thirds"])
    opening.add_argument("--duration", type=int, help="seconds until it closes by itself")
    command("close", "close the open vote (the count follows the poll's end)", cmd_close)
    absent = command("absent", "notify a member's absence with a reason", cmd_absent)
    absent.add_argument("member", help="roster id")
    absent.add_argument("reason")
    conflict = command("conflict", "declare a member's conflict of interest on an item", cmd_conflict)
    conflict.add_argument("item")
    conflict.add_argument("member", help="roster id")
    conflict.add_argument("text")
    command("results", "print the sitting's votes and roll-calls", cmd_results)
    command("audit", "recount every closed vote from the homeserver's timeline", cmd_audit)


async def _guarded(core: Core, context: Context,
                   body: Callable[[domain.Context], Awaitable[int]]) -> int:
    return await guarded(core, context(core), body, (domain.VoteError,))


async def cmd_registration(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        async with core.store.session() as s:
            reg = await domain.open_registration(s, ctx, args.sitting, STAFF)
        print(f"registration {reg.round} queued for sitting {args.sitting} (quorum {reg.quorum} of "
              f"{reg.total}); `kabinet up` posts the ballot")
        return 0
    return await _guarded(core, context, body)


async def cmd_open(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        spec = domain.OpenVote(item=args.item, majority=args.majority, duration=args.duration)
        async with core.store.session() as s:
            vote = await domain.open_vote(s, ctx, args.sitting, STAFF, spec)
        print(f"vote {vote.number} on item {args.item} queued: {vote.threshold} «За» needed "
              f"({domain.MAJORITY_EN[vote.majority]}); `kabinet up` posts the poll")
        return 0
    return await _guarded(core, context, body)


async def cmd_close(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        async with core.store.session() as s:
            vote = await domain.close_current(s, ctx, args.sitting, STAFF)
        print(f"vote {vote.number}: closing queued; the roll-call follows the poll's end")
        return 0
    return await _guarded(core, context, body)


async def cmd_absent(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        async with core.store.session() as s:
            await domain.notify_absence(s, ctx, args.sitting, STAFF,
                                        domain.NewAbsence(member=args.member, reason=args.reason))
        print(f"absence of {args.member} recorded")
        return 0
    return await _guarded(core, context, body)


async def cmd_conflict(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        async with core.store.session() as s:
            await domain.declare_conflict(s, ctx, args.sitting, STAFF, domain.NewConflict(
                item=args.item, member=args.member, text=args.text))
        print(f"conflict of interest of {args.member} on item {args.item} recorded")
        return 0
    return await _guarded(core, context, body)


async def cmd_results(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        async with core.store.session() as s:
            views = await domain.sitting_votes(s, args.sitting)
        for v in views:
            outcome = domain.OUTCOME_UK.get(v.outcome or "", v.status)
            print(f"vote {v.number}\titem {v.item_number}\t{outcome}\t{tally_line(v.totals)}"
                  f"\tthreshold {v.threshold}\t{v.digest or ''}")
            for line in v.roll_call:
                print(f"\t{line.member_id}\t{line.name}\t{domain.RESULT_UK[line.result]}")
        return 0
    return await _guarded(core, context, body)


def tally_line(totals: dict[str, int]) -> str:
    return " ".join(f"{k}={totals.get(k, 0)}" for k in domain.RESULT_UK)


def _homeserver(core: Core) -> Homeserver:
    try:
        return bot_client(core)
    except NoRegistration as exc:
        raise CliError(str(exc)) from None


async def cmd_audit(context: Context, core: Core, args: argparse.Namespace) -> int:
    """Exit 0 when every closed vote recounts to the stored result, 1 on any difference."""
    async def body(ctx: domain.Context) -> int:
        async with core.store.session() as s:
            votes = (await s.scalars(select(domain.Vote).where(
                domain.Vote.sitting_id == args.sitting, domain.Vote.status == "closed")
                .order_by(domain.Vote.number))).all()
            rooms = await registry.room_map(core.store)
            stored = {}
            for v in votes:
                item = await s.get(AgendaItem, v.item_id)
                rows = (await s.scalars(select(domain.RollCall)
                                        .where(domain.RollCall.vote_id == v.id))).all()
                conflicts = {r.member_id for r in rows if r.result == "conflict"}
                stored[v.id] = (item.number if item else "?", conflicts,
                                {r.member_id: (r.result, r.event_id) for r in rows})
        room_id = rooms.get(registry.sitting(args.sitting))
        if not votes:
            print(f"sitting {args.sitting}: no closed votes to audit")
            return 0
        if room_id is None:
            raise CliError(f"sitting {args.sitting} has no room")
        hs = _homeserver(core)
        await hs.open()
        problems = 0
        try:
            for v in votes:
                item_number, conflicts, lines = stored[v.id]
                if not v.poll_event_id:
                    print(f"vote {v.number}: DIFFERENT — the poll's event id was never recorded")
                    problems += 1
                    continue
                events = await poll_relations(hs, room_id, v.poll_event_id)
                again = audit.recount(
                    events, bot=str(hs.bot_mxid), sitting_id=v.sitting_id, number=v.number,
                    item_number=item_number, majority=v.majority, threshold=v.threshold,
                    entitled=v.entitled, registered=set(v.registered_at_close or []), conflicts=conflicts)
                diff = audit.differences(lines, v.digest, again)
                counted = sum(1 for x in again.lines if x.event_id)
                if diff:
                    problems += 1
                    print(f"vote {v.number}: DIFFERENT from the stored result")
                    for d in diff:
                        print(f"  {d}")
                else:
                    print(f"vote {v.number}: recounted {len(events)} relations, {counted} answers "
                          f"counted — same result ({tally_line(again.totals)}), digest {again.digest}")
        except (MatrixRequestError, aiohttp.ClientError, OSError) as exc:
            print(f"error: cannot read the homeserver at {hs.url}: {exc}", file=sys.stderr)
            return 1
        finally:
            await hs.close()
        return 1 if problems else 0
    return await _guarded(core, context, body)


__all__ = ["add_commands"]
