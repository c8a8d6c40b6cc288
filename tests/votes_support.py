"""A small council and helpers for the votes tests: a plenary sitting with drafts, answers as
the homeserver would hand them over, and the bot's own poll events coming back."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from council import sittings as sittings_domain
from council import votes as domain
from council.files.blobs import BlobStore
from council.law import holidays
from council.models import OutboxMessage
from council.roster import Roster, parse_roster
from council.store import Store
from kabinet.features.sittings_demo import draft_pdf

KYIV = ZoneInfo("Europe/Kyiv")
SERVER = "kabinet.test"
DEPUTIES = ["bondar", "hnatiuk", "ivanyshyn", "kovalchuk", "lysenko", "marchuk"]
FACTIONS = {"bondar": "Свобода", "hnatiuk": "Свобода", "ivanyshyn": "Європейська Солідарність",
            "kovalchuk": "Європейська Солідарність", "lysenko": None, "marchuk": "Свобода"}


def roster_data(**council: Any) -> dict[str, Any]:
    return {
        "council": {"name": "Тестова міська рада", "convocation": "VIII скликання",
                    "secretary": "bondar", **council},
        "head": {"id": "holova", "name": "Марцінків Руслан Романович"},
        "commissions": [{"id": "budget", "name": "Бюджетна комісія", "chair": "hnatiuk"}],
        "deputies": [{"id": d, "name": f"{d.capitalize()} Іван Петрович",
                      **({"faction": FACTIONS[d]} if FACTIONS[d] else {}),
                      "commissions": ["budget"] if d in ("hnatiuk", "ivanyshyn", "kovalchuk") else []}
                     for d in DEPUTIES],
        "secretariat": [{"id": "sekretar", "name": "Оксана Секретаріат"}],
    }


def small_roster(**council: Any) -> Roster:
    return parse_roster(roster_data(**council))


def mxid(member: str) -> str:
    return f"@{member}:{SERVER}"


def context(roster: Roster | None = None) -> domain.Context:
    return domain.Context(roster or small_roster(), SERVER, KYIV, "https://rada.example")


def sittings_context(tmp_path: Path, roster: Roster) -> sittings_domain.Context:
    return sittings_domain.Context(roster, BlobStore(tmp_path / "files"), holidays.load(), KYIV,
                                   1024 * 1024)


async def plenary_with_items(store: Store, tmp_path: Path, roster: Roster, items: int = 2) -> int:
    sctx = sittings_context(tmp_path, roster)
    async with store.session() as s:
        sitting, _ = await sittings_domain.create_sitting(s, sctx, sittings_domain.NewSitting(
            kind="plenary", number="7", title="Сьома сесія", place="Зала засідань",
            starts_at=datetime(2026, 12, 24, 10, 0, tzinfo=KYIV)),
            now=datetime(2026, 12, 1, 9, 0, tzinfo=KYIV))
        for n in range(1, items + 1):
            data = draft_pdf(str(n), f"Про питання {n}", "Секретаріат", [f"Текст {n}."])
            file = sittings_domain.prepare_file(sctx, data, f"draft{n}.pdf")
            await sittings_domain.add_draft(s, sctx, sitting.id, sittings_domain.NewDraft(
                number=str(n), title=f"Про питання {n}", initiator="Секретаріат"), file, source="cli")
        return sitting.id


_ids = itertools.count(1)
_ts = itertools.count(1_790_000_000_000, 1000)


def event_id() -> str:
    return f"$ev{next(_ids)}"


class Hall:
    """Plays the homeserver's part: hands responses over and echoes the bot's poll events."""

    def __init__(self, store: Store, ctx: domain.Context, sitting_id: int) -> None:
        self.store, self.ctx, self.sitting_id = store, ctx, sitting_id
        self.polls: dict[str, str] = {}  # outbox key -> the poll's event id

    async def echo_polls(self) -> None:
        """The bot's poll starts (and their event ids) come back, as delivery + transactions do."""
        async with self.store.session() as s:
            rows = (await s.scalars(select(OutboxMessage).where(
                OutboxMessage.event_type == domain.POLL_START).order_by(OutboxMessage.id))).all()
            for row in rows:
                if row.key not in self.polls:
                    self.polls[row.key] = event_id()
                    await domain.poll_started(s, content=row.content, event_id=self.polls[row.key])

    async def answer(self, member: str, answer: str, poll_key: str, *, stable: bool = False,
                     raw: dict[str, Any] | None = None) -> domain.ResponseOutcome:
        await self.echo_polls()
        poll = self.polls[poll_key]
        relates = {"rel_type": "m.reference", "event_id": poll}
        if raw is not None:
            content, kind = {**raw, "m.relates_to": relates}, "org.matrix.msc3381.poll.response"
        elif stable:
            content, kind = {"m.selections": [answer], "m.relates_to": relates}, "m.poll.response"
        else:
            content = {"org.matrix.msc3381.poll.response": {"answers": [answer]},
                       "m.relates_to": relates}
            kind = "org.matrix.msc3381.poll.response"
        async with self.store.session() as s:
            got = await domain.record_response(
                s, self.ctx, room_id="!sitting:test", event_id=event_id(), sender=mxid(member),
                event_type=kind, content=content, origin_ts=next(_ts))
            if got.close_now and got.vote_id:
                await domain.request_close(s, self.ctx, got.vote_id, "all_voted")
        return got

    async def register(self, *members: str) -> None:
        async with self.store.session() as s:
            reg = await s.scalar(select(domain.Registration).where(
                domain.Registration.sitting_id == self.sitting_id)
                .order_by(domain.Registration.id.desc()).limit(1))
            assert reg is not None
        for m in members:
            await self.answer(m, domain.PRESENT, f"registration:{reg.id}:poll")

    async def end(self, vote_id: int) -> domain.Vote | None:
        """The poll end comes back: the barrier."""
        async with self.store.session() as s:
            row = await s.scalar(select(OutboxMessage).where(OutboxMessage.key == f"vote:{vote_id}:end"))
            assert row is not None
            return await domain.poll_ended(s, self.ctx, content=row.content, event_id=event_id())


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
