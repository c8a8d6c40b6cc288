"""The notes API's bodies: requests are the domain's own models (council.notes.NewNote,
NoteEdit); answers are built through these, and the OpenAPI document is generated from both."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

Time = Annotated[str, Field(json_schema_extra={"format": "date-time"},
                            description="With its UTC offset")]


class NoteOut(BaseModel):
    id: int
    subject: str | None = Field(description="`draft:<agenda item id>`, `appeal:<appeal id>` or none")
    subject_label: str | None = Field(description="E.g. «Засідання 3, № 2: …», «Звернення Д-2026/000012»")
    body: str
    created_at: Time
    edited_at: Time | None
    origin: Literal["matrix", "web"] = Field(description="Written in Element, or on the web")


class NoteList(BaseModel):
    notes: list[NoteOut] = Field(description="The signed-in person's own notes, oldest first")
