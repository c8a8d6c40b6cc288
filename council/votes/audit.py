"""The recount behind `kabinet votes audit`: a closed vote counted again from the room's
timeline as the homeserver holds it, with the same rules (tally.py), and compared line by line
with the stored roll-call and digest. Who was registered and who declared a conflict are the
stored snapshot's (they are not in the poll's relations); the answers are the timeline's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from council.votes import ballots, tally


@dataclass(frozen=True)
class Recount:
    lines: list[tally.Line]
    totals: dict[str, int]
    outcome: str
    digest: str
    ended: bool  # the poll's end was found in the timeline


def recount(events: Iterable[dict[str, Any]], *, bot: str, sitting_id: int, number: int,
            item_number: str, majority: str, threshold: int, entitled: list[dict[str, Any]],
            registered: set[str], conflicts: set[str]) -> Recount:
    """`events`: the poll's `m.reference` relations in timeline order (responses and the end)."""
    members = {m["mxid"]: m["id"] for m in entitled}
    counted: list[tally.Counted] = []
    ended = False
    for seq, ev in enumerate(events):
        kind, sender = ev.get("type"), ev.get("sender")
        content = ev.get("content") or {}
        if kind == ballots.POLL_END and sender == bot:
            ended = True
            break
        if kind not in ballots.RESPONSE_TYPES or sender not in members:
            continue
        status, answer = tally.judge(tally.parse_response(kind, content).answers)
        if status == "valid" and answer:
            counted.append(tally.Counted(members[sender], answer, ev["event_id"],
                                         int(ev.get("origin_server_ts") or 0), seq))
    lines = tally.roll_call(entitled, registered, conflicts, tally.latest(counted))
    totals = tally.totals(lines)
    return Recount(lines, totals, tally.outcome(totals, threshold),
                   tally.digest(sitting_id, number, item_number, majority, threshold, lines), ended)


def differences(stored: dict[str, tuple[str, str | None]], stored_digest: str | None,
                again: Recount) -> list[str]:
    """What differs between the stored roll-call ({member: (result, event id)}) and a recount."""
    out = []
    if not again.ended:
        out.append("the poll's end is not in the timeline")
    for line in again.lines:
        have = stored.get(line.member_id)
        if have is None:
            out.append(f"{line.member_id}: not in the stored roll-call")
        elif have != (line.result, line.event_id):
            out.append(f"{line.member_id}: stored {have[0]} ({have[1]}), recounted {line.result} "
                       f"({line.event_id})")
    for member in stored.keys() - {x.member_id for x in again.lines}:
        out.append(f"{member}: stored but not entitled in the recount")
    if stored_digest != again.digest:
        out.append(f"digest: stored {stored_digest}, recounted {again.digest}")
    return out
