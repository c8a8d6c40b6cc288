"""The votes API's bodies as pydantic models: the handlers build their answers through them and
the OpenAPI document is generated from them (web.openapi.schemas), so the two cannot drift.
The request bodies are the domain's own models (council.votes.OpenVote, NewAbsence,
NewConflict)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

Time = Annotated[str, Field(json_schema_extra={"format": "date-time"},
                            description="With its UTC offset")]
ResultCode = Literal["for", "against", "abstain", "not_voting", "absent", "conflict"]


class RollCallLine(BaseModel):
    member_id: str
    name: str = Field(description="As at the close of the vote")
    faction: str | None
    result: ResultCode
    result_uk: str = Field(description="E.g. «За», «Не голосував»")
    result_en: str


class ConflictLine(BaseModel):
    member_id: str
    name: str
    text: str = Field(description="The declaration of the conflict of interest")


class VoteResult(BaseModel):
    id: int
    number: int = Field(description="1, 2, … within the sitting")
    item_number: str
    item_title: str
    majority: Literal["total", "procedural", "two_thirds"]
    majority_uk: str
    majority_en: str
    threshold: int = Field(description="«За» needed to adopt")
    total: int = Field(description="The body's total composition at the opening")
    status: Literal["open", "closing", "closed"]
    opened_at: Time
    closes_at: Time | None
    closed_at: Time | None
    outcome: Literal["adopted", "rejected"] | None = Field(description="None until closed")
    outcome_uk: str | None
    outcome_en: str | None
    totals: dict[str, int] = Field(description="Result code -> members; empty until closed")
    digest: str | None = Field(description="SHA-256 of the roll-call (docs/votes.md)")
    roll_call: list[RollCallLine]
    conflicts: list[ConflictLine]


class Member(BaseModel):
    member_id: str
    name: str


class AbsenceLine(Member):
    reason: str


class Attendance(BaseModel):
    opened: bool = Field(description="A registration was opened at this sitting")
    total: int
    quorum: int
    has_quorum: bool
    registered: list[Member]
    absences: list[AbsenceLine]


class SittingVotes(BaseModel):
    sitting: int
    url: str = Field(description="The sitting's page on this site")
    attendance: Attendance
    votes: list[VoteResult]


class RegistrationOpened(BaseModel):
    id: int
    sitting: int
    round: int = Field(description="1 for the first registration, 2 for a repeated one, …")
    total: int
    quorum: int


class VoteOpened(BaseModel):
    id: int
    sitting: int
    number: int
    item_number: str
    majority: str
    threshold: int
    total: int
    status: str
    closes_at: Time | None


class VoteClosing(BaseModel):
    id: int
    sitting: int
    number: int
    status: str = Field(description="`closing`: the count is final once the poll's end is back")


class AbsenceNoted(BaseModel):
    sitting: int
    member: str
    reason: str


class ConflictDeclared(BaseModel):
    sitting: int
    item: str
    member: str
    text: str
