"""The sittings API's bodies as pydantic models: the handlers build their answers through them
and the OpenAPI document is generated from them (web.openapi.schemas), so the two cannot drift.
The request bodies are the domain's own models (council.sittings.NewSitting, NewDraft)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

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


class DraftForm(NewDraft):
    """multipart/form-data: the draft's fields (validated as NewDraft) and its file."""

    file: bytes = Field(description="PDF, DOCX or ODT (judged by its content)")
