"""Open data in the shape Ukrainian councils publish roll-call votes on the national portal
(data.gov.ua): one row per motion (`motions.csv`) and one per member's answer (`votes.csv`).

The portal's `result` has five values; a member with a declared conflict of interest did not
take part, so they are "Не голосував" there (the JSON API and the pages say "Конфлікт інтересів").
The column names and the `result`/`votingResult` values are the portal's format: they are the
same whatever the council's language (the values are its Ukrainian words, from the catalog).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.sittings import AgendaItem, Sitting, local_day
from council.sittings.agenda import sitting_heading
from council.votes.inputs import OUTCOMES, RESULTS, Context
from council.votes.tables import RollCall, Vote


@dataclass(frozen=True)
class MotionRow:
    uid: str
    date: str
    authorityName: str
    convocation: str
    legislativeSession: str
    num: str
    title: str
    projectNum: str
    votingFor: int
    votingAgainst: int
    votingAbstain: int
    notVoting: int
    absent: int
    votingResult: str
    textUrl: str


@dataclass(frozen=True)
class VoterRow:
    motionUid: str
    voterId: str
    voterName: str
    motionTitle: str
    result: str


MOTION_COLUMNS = tuple(MotionRow.__dataclass_fields__)
VOTER_COLUMNS = tuple(VoterRow.__dataclass_fields__)
PORTAL_LANGUAGE = "uk"
PORTAL_RESULT = {**{k: t.render(PORTAL_LANGUAGE) for k, t in RESULTS.items()},
                 "conflict": RESULTS["not_voting"].render(PORTAL_LANGUAGE)}
PORTAL_OUTCOME = {k: t.render(PORTAL_LANGUAGE).capitalize() for k, t in OUTCOMES.items()}


def motion_uid(sitting_id: int, number: int) -> str:
    return f"{sitting_id}-{number}"


async def open_data(session: AsyncSession, ctx: Context, sitting_id: int | None
                    ) -> tuple[list[MotionRow], list[VoterRow]]:
    """Closed votes of one sitting, or of the whole convocation (`None`), oldest first."""
    query = (select(Vote, AgendaItem, Sitting).join(AgendaItem, AgendaItem.id == Vote.item_id)
             .join(Sitting, Sitting.id == Vote.sitting_id).where(Vote.status == "closed")
             .order_by(Sitting.starts_at, Sitting.id, Vote.number))
    if sitting_id is not None:
        query = query.where(Vote.sitting_id == sitting_id)
    rows = (await session.execute(query)).all()
    lines: dict[int, list[RollCall]] = {}
    if rows:
        for r in (await session.scalars(select(RollCall).where(
                RollCall.vote_id.in_([v.id for v, _, _ in rows])).order_by(RollCall.id))).all():
            lines.setdefault(r.vote_id, []).append(r)
    base = ctx.base_url.rstrip("/")
    motions: list[MotionRow] = []
    voters: list[VoterRow] = []
    for vote, item, sitting in rows:
        uid = motion_uid(sitting.id, vote.number)
        t = vote.totals or {}
        motions.append(MotionRow(
            uid, local_day(sitting.starts_at, ctx.tz).isoformat(), ctx.roster.council.name,
            ctx.roster.council.convocation or "",
            sitting_heading(sitting.kind, sitting.title, sitting.number),
            str(vote.number), item.title, item.number, t.get("for", 0), t.get("against", 0),
            t.get("abstain", 0), t.get("not_voting", 0) + t.get("conflict", 0), t.get("absent", 0),
            PORTAL_OUTCOME.get(vote.outcome or "", ""), f"{base}/sittings/{sitting.id}#item-{item.number}"))
        voters.extend(VoterRow(uid, r.member_id, r.name, item.title, PORTAL_RESULT[r.result])
                      for r in lines.get(vote.id, []))
    return motions, voters

