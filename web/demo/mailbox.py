"""The demo's mail folder (`<data_dir>/demo-mail`): what `kabinet up --demo`'s mail catcher
(kabinet/mailcatcher.py) received instead of sending it on, one `.eml` file per message, named
`<UTC time>-<n>.eml`. The folder is 0700 and every file 0600: the messages hold citizens'
addresses and appeals. `kabinet mail list|show` and the page /demo/mail read it through here.

A message is untrusted text: it is only ever decoded (RFC 2047 headers, transfer encodings) and
shown as text. Control characters are dropped (a terminal would obey an escape sequence), and
only text/plain parts are shown; any other part is named, never rendered.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

FOLDER = "demo-mail"  # under the data dir
DIR_MODE, FILE_MODE = 0o700, 0o600
_STAMP = "%Y%m%dT%H%M%SZ"
NAME = re.compile(r"^(\d{8}T\d{6}Z)-([1-9]\d{0,8})\.eml$")  # the only names ever read
# C0 and C1 controls and DEL; a body keeps its line breaks and tabs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    received: datetime  # UTC, from the name: when the catcher took it
    sender: str
    to: str
    subject: str


@dataclass(frozen=True)
class Shown:
    entry: Entry
    texts: list[str]  # the text/plain parts, decoded
    others: list[str]  # every other part, named (type, file name), not shown


def folder_of(data_dir: Path) -> Path:
    return data_dir / FOLDER


def save(folder: Path, content: bytes, now: datetime | None = None) -> Path:
    """Store one message as a new file (never over another): 0600 in a 0700 folder."""
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    folder.chmod(DIR_MODE)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(_STAMP)
    n = 1
    while True:
        path = folder / f"{stamp}-{n}.eml"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            n += 1
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        return path


def _order(name: str) -> tuple[str, int]:
    match = NAME.match(name)
    assert match is not None
    return match.group(1), int(match.group(2))


def clean(text: str) -> str:
    """A header for one line of a terminal or a page: no control character survives."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _header(msg: EmailMessage, name: str) -> str:
    try:
        return clean(str(msg.get(name, "")))
    except (ValueError, LookupError):  # a header that does not decode is shown as nothing
        return ""


def _entry(path: Path, msg: EmailMessage) -> Entry:
    stamp, _ = _order(path.name)
    received = datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
    return Entry(path.name, path, received, _header(msg, "From"), _header(msg, "To"),
                 _header(msg, "Subject"))


def entries(folder: Path) -> list[Entry]:
    """Every message in the folder, newest first (none when nothing was caught yet)."""
    if not folder.is_dir():
        return []
    names = sorted((p.name for p in folder.iterdir() if NAME.match(p.name)), key=_order,
                   reverse=True)
    found = []
    for name in names:
        with (folder / name).open("rb") as fh:
            msg = BytesHeaderParser(policy=policy.default).parse(fh)
        found.append(_entry(folder / name, msg))
    return found


def find(folder: Path, name: str) -> Path | None:
    """The file of a message named as `entries` names it; None for any other name."""
    if not NAME.match(name):
        return None
    path = folder / name
    return path if path.is_file() else None


def _text(part: EmailMessage) -> str:
    try:
        text = part.get_content()
    except (LookupError, ValueError):  # an unknown or lying charset: shown with replacements
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return _BODY_CONTROL.sub("", str(text).replace("\r\n", "\n"))


def show(path: Path) -> Shown:
    """One message, decoded: its headers and its text/plain parts."""
    with path.open("rb") as fh:
        msg = BytesParser(policy=policy.default).parse(fh)
    texts, others = [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and not part.is_attachment():
            texts.append(_text(part))
        else:
            filename = part.get_filename()
            others.append(clean(f"{kind}: {filename}" if filename else kind))
    return Shown(_entry(path, msg), texts, others)
