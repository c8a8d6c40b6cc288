"""The sittings API's bodies as pydantic models: the handlers build their answers through them
and the OpenAPI document is generated from them (web.openapi.schemas), so the two cannot drift.
The request bodies are the domain's own models (council.sittings.NewSitting, NewDraft)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, RootModel

from council.sittings.inputs import NewDraft

# Times are sent as the store's isoformat (offset "+00:00", not pydantic's "Z"): kept as text.
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"},
                            description="With its UTC offset")]


class LawWarning(BaseModel):
    rule: str
    message: str


class Sitting(BaseModel):
    id: int
    kind: str
    body: str
    number: str | None
    title: str
    starts_at: Annotated[str, Field(json_schema_extra={"format": "date-time"},
                                    description="Local time of the council, with its offset")]
    place: str
    announced_at: Time
    url: str = Field(description="The sitting's page on this site")


class SittingList(BaseModel):
    sittings: list[Sitting]


class DraftVersion(BaseModel):
    version: int
    filename: str
    mimetype: str
    size: int
    pages: int | None
    sha256: str
    published_at: Time
    download: str


class AgendaItem(BaseModel):
    id: int
    number: str
    title: str
    initiator: str | None
    commission: str | None
    status: str
    position: int
    warnings: list[LawWarning]
    versions: list[DraftVersion]


class Paper(BaseModel):
    pages: int
    recipients: int
    copies: int
    sheets: int


class SittingView(Sitting):
    warnings: list[LawWarning]
    items: list[AgendaItem]
    paper: Paper


class DraftPublished(BaseModel):
    id: int
    number: str
    title: str
    version: int
    sitting: int
    download: str
    warnings: list[LawWarning] = Field(default_factory=list, description="What the law says "
                                       "about publishing it now (art. 15 p.3: 10 working days)")


class DraftRevised(DraftPublished):
    """A new version of an item's draft (the same fields as a published one)."""


class ItemWithdrawn(BaseModel):
    id: int
    number: str
    status: str = Field(description="`withdrawn`; the item and its versions are kept")
    sitting: int


class AgendaOrderSet(BaseModel):
    sitting: int
    order: list[str] = Field(description="The items' numbers, first to last")


class DraftForm(NewDraft):
    """multipart/form-data: the draft's fields (validated as NewDraft) and its file."""

    file: bytes = Field(description="PDF, DOCX or ODT (judged by its content)")


class RevisionForm(BaseModel):
    """multipart/form-data: the new version's file."""

    file: bytes = Field(description="PDF, DOCX or ODT (judged by its content)")


class Withdrawal(BaseModel):
    """Why the item leaves the agenda (kept in the audit log)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=2, max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$",
                        description="One line of text")


class AgendaOrder(RootModel[list[str]]):
    """Every item's number exactly once, in the new order (withdrawn items included)."""

    root: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(min_length=1,
                                                                          max_length=1000)
