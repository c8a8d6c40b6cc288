"""The appeals API's bodies as pydantic models: `AppealInput` validates every submission (form,
JSON or multipart, through web.appeals.input.check_appeal) and, with the answers' models,
generates the OpenAPI document, so the schema and the validator cannot drift.

Text is taken as the form sends it: stripped, NUL removed (PostgreSQL refuses it), the name
cleaned of hidden characters; a value that is not text counts as absent. The rules that need the
roster (the addressee) are check_appeal's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    WithJsonSchema,
    field_validator,
)

from council.names import clean_name
from council.outbox.mail import BadAddress, normalize_address

PHONE_PATTERN = r"^\+?[0-9][0-9 ()\-]{5,22}[0-9]$"


def _text(value: Any) -> str:
    return value.replace("\x00", "").strip() if isinstance(value, str) else ""


def _optional(value: Any) -> str | None:
    return _text(value) or None


def _optional_as_typed(value: Any) -> str | None:
    """An address is checked as typed: a NUL inside it is refused, never silently dropped."""
    return (value.strip() or None) if isinstance(value, str) else None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in
                             ("1", "true", "on", "yes"))


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # "not given" is no value of the documented type


Text = Annotated[str, BeforeValidator(_text)]
# Absent, empty and null are all "not given": the schema states what a given one must be.
Email = WithJsonSchema({"type": "string", "format": "email"})
Phone = WithJsonSchema({"type": "string", "pattern": PHONE_PATTERN})


class AppealInput(BaseModel):
    """Neither addressee field: the secretariat routes the appeal. One of email / phone is
    required."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={
        "anyOf": [{"required": ["email"]}, {"required": ["phone"]}]})

    name: Annotated[str, BeforeValidator(clean_name)] = Field(
        min_length=3, max_length=200,
        description="Full name (art. 5; anonymous appeals are refused, art. 8)")
    residence: Text = Field(min_length=3, max_length=500)
    email: Annotated[str | None, BeforeValidator(_optional_as_typed), Email] = Field(
        None, json_schema_extra=_no_default)
    phone: Annotated[str | None, Field(pattern=PHONE_PATTERN), BeforeValidator(_optional_as_typed),
                     Phone] = Field(None, json_schema_extra=_no_default)
    addressee_deputy: Annotated[str | None, SkipValidation] = Field(
        None, description="A deputy's roster id")
    addressee_district: Annotated[int | None, SkipValidation] = Field(
        None, description="Electoral district; its deputies see it")
    type: Annotated[Literal["proposal", "application", "complaint"],
                    BeforeValidator(lambda v: _text(v) or "application")] = "application"
    subject: Text = Field(min_length=3, max_length=300)
    text: Text = Field(min_length=5, max_length=20000)
    consent: Annotated[Literal[True], BeforeValidator(_truthy)] = Field(
        description="Consent to personal-data processing (required: without it the appeal is "
                    "refused)")
    attachments: Annotated[list[bytes], SkipValidation] = Field(
        default_factory=list, max_length=5, description="multipart only")

    @field_validator("email")
    @classmethod
    def _deliverable(cls, value: str | None) -> str | None:
        """email-validator, as the mail sender checks it; stored normalized."""
        if value is None:
            return None
        try:
            return normalize_address(value)
        except BadAddress as exc:
            raise ValueError("not a valid e-mail address") from exc


class AppealMessage(BaseModel):
    """A follow-up: text, files, or both (the one check of web/appeals/common.py)."""

    text: Annotated[str | None, BeforeValidator(_optional)] = Field(None, max_length=20000)
    attachments: Annotated[list[bytes], SkipValidation] = Field(
        default_factory=list, max_length=5, description="multipart only")


class AppealCreated(BaseModel):
    number: str = Field(examples=["Д-2026/000123"])
    token: str
    status_url: str
    deadline: str = Field(json_schema_extra={"format": "date"})


Time = Annotated[str | None, Field(json_schema_extra={"format": "date-time"})]


class HistoryEntry(BaseModel):
    kind: str
    status: str
    at: Time
    note: str | None


class AnswerFile(BaseModel):
    name: str
    mimetype: str
    size: int
    url: str


class Answer(BaseModel):
    text: str
    answered_at: Time
    attachments: list[AnswerFile]


class AppealStatus(BaseModel):
    number: str
    status: Literal["registered", "in_progress", "answered", "closed"]
    registered_at: Time
    deadline: str = Field(json_schema_extra={"format": "date"})
    history: list[HistoryEntry]
    answer: Answer | None
