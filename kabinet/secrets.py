"""Secrets and the appservice registration, generated once and kept in the data dir; the data
dir itself kept private (0700, files 0600): it holds secrets and citizens' personal data."""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
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
    "control_token",  # `kabinet roster apply` -> the running Kabinet's loopback control endpoint
    "demo_staff_token",  # the staff API's token under `kabinet up --demo` when none is configured
    "worker_replication_secret",  # Synapse's workers <-> main over HTTP (docs/synapse-workers.md)
)

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically (a reader never sees half of it)."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # a stale .tmp left by a crash keeps its old mode otherwise
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def private_data_dir(data_dir: Path) -> int:
    """Keep the data dir private: from now on this process (and Synapse, its child) creates
    files 0600 and dirs 0700 (umask 077), and what already exists is repaired, e.g. a data dir
    made by an older Kabinet. Returns how many modes were fixed."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fixed = _fix_mode(data_dir, DIR_MODE)
    for root, dirs, files in os.walk(data_dir):
        for name in dirs:
            fixed += _fix_mode(Path(root, name), DIR_MODE)
        for name in files:
            fixed += _fix_mode(Path(root, name), FILE_MODE)
    if fixed:
        log.warning("made %d files and folders in %s private to their owner", fixed, data_dir)
    return fixed


def _fix_mode(path: Path, mode: int) -> int:
    try:
        st = path.lstat()
        # Symlinks are left alone (chmod would follow them out of the data dir).
        if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode:
            return 0
        os.chmod(path, mode)
        return 1
    except OSError as exc:  # e.g. a file of another user: say so, do not stop the start
        log.warning("could not make %s private: %s", path, exc.strerror)
        return 0


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
        write_private(path, yaml.safe_dump(current, sort_keys=True))
    return current


def read_secrets(data_dir: Path) -> dict[str, str]:
    """<data_dir>/secrets.yaml as it is, writing nothing (for a command that talks to the
    Kabinet running on that data dir). Empty when it does not exist."""
    path = data_dir / "secrets.yaml"
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


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
    write_private(path, yaml.safe_dump(data, sort_keys=False))
    return Registration(as_id, url, tokens["as_token"], tokens["hs_token"], bot_localpart)
