"""Appeal statuses and limits, the rules' error, and the values passed in: new appeals, files, context."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Any

from council import rooms
from council.language import Refusal
from council.law import deadlines

STATUSES = ("registered", "in_progress", "answered", "closed")
SETTABLE = ("in_progress", "answered", "closed")
OPEN = ("registered", "in_progress")
TOKEN_BYTES = 24  # 192 bits; only its sha256 is stored
KEY_RETENTION = timedelta(hours=24)  # an Idempotency-Key / form token names its appeal this long


class AppealError(Refusal):
    """A request the rules refuse: a stable code, a message in any language (safe to show), the
    field at fault."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    name: str
    mimetype: str
    size: int


@dataclass(frozen=True)
class NewAppeal:
    name: str
    residence: str
    subject: str
    text: str
    email: str | None = None
    phone: str | None = None
    addressee_kind: str = "unknown"
    addressee_deputy: str | None = None
    addressee_district: int | None = None
    candidates: tuple[str, ...] = ()
    type: str = "application"
    lang: str = "uk"
    attachments: tuple[StoredFile, ...] = ()
    idem_key: str | None = None


@dataclass(frozen=True)
class Idempotency:
    """A retry-safe registration: the scoped key's hash, the request's hash, and the status
    token the appeal gets (derived from the key by the caller, so a replay can answer it)."""

    key_hash: str
    request_hash: str
    token: str


class KeyReused(AppealError):
    """The key already registered a different request."""


@dataclass(frozen=True)
class Context:
    """What the rules need from configuration: where the status page lives, terms per type,
    the ghost users' namespace, and the council's time zone (the law counts local dates)."""

    server_name: str
    ghost_prefix: str
    base_url: str
    terms: dict[str, Any] = field(default_factory=lambda: dict(deadlines.DEFAULT_TERMS))
    tz: tzinfo = deadlines.COUNCIL_TZ
    mail_configured: bool = True  # an SMTP server is set: queued mail will be sent

    def ghost(self, appeal_id: int) -> str:
        return f"@{self.ghost_prefix}citizen_{appeal_id}:{self.server_name}"

    def status_url(self, token: str) -> str:
        return f"{self.base_url}/appeals/{token}"


def room_ref(appeal_id: int) -> str:
    """The outbox's address of the appeal's room."""
    return rooms.placeholder(rooms.appeal(appeal_id))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def format_number(year: int, seq: int) -> str:
    return f"Д-{year}/{seq:06d}"
