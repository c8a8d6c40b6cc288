"""The accounts tables: web sessions and one-time sign-in links (both kept only as hashes of
their tokens), each person's last visit to the cabinet, and the log of who did what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from council.models import Base, BigId, UTCDateTime, utcnow


class WebSession(Base):
    """A signed-in browser. The cookie holds the token; the store holds its SHA-256 only, so a
    copy of the database signs nobody in."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    mxid: Mapped[str] = mapped_column(String(255), index=True)
    via: Mapped[str] = mapped_column(String(16))  # password, link, widget
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class SignInLink(Base):
    """A one-time sign-in link posted by the bot into the person's private room."""

    __tablename__ = "signin_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    mxid: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class CabinetVisit(Base):
    """When a person last opened their cabinet: what changed since is marked new."""

    __tablename__ = "cabinet_visits"

    mxid: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Who did what and when, from the desk, the staff API or a sign-in."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255))  # a Matrix id, or "staff-api" for the token
    action: Mapped[str] = mapped_column(String(64))  # e.g. sitting.create, appeal.extend
    subject: Mapped[str] = mapped_column(String(255), default="")  # e.g. sitting:3, appeal:12
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
