"""Appeals in the store, on SQLite and PostgreSQL: numbers under concurrency, and every
operation writing its outbox messages and mail in the same transaction."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import func, select

from council import appeals
from council.appeals import AppealError, AppealEvent, NewAppeal
from council.models import OutboxMessage
from council.outbox import mail as mailqueue
from council.store import Store

CTX = appeals.Context(server_name="localhost", ghost_prefix="kabinet_",
                      base_url="http://127.0.0.1:8080")


def sample(**over) -> NewAppeal:
    base = dict(name="Іваненко Іван Іванович", residence="м. Тестове, вул. Перша, 1",
                email="ivan@example.org", phone="+380501112233", subject="Освітлення",
                text="Не світять ліхтарі.", addressee_kind="deputy", addressee_deputy="bondar")
    return NewAppeal(**{**base, **over})


async def _register(store: Store, new: NewAppeal, today: date | None = None):
    async with store.session() as s:
        return await appeals.register(s, CTX, new, today)


async def test_numbers_are_sequential_per_year_and_unique_under_concurrent_submissions(store):
    today = date(2026, 6, 1)
    results = await asyncio.gather(*(_register(store, sample(), today) for _ in range(30)))
    numbers = sorted(a.number for a, _ in results)
    assert numbers == [f"Д-2026/{n:06d}" for n in range(1, 31)]
    assert len({t for _, t in results}) == 30
    appeal, _ = await _register(store, sample(), date(2027, 1, 2))
    assert appeal.number == "Д-2027/000001"  # a new year starts again at 1
    appeal, _ = await _register(store, sample(), today)
    assert appeal.number == "Д-2026/000031"


async def test_registration_queues_the_room_messages_and_the_receipt_in_the_same_transaction(store):
    f = appeals.StoredFile("a" * 64, "plan.pdf", "application/pdf", 1234)
    appeal, token = await _register(store, sample(attachments=(f,)), date(2026, 6, 1))
    assert appeal.deadline == date(2026, 7, 1)  # art. 20: a month for an application
    assert len(token) >= 32 and appeal.token_hash == appeals.hash_token(token)
    async with store.session() as s:
        assert (await appeals.by_token(s, token)).id == appeal.id
        assert await appeals.by_token(s, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        rows = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.room_id == f"$room:appeal:{appeal.id}").order_by(OutboxMessage.id))).all()
        mail = (await s.scalars(select(mailqueue.MailJob))).all()
    assert [r.key for r in rows] == [f"appeal:{appeal.id}:card", f"appeal:{appeal.id}:text",
                                     f"appeal:{appeal.id}:file:1"]
    card, text, file = rows
    assert card.sender is None and "вул. Перша" in card.content["body"]  # contacts: room only
    ghost = f"@kabinet_citizen_{appeal.id}:localhost"
    assert text.sender == ghost and text.content["body"] == "Не світять ліхтарі."
    assert file.sender == ghost and file.media_sha256 == "a" * 64
    assert len(mail) == 1 and mail[0].to_addr == "ivan@example.org"
    assert token in mail[0].body and appeal.number in mail[0].subject


async def test_a_failed_transaction_leaves_no_appeal_no_number_and_no_messages(store):
    with pytest.raises(RuntimeError):
        async with store.session() as s:
            await appeals.register(s, CTX, sample(), date(2026, 6, 1))
            raise RuntimeError("crash before commit")
    async with store.session() as s:
        assert await s.scalar(select(func.count()).select_from(appeals.Appeal)) == 0
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    appeal, _ = await _register(store, sample(), date(2026, 6, 1))
    assert appeal.number == "Д-2026/000001"


async def test_answer_extend_transfer_and_take(store):
    appeal, _ = await _register(store, sample(), date(2026, 3, 1))
    async with store.session() as s:
        a = await appeals.by_id(s, appeal.id)
        with pytest.raises(AppealError):
            await appeals.set_status(s, a, "answered", "@clerk:localhost")  # no answer yet
        await appeals.extend(s, CTX, a, 14, "потрібен запит до управління", "@bondar:localhost")
        assert a.deadline == date(2026, 4, 15)  # 45 days after receipt
        with pytest.raises(AppealError, match="45"):
            await appeals.extend(s, CTX, a, 1, "ще", "@bondar:localhost")
        await appeals.transfer(s, a, "zvarych", "@clerk:localhost")
        assert a.responsible == "zvarych" and a.members_version == 2
        with pytest.raises(AppealError):
            await appeals.take(s, a, "zvarych", "@zvarych:localhost")  # not a district appeal
        key = await appeals.answer(s, CTX, a, "Ліхтарі відремонтують до 1 травня.", "@zvarych:localhost")
        assert a.status == "answered" and a.answer_prompt_key == key
        with pytest.raises(AppealError):
            await appeals.extend(s, CTX, a, 1, "x", "@zvarych:localhost")
    async with store.session() as s:
        kinds = [e.kind for e in await appeals.history(s, appeal.id)]
        mails = [m.subject for m in (await s.scalars(select(mailqueue.MailJob))).all()]
        notes = [e.note or "" for e in (await s.scalars(select(AppealEvent))).all()]
    assert kinds == ["registered", "extended", "transferred", "answered"]
    assert len(mails) == 3  # receipt, extension, answer
    assert not any("Іваненко" in n or "@example" in n for n in notes)


async def test_a_district_appeal_is_taken_by_one_of_its_deputies(store):
    appeal, _ = await _register(store, sample(addressee_kind="district", addressee_deputy=None,
                                              addressee_district=1,
                                              candidates=("bondar", "hnatyshyn")))
    async with store.session() as s:
        a = await appeals.by_id(s, appeal.id)
        assert a.members() == ["bondar", "hnatyshyn"]
        with pytest.raises(AppealError):
            await appeals.take(s, a, "zvarych", "@zvarych:localhost")
        await appeals.take(s, a, "hnatyshyn", "@hnatyshyn:localhost")
        assert a.members() == ["hnatyshyn"] and a.status == "in_progress"
        with pytest.raises(AppealError):
            await appeals.take(s, a, "bondar", "@bondar:localhost")


async def test_reminders_are_queued_once_per_deadline_and_kind(store):
    appeal, _ = await _register(store, sample(type="proposal"), date(2026, 3, 1))  # due 16 March
    queued = []
    for day in (date(2026, 3, 12), date(2026, 3, 13), date(2026, 3, 13)):
        async with store.session() as s:
            queued.append(await appeals.remind(s, day))
    # Nothing four days before, one "soon" three days before, and not again the same day.
    assert queued == [0, 1, 0]
    async with store.session() as s:
        keys = set(await s.scalars(select(OutboxMessage.key).where(
            OutboxMessage.key.like(f"appeal:{appeal.id}:remind%"))))
        assert keys == {f"appeal:{appeal.id}:remind:soon:2026-03-16",
                        f"appeal:{appeal.id}:remind-cabinet:soon:2026-03-16"}
        assert [a.number for a in await appeals.overdue(s, date(2026, 3, 17))] == [appeal.number]
        assert await appeals.overdue(s, date(2026, 3, 16)) == []


async def test_the_demo_seeder_adds_three_appeals_one_answered_and_is_idempotent(store):
    from types import SimpleNamespace

    from council.roster import load_roster
    from kabinet.features import appeals_demo as demo_appeals
    from tests.conftest import DEMO_ROSTER

    kabinet = SimpleNamespace(roster=load_roster(DEMO_ROSTER), store=store)
    await demo_appeals.seed(kabinet, CTX)
    await demo_appeals.seed(kabinet, CTX)
    async with store.session() as s:
        rows = await appeals.listing(s)
    assert len(rows) == 3
    assert sorted(a.status for a in rows) == ["answered", "registered", "registered"]
    assert {a.addressee_kind for a in rows} == {"deputy", "district"}


async def test_the_reminders_worker_queues_once_and_wakes_delivery_only_when_it_did(store):
    from council.appeals.upkeep import Reminders

    await _register(store, sample(type="proposal"), date(2026, 3, 1))  # due 16 March
    pokes = []
    worker = Reminders(store, 60, lambda: date(2026, 3, 13), lambda: pokes.append(1))
    assert await worker.round() is False  # nothing to do at once: the next look is in `interval`
    assert await worker.round() is False
    assert pokes == [1]


async def test_the_room_hears_once_what_became_of_an_e_mail(store):
    """An answer's e-mail sent, and a receipt that could not be delivered, are each said once in
    the appeal's room; a receipt sent is no news; a mail still waiting says nothing yet."""
    appeal, _ = await _register(store, sample())
    async with store.session() as s:
        a = await appeals.by_id(s, appeal.id, lock=True)
        assert a is not None
        await appeals.answer(s, CTX, a, "Відповідь.", "@bondar:kabinet.test")
    async with store.session() as s:
        jobs = {job.key.split(":")[2]: job.id for job in await appeals.mails(s, appeal.id)}
    assert set(jobs) == {"receipt", "answer"}

    async def told(job: int) -> bool:
        async with store.session() as s:
            return await appeals.mail_outcome(s, job)

    assert not await told(jobs["answer"])  # still pending
    await mailqueue.mark_sent(store, jobs["answer"])
    await mailqueue.mark_sent(store, jobs["receipt"])
    assert await told(jobs["answer"]) and not await told(jobs["answer"])  # once
    assert not await told(jobs["receipt"])
    async with store.session() as s:
        receipt = await s.get(mailqueue.MailJob, jobs["receipt"])
        assert receipt is not None
        receipt.status, receipt.last_error = "failed", "recipient refused: 550 no such user"
    assert await told(jobs["receipt"])
    async with store.session() as s:
        bodies = [m.content["body"] for m in await s.scalars(
            select(OutboxMessage).where(OutboxMessage.key.like(f"appeal:{appeal.id}:mail:%")))]
    assert len(bodies) == 2
    assert any("(«відповідь», звернення" in b and b.endswith("надіслано.") for b in bodies)
    assert any("«підтвердження реєстрації»" in b and "не доставлено: recipient refused" in b
               for b in bodies)
