"""Secrets and the appservice registration, generated once and kept in the data dir."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

SECRET_NAMES = (
    "registration_shared_secret",
    "macaroon_secret_key",
    "form_secret",
    "as_token",
    "hs_token",
    "session_secret",
)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def ensure_secrets(data_dir: Path) -> dict[str, str]:
    """Load <data_dir>/secrets.yaml, adding any secret that is missing (never rotating one)."""
    path = data_dir / "secrets.yaml"
    current: dict[str, str] = {}
    if path.exists():
        current = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    missing = [name for name in SECRET_NAMES if not current.get(name)]
    for name in missing:
        current[name] = secrets.token_urlsafe(32)
    if missing:
        _write_private(path, yaml.safe_dump(current, sort_keys=True))
    return current


@dataclass(frozen=True)
class Registration:
    id: str
    url: str
    as_token: str
    hs_token: str
    sender_localpart: str

    @classmethod
    def load(cls, path: Path) -> Registration:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(
            id=data["id"],
            url=data["url"],
            as_token=data["as_token"],
            hs_token=data["hs_token"],
            sender_localpart=data["sender_localpart"],
        )


def write_registration(
    path: Path,
    *,
    as_id: str,
    url: str,
    bot_localpart: str,
    ghost_prefix: str,
    alias_prefix: str,
    server_name: str,
    tokens: dict[str, str],
) -> Registration:
    """Write the registration Synapse loads: exclusive bot, ghost and alias namespaces."""
    server = re.escape(server_name)
    data = {
        "id": as_id,
        "url": url,
        "as_token": tokens["as_token"],
        "hs_token": tokens["hs_token"],
        "sender_localpart": bot_localpart,
        # The bot's own requests are not rate-limited (joins made by auto_accept_invites are).
        "rate_limited": False,
        "receive_ephemeral": False,
        "namespaces": {
            "users": [
                {"exclusive": True, "regex": f"@{re.escape(bot_localpart)}:{server}"},
                {"exclusive": True, "regex": f"@{re.escape(ghost_prefix)}.*:{server}"},
            ],
            "aliases": [{"exclusive": True, "regex": f"#{re.escape(alias_prefix)}.*:{server}"}],
            "rooms": [],
        },
    }
    _write_private(path, yaml.safe_dump(data, sort_keys=False))
    return Registration(as_id, url, tokens["as_token"], tokens["hs_token"], bot_localpart)
