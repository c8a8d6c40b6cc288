"""The votes tables: registration ballots, attendance, absences, conflicts, votes, every response
as it arrived, and each closed vote's roll-call (a snapshot: names as they were at the close)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from council.models import Base, BigId, UTCDateTime, utcnow


class Registration(Base):
    """One registration ballot ("Присутній") posted in a sitting room; re-opening posts another."""

    __tablename__ = "vote_registrations"
    __table_args__ = (UniqueConstraint("sitting_id", "round", name="uq_vote_registrations_round"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_by: Mapped[str] = mapped_column(String(255))
    poll_event_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Who could register (roster ids, names, factions) and the quorum, as they were at the opening.
    entitled: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    quorum: Mapped[int] = mapped_column(Integer)
    shown: Mapped[int] = mapped_column(Integer, default=-1)  # the count the live message shows


class Attendance(Base):
    """A member registered at a sitting, from their first "Присутній" answer."""

    __tablename__ = "vote_attendance"
    __table_args__ = (UniqueConstraint("sitting_id", "member_id", name="uq_vote_attendance_member"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id"), index=True)
    member_id: Mapped[str] = mapped_column(String(64))
    registration_id: Mapped[int] = mapped_column(ForeignKey("vote_registrations.id"))
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the homeserver's timestamp


class Absence(Base):
    """An absence notified in advance, with its reason (the latest notice counts)."""

    __tablename__ = "vote_absences"
    __table_args__ = (UniqueConstraint("sitting_id", "member_id", name="uq_vote_absences_member"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id"), index=True)
    member_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500))
    declared_by: Mapped[str] = mapped_column(String(255))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conflict(Base):
    """A declared conflict of interest on an agenda item (art. 59-1): the answer does not count."""

    __tablename__ = "vote_conflicts"
    __table_args__ = (UniqueConstraint("item_id", "member_id", name="uq_vote_conflicts_member"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("agenda_items.id"), index=True)
    member_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    declared_by: Mapped[str] = mapped_column(String(255))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Vote(Base):
    """A roll-call vote on an agenda item: open → closing (poll end sent) → closed (counted)."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("sitting_id", "number", name="uq_votes_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("agenda_items.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, … within the sitting
    # Indexed: /metrics counts the open and closing votes on every scrape.
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | closing | closed
    majority: Mapped[str] = mapped_column(String(16))
    threshold: Mapped[int] = mapped_column(Integer)  # "За" needed, frozen at the opening
    total: Mapped[int] = mapped_column(Integer)  # the body's total composition at the opening
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_by: Mapped[str] = mapped_column(String(255))
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_reason: Mapped[str | None] = mapped_column(String(16))  # command | timer | all_voted
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    poll_event_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    end_event_id: Mapped[str | None] = mapped_column(String(255))
    # Snapshots: who was entitled (id, name, faction) and who registered, at opening and close.
    entitled: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    registered_at_open: Mapped[list[str]] = mapped_column(JSON)
    registered_at_close: Mapped[list[str] | None] = mapped_column(JSON)
    outcome: Mapped[str | None] = mapped_column(String(16))  # adopted | rejected
    totals: Mapped[dict[str, int] | None] = mapped_column(JSON)
    digest: Mapped[str | None] = mapped_column(String(64))


class VoteResponse(Base):
    """Every poll response to a vote, stored as it arrived (database first), counted or not."""

    __tablename__ = "vote_responses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    sender: Mapped[str] = mapped_column(String(255))
    member_id: Mapped[str | None] = mapped_column(String(64))
    answer: Mapped[str | None] = mapped_column(String(16))
    origin_ts: Mapped[int] = mapped_column(BigInteger)  # the homeserver's ms timestamp
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # valid | outsider | late | malformed | unknown_answer
    status: Mapped[str] = mapped_column(String(16))


class RollCall(Base):
    """One line of a closed vote's roll-call, as published."""

    __tablename__ = "vote_roll_call"
    __table_args__ = (UniqueConstraint("vote_id", "member_id", name="uq_vote_roll_call_member"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id"), index=True)
    member_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    faction: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str | None] = mapped_column(String(255))  # the response counted
