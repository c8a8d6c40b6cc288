"""Counting, as pure functions: the bot's tally, the published roll-call and `votes audit` use
the same ones, so a recount from the homeserver's timeline can only differ if the data does.

The rules:
- a response is the sender's answer if it refers to the poll (`m.reference`) and names exactly
  one known answer; anything else is not counted (and does not undo an earlier answer);
- for each entitled member, their latest counted response (homeserver timestamp, then arrival)
  before the poll's end is their answer;
- a member with a declared conflict of interest is `conflict` whatever they answered; a member
  with no answer is `not_voting` if registered and `absent` if not.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from council.votes.inputs import ANSWERS, RESULTS

UNSTABLE_RESPONSE = "org.matrix.msc3381.poll.response"
STABLE_RESPONSE = "m.poll.response"


@dataclass(frozen=True)
class Parsed:
    poll_id: str | None  # the poll it answers; None when it refers to none
    answers: list[str] | None  # None when malformed


def parse_response(event_type: str, content: Mapping[str, Any]) -> Parsed:
    """A poll response in either form: the unstable MSC3381 one (Element, Element X) or the
    stable `m.poll.response` (spec v1.7)."""
    relates = content.get("m.relates_to")
    poll_id = None
    if isinstance(relates, dict) and relates.get("rel_type") == "m.reference" \
            and isinstance(relates.get("event_id"), str):
        poll_id = relates["event_id"]
    if event_type == STABLE_RESPONSE:
        answers = content.get("m.selections")
    else:
        block = content.get(UNSTABLE_RESPONSE)
        answers = block.get("answers") if isinstance(block, dict) else None
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        return Parsed(poll_id, None)
    return Parsed(poll_id, list(answers))


def judge(answers: list[str] | None, allowed: Iterable[str] = ANSWERS) -> tuple[str, str | None]:
    """(status, answer): `valid` with the answer, else `malformed` or `unknown_answer`."""
    if answers is None or len(answers) != 1:
        return "malformed", None
    if answers[0] not in set(allowed):
        return "unknown_answer", None
    return "valid", answers[0]


@dataclass(frozen=True)
class Counted:
    member_id: str
    answer: str
    event_id: str
    origin_ts: int
    seq: int  # arrival order


def latest(responses: Iterable[Counted]) -> dict[str, Counted]:
    out: dict[str, Counted] = {}
    for r in responses:
        have = out.get(r.member_id)
        if have is None or (r.origin_ts, r.seq) >= (have.origin_ts, have.seq):
            out[r.member_id] = r
    return out


@dataclass(frozen=True)
class Line:
    member_id: str
    name: str
    faction: str | None
    result: str
    event_id: str | None


def roll_call(entitled: list[dict[str, Any]], registered: set[str], conflicts: set[str],
              answers: Mapping[str, Counted]) -> list[Line]:
    lines = []
    for m in entitled:
        mid = m["id"]
        counted = answers.get(mid)
        if mid in conflicts:
            result, event = "conflict", None
        elif counted is not None:
            result, event = counted.answer, counted.event_id
        else:
            result, event = ("not_voting" if mid in registered else "absent"), None
        lines.append(Line(mid, m["name"], m.get("faction"), result, event))
    return lines


def totals(lines: Iterable[Line]) -> dict[str, int]:
    out = dict.fromkeys(RESULTS, 0)
    for line in lines:
        out[line.result] += 1
    return out


def threshold(majority: str, total: int, registered: int) -> int:
    """How many "За" adopt: more than half (of the total or of those registered), or two thirds."""
    if majority == "procedural":
        return registered // 2 + 1
    if majority == "two_thirds":
        return math.ceil(2 * total / 3)
    return total // 2 + 1


def outcome(counts: Mapping[str, int], needed: int) -> str:
    return "adopted" if counts.get("for", 0) >= needed else "rejected"


def canonical(sitting_id: int, number: int, item_number: str, majority: str, needed: int,
              lines: Iterable[Line]) -> bytes:
    """The bytes the digest is taken over (documented in docs/votes.md, so anyone can recount):
    compact JSON, keys sorted, the roll-call sorted by member id, the counted event ids sorted."""
    rows = sorted(lines, key=lambda x: x.member_id)
    doc = {"sitting": sitting_id, "vote": number, "item": item_number, "majority": majority,
           "threshold": needed, "roll_call": [[x.member_id, x.result] for x in rows],
           "events": sorted(x.event_id for x in rows if x.event_id)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(sitting_id: int, number: int, item_number: str, majority: str, needed: int,
           lines: Iterable[Line]) -> str:
    return hashlib.sha256(canonical(sitting_id, number, item_number, majority, needed,
                                    lines)).hexdigest()
