"""Votes in the store (SQLite and PostgreSQL): quorum, thresholds, who counts, the roll-call
and its digest, refusals that write nothing, open data, a deputy's record."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from council import votes as domain
from council.language import Text
from council.models import OutboxMessage
from council.store import Store
from council.votes import ballots, tally
from council.votes.opendata import PORTAL_OUTCOME, PORTAL_RESULT
from tests.votes_support import Hall, context, mxid, plenary_with_items, small_roster

STAFF = domain.Actor.staff_tool("cli")


async def outbox_count(store: Store) -> int:
    async with store.session() as s:
        return await s.scalar(select(func.count(OutboxMessage.id))) or 0


async def setup(store: Store, tmp_path: Path, **council: object) -> Hall:
    roster = small_roster(**council)
    sitting = await plenary_with_items(store, tmp_path, roster)
    return Hall(store, context(roster), sitting)


async def open_registration(hall: Hall, actor: domain.Actor = STAFF) -> None:
    async with hall.store.session() as s:
        await domain.open_registration(s, hall.ctx, hall.sitting_id, actor)


async def open_vote(hall: Hall, item: str = "1", actor: domain.Actor = STAFF, **kw: object) -> int:
    async with hall.store.session() as s:
        vote = await domain.open_vote(s, hall.ctx, hall.sitting_id, actor, domain.OpenVote(item=item, **kw))
        return vote.id


async def refused(hall: Hall, code: str, coro_factory) -> None:
    before = await outbox_count(hall.store)
    with pytest.raises(domain.VoteError) as err:
        async with hall.store.session() as s:
            await coro_factory(s)
    assert err.value.code == code
    assert await outbox_count(hall.store) == before  # nothing half-written


async def test_a_vote_needs_a_quorum_and_the_registration_counts_latecomers(
        store: Store, tmp_path: Path) -> None:
    hall = await setup(store, tmp_path)  # 6 deputies + the head: total 7, quorum 4
    await open_registration(hall)
    await hall.register("bondar", "hnatiuk", "ivanyshyn")
    await refused(hall, "KB_NO_QUORUM", lambda s: domain.open_vote(
        s, hall.ctx, hall.sitting_id, STAFF, domain.OpenVote(item="1")))
    await open_registration(hall)  # re-opened: a second ballot
    await hall.register("bondar", "holova")  # bondar again changes nothing; the head is late
    async with store.session() as s:
        seen = await domain.attendance(s, hall.ctx, hall.sitting_id)
    assert [m for m, _ in seen.registered] == ["bondar", "hnatiuk", "ivanyshyn", "holova"]
    assert (seen.total, seen.quorum, seen.has_quorum) == (7, 4, True)
    assert await open_vote(hall) > 0


async def test_the_roll_call_counts_the_latest_answer_of_entitled_members_before_the_end(
        store: Store, tmp_path: Path) -> None:
    hall = await setup(store, tmp_path)
    await open_registration(hall)
    await hall.register("bondar", "hnatiuk", "ivanyshyn", "kovalchuk", "holova")
    async with store.session() as s:
        await domain.declare_conflict(s, hall.ctx, hall.sitting_id, domain.Actor.matrix(mxid("kovalchuk")),
                                      domain.NewConflict(item="1", member="kovalchuk",
                                                         text="Моя дружина — засновниця підрядника"))
    vote_id = await open_vote(hall)
    poll = f"vote:{vote_id}:poll"
    assert (await hall.answer("bondar", "against", poll)).status == "valid"
    await hall.answer("bondar", "for", poll, stable=True)  # changed their mind (stable form)
    await hall.answer("hnatiuk", "for", poll)
    await hall.answer("ivanyshyn", "abstain", poll)
    await hall.answer("kovalchuk", "for", poll)  # conflict: does not count
    assert (await hall.answer("sekretar", "for", poll)).status == "outsider"
    assert (await hall.answer("holova", "maybe", poll)).status == "unknown_answer"
    assert (await hall.answer("holova", "", poll, raw={"org.matrix.msc3381.poll.response": {
        "answers": "for"}})).status == "malformed"
    await hall.answer("lysenko", "against", poll)  # not registered, but voted: counts
    async with store.session() as s:
        await domain.close_current(s, hall.ctx, hall.sitting_id, STAFF)
    # Before the end comes back, an answer still counts: it is before the end in the timeline.
    await hall.answer("holova", "for", poll)
    vote = await hall.end(vote_id)
    assert vote is not None and vote.status == "closed"
    assert (await hall.answer("marchuk", "for", poll)).status == "late"
    async with store.session() as s:
        [view] = await domain.sitting_votes(s, hall.sitting_id)
    results = {x.member_id: x.result for x in view.roll_call}
    assert results == {"bondar": "for", "hnatiuk": "for", "ivanyshyn": "abstain",
                       "kovalchuk": "conflict", "lysenko": "against", "marchuk": "absent",
                       "holova": "for"}
    assert view.totals == {"for": 3, "against": 1, "abstain": 1, "not_voting": 0, "absent": 1,
                           "conflict": 1}
    assert (view.threshold, view.outcome) == (4, "rejected")  # 3 of the 4 needed
    assert [(c.member_id, c.text) for c in view.conflicts] == [
        ("kovalchuk", "Моя дружина — засновниця підрядника")]
    lines = [tally.Line(x.member_id, x.name, x.faction, x.result, None) for x in view.roll_call]
    async with store.session() as s:
        counted = dict((await s.execute(select(domain.RollCall.member_id, domain.RollCall.event_id)
                                        .where(domain.RollCall.vote_id == vote_id))).all())
        keys = set((await s.scalars(select(OutboxMessage.key))).all())
        replies = await s.scalar(select(func.count(OutboxMessage.id))
                                 .where(OutboxMessage.key.like("vote-reply:%")))
    lines = [tally.Line(x.member_id, x.name, x.faction, x.result, counted[x.member_id]) for x in lines]
    assert view.digest == tally.digest(hall.sitting_id, 1, "1", "total", 4, lines)
    assert {f"vote:{vote_id}:result", f"vote:{vote_id}:announce"} <= keys
    assert replies == 4  # outsider, unknown answer, malformed, late: each told why
    async with store.session() as s:
        voted_unregistered = await domain.deputy_record(s, hall.ctx, "lysenko")
    # Answering a roll-call is being there, registered or not (art. 37 counts attendance).
    assert [(y.kind, y.sittings, y.attended, y.missed_more_than_half)
            for y in voted_unregistered.years] == [("plenary", 1, 1, False)]


async def test_the_vote_closes_itself_when_every_entitled_member_has_answered(
        store: Store, tmp_path: Path) -> None:
    hall = await setup(store, tmp_path)
    await open_registration(hall)
    await hall.register("bondar", "hnatiuk", "ivanyshyn", "kovalchuk")
    vote_id = await open_vote(hall, majority="procedural")
    members = ["bondar", "hnatiuk", "ivanyshyn", "kovalchuk", "lysenko", "marchuk", "holova"]
    for m in members[:-1]:
        assert not (await hall.answer(m, "for", f"vote:{vote_id}:poll")).close_now
    assert (await hall.answer("holova", "for", f"vote:{vote_id}:poll")).close_now
    async with store.session() as s:
        vote = await s.get(domain.Vote, vote_id)
        assert vote is not None and (vote.status, vote.close_reason, vote.threshold) == (
            "closing", "all_voted", 3)


@pytest.mark.parametrize(("majority", "needed"), [("total", 4), ("procedural", 3), ("two_thirds", 5)])
async def test_the_threshold_is_frozen_when_the_vote_opens(store: Store, tmp_path: Path, majority: str,
                                                           needed: int) -> None:
    hall = await setup(store, tmp_path)
    await open_registration(hall)
    await hall.register("bondar", "hnatiuk", "ivanyshyn", "kovalchuk")
    vote_id = await open_vote(hall, majority=majority)
    await hall.register("lysenko", "marchuk")  # later registrations change no threshold
    async with store.session() as s:
        vote = await s.get(domain.Vote, vote_id)
        assert vote is not None and vote.threshold == needed


async def test_refusals_write_nothing(store: Store, tmp_path: Path) -> None:
    hall = await setup(store, tmp_path)
    deputy = domain.Actor.matrix(mxid("lysenko"))
    await refused(hall, "KB_NOT_CHAIR",
                  lambda s: domain.open_registration(s, hall.ctx, hall.sitting_id, deputy))
    await open_registration(hall, domain.Actor.matrix(mxid("holova")))  # the head chairs
    await hall.register("bondar", "hnatiuk", "ivanyshyn", "kovalchuk")
    secretary = domain.Actor.matrix(mxid("bondar"))  # the council's secretary chairs too
    await refused(hall, "KB_UNKNOWN_ITEM", lambda s: domain.open_vote(
        s, hall.ctx, hall.sitting_id, secretary, domain.OpenVote(item="9")))
    await refused(hall, "KB_NOT_CHAIR", lambda s: domain.open_vote(
        s, hall.ctx, hall.sitting_id, deputy, domain.OpenVote(item="1")))
    await open_vote(hall, actor=secretary)
    await refused(hall, "KB_VOTE_OPEN", lambda s: domain.open_vote(
        s, hall.ctx, hall.sitting_id, STAFF, domain.OpenVote(item="2")))
    await refused(hall, "KB_NOT_CHAIR", lambda s: domain.declare_conflict(
        s, hall.ctx, hall.sitting_id, deputy, domain.NewConflict(item="1", member="bondar", text="чуже")))
    # Nor may a chair: a conflict voids the member's answer.
    await refused(hall, "KB_NOT_CHAIR", lambda s: domain.declare_conflict(
        s, hall.ctx, hall.sitting_id, secretary, domain.NewConflict(item="1", member="lysenko",
                                                                    text="опонент")))
    await refused(hall, "KB_NOT_A_MEMBER", lambda s: domain.notify_absence(
        s, hall.ctx, hall.sitting_id, STAFF, domain.NewAbsence(member="sekretar", reason="відпустка")))


async def test_open_data_and_the_deputy_record_come_from_the_snapshot(store: Store, tmp_path: Path) -> None:
    hall = await setup(store, tmp_path)
    await open_registration(hall)
    await hall.register("bondar", "hnatiuk", "ivanyshyn", "kovalchuk")
    async with store.session() as s:
        await domain.notify_absence(s, hall.ctx, hall.sitting_id, domain.Actor.matrix(mxid("marchuk")),
                                    domain.NewAbsence(member="marchuk", reason="лікарняний"))
    vote_id = await open_vote(hall)
    for m in ("bondar", "hnatiuk", "ivanyshyn", "kovalchuk"):
        await hall.answer(m, "for", f"vote:{vote_id}:poll")
    async with store.session() as s:
        await domain.close_current(s, hall.ctx, hall.sitting_id, STAFF)
    await hall.end(vote_id)
    # A roster change after the close changes no published result.
    renamed = small_roster()
    data = renamed.model_dump(exclude_none=True)
    data["deputies"][0]["name"] = "Бондар Перейменований"
    ctx = context(type(renamed).model_validate(data))
    async with store.session() as s:
        motions, voters = await domain.open_data(s, ctx, hall.sitting_id)
        everything, _ = await domain.open_data(s, ctx, None)
        record = await domain.deputy_record(s, ctx, "marchuk")
        present = await domain.deputy_record(s, ctx, "bondar")
    assert [m.uid for m in everything] == [m.uid for m in motions] == [f"{hall.sitting_id}-1"]
    m = motions[0]
    assert (m.votingFor, m.votingAgainst, m.votingAbstain, m.notVoting, m.absent) == (4, 0, 0, 0, 3)
    assert (m.votingResult, m.convocation, m.num, m.projectNum) == ("Прийнято", "VIII скликання", "1", "1")
    assert m.textUrl == f"https://rada.example/sittings/{hall.sitting_id}#item-1"
    assert {v.voterId: v.result for v in voters}["marchuk"] == "Відсутній"
    assert {v.voterId: v.voterName for v in voters}["bondar"] == "Bondar Іван Петрович"
    assert [(y.sittings, y.attended, y.missed_more_than_half) for y in record.years] == [(1, 0, True)]
    assert [(y.attended, y.missed_more_than_half) for y in present.years] == [(1, False)]
    assert [r.result for r in present.votes] == ["for"]
    with pytest.raises(domain.VoteError):
        async with store.session() as s:
            await domain.deputy_record(s, ctx, "nobody")


async def test_the_live_count_is_edited_at_most_once_per_refresh(store: Store, tmp_path: Path) -> None:
    hall = await setup(store, tmp_path)
    await open_registration(hall)
    await hall.register("bondar", "hnatiuk", "ivanyshyn")
    async with store.session() as s:
        assert await domain.refresh_counts(s, hall.ctx) == 1
    async with store.session() as s:
        assert await domain.refresh_counts(s, hall.ctx) == 0
        edits = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.key.like("registration:%:count:%")))).all()
    assert len(edits) == 1
    assert "Зареєстровано 3 з 7" in edits[0].content["m.new_content"]["body"]


def test_responses_are_read_in_both_forms() -> None:
    rel = {"rel_type": "m.reference", "event_id": "$poll"}
    unstable = tally.parse_response("org.matrix.msc3381.poll.response", {
        "org.matrix.msc3381.poll.response": {"answers": ["for"]}, "m.relates_to": rel})
    stable = tally.parse_response("m.poll.response", {"m.selections": ["against"], "m.relates_to": rel})
    assert (unstable.poll_id, unstable.answers) == ("$poll", ["for"])
    assert (stable.poll_id, stable.answers) == ("$poll", ["against"])
    assert tally.parse_response("m.poll.response", {"m.selections": ["x"]}).poll_id is None
    assert tally.judge(["for", "against"]) == ("malformed", None)
    assert tally.judge(["yes"]) == ("unknown_answer", None)
    assert tally.threshold("two_thirds", 43, 30) == 29 and tally.threshold("total", 43, 30) == 22



def test_the_bot_speaks_the_councils_language_and_a_refusal_each_readers(english: None) -> None:
    assert ballots.count_text(3, 7, 4) == "📋 Registered 3 of 7. Quorum: no ⛔ (4 needed)"
    poll = ballots.vote_poll(1, 2, "3", "Про бюджет", "procedural", 4, 7, None)
    assert poll["body"].splitlines() == [
        "Vote 2: item 3 «Про бюджет». Threshold: 4 «For» (majority of those registered "
        "(procedural), composition 7)", "1. For", "2. Against", "3. Abstain"]
    refusal = domain.VoteError("KB_NO_VOTE", Text("no vote is open now"))
    assert str(refusal) == "no vote is open now"  # the council's language, for the bot
    assert refusal.text("uk") == "зараз немає відкритого голосування"
    # The open data keep the portal's Ukrainian values whatever the council's language.
    assert PORTAL_RESULT["conflict"] == "Не голосував" and PORTAL_OUTCOME["adopted"] == "Прийнято"
