"""Accounts: who is signed in to the web site (sessions, one-time links), as whom (roles from the
roster), when they last looked at their cabinet, and the audit log of who did what."""

from council.accounts import audit
from council.accounts.roles import MEMBERS, ROLES, STAFF, Identity, Role, identify, private_room
from council.accounts.sessions import (
    LINK_LIFETIME,
    SESSION_LIFETIME,
    end_all,
    end_session,
    find_session,
    last_visit,
    mark_visit,
    new_link,
    open_sessions,
    start_session,
    token_hash,
    use_link,
)
from council.accounts.tables import AuditEntry, CabinetVisit, SignInLink, WebSession

__all__ = [
    "LINK_LIFETIME", "MEMBERS", "ROLES", "SESSION_LIFETIME", "STAFF", "AuditEntry", "CabinetVisit",
    "Identity", "Role", "SignInLink", "WebSession", "audit", "end_all", "end_session",
    "find_session", "identify", "last_visit", "mark_visit", "new_link", "open_sessions",
    "private_room", "start_session", "token_hash", "use_link",
]
