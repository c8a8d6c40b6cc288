"""Reading and checking an appeal as submitted (form, JSON or multipart), before anything is stored.

Files are read into memory within the configured limits and checked by their content (magic
bytes; DOCX must be a ZIP holding word/document.xml), not by the name or the declared type.
Every problem is reported per field; messages are English msgids, translated by the form.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from council.files.kinds import INSPECT_SECONDS, UnsupportedFile, open_archive
from council.law.deadlines import APPEAL_TYPES
from council.mailqueue import BadAddress, normalize_address
from council.names import clean_name
from council.roster import Roster
from web.errors import body_errors


def N_(msgid: str) -> str:
    """Marks a msgid for Babel's extraction; it is translated where it is shown."""
    return msgid


PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{5,22}[0-9]$")
TEXT_FIELD_MAX = 64 * 1024
ANONYMOUS = N_("Anonymous appeals are not considered (art. 8 of the Law of Ukraine \"On citizens' "
             "appeals\"): give your full name and place of residence.")
TEXT_FIELDS = ("name", "residence", "email", "phone", "addressee_deputy", "addressee_district",
               "addressee", "subject", "text", "consent", "type", "csrf", "website", "lang",
               "form_token")


class TooLarge(Exception):  # an HTTP outcome: 413
    pass


class WrongType(Exception):  # an HTTP outcome: 415
    pass


@dataclass
class Limits:
    max_attachments: int = 5
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_total_bytes: int = 25 * 1024 * 1024


@dataclass
class Upload:
    name: str
    mimetype: str
    data: bytes


@dataclass
class Submission:
    fields: dict[str, Any] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)


def sniff(data: bytes) -> str | None:
    """The file's real type from its content, or None if it is not one we accept."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"PK\x03\x04"):
        try:  # the one safe ZIP inspection: a zip bomb is refused before it inflates
            with open_archive(data) as z:
                if "word/document.xml" in z.namelist():
                    return ("application/vnd.openxmlformats-officedocument."
                            "wordprocessingml.document")
        except UnsupportedFile:
            return None
    return None


async def sniff_off_loop(data: bytes) -> str | None:
    """`sniff` in a worker thread with a time cap: a hostile archive never holds the event loop."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(sniff, data), INSPECT_SECONDS)
    except TimeoutError:
        return None


def safe_name(name: str | None, mimetype: str) -> str:
    ext = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}.get(mimetype, ".docx")
    base = re.sub(r"[^\w.\- ()]+", "_", (name or "").strip())[:120].strip(" .")
    return base if base else f"attachment{ext}"


def form_limit(limits: Limits) -> int:
    """The largest multipart body worth reading: every file and text field at its limit."""
    return limits.max_total_bytes + (len(TEXT_FIELDS) + limits.max_attachments + 1) * TEXT_FIELD_MAX


async def read_multipart(request: web.Request, limits: Limits) -> Submission:
    """Stream the parts; raise TooLarge / WrongType as soon as a file breaks the rules, and
    web.errors.BadInput (a 4xx) for a body that is not well-formed multipart."""
    if (request.content_length or 0) > form_limit(limits):
        raise TooLarge("body")  # declared too large: refused before any of it is read
    with body_errors():
        return await _read_parts(request, limits)


async def _read_field(part: BodyPartReader) -> bytes:
    """A text field's bytes, refused as soon as it passes TEXT_FIELD_MAX."""
    raw = bytearray()
    while chunk := await part.read_chunk(16 * 1024):
        raw += chunk
        if len(raw) > TEXT_FIELD_MAX:
            raise TooLarge("field")
    return bytes(raw)


async def _read_parts(request: web.Request, limits: Limits) -> Submission:
    sub = Submission()
    total = 0
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.filename is not None or part.name in ("attachments", "attachment", "files"):
            if part.filename is None or part.filename == "":
                await part.release()
                continue
            if len(sub.files) >= limits.max_attachments:
                raise TooLarge(f"at most {limits.max_attachments} attachments")
            data = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                data += chunk
                if len(data) > limits.max_attachment_bytes:
                    raise TooLarge("file")
                if total + len(data) > limits.max_total_bytes:
                    raise TooLarge("total")
            if not data:
                continue
            total += len(data)
            mimetype = await sniff_off_loop(bytes(data))
            if mimetype is None:
                raise WrongType(part.filename)
            sub.files.append(Upload(safe_name(part.filename, mimetype), mimetype, bytes(data)))
        elif part.name in TEXT_FIELDS:
            raw = await _read_field(part)
            sub.fields[part.name] = raw.decode("utf-8", errors="replace")
        else:
            await part.release()
    return sub


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    return value.strip() if isinstance(value, str) else ""


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in
                             ("1", "true", "on", "yes"))


@dataclass
class Checked:
    values: dict[str, Any]
    errors: dict[str, str]
    anonymous: bool


def check_appeal(fields: dict[str, Any], roster: Roster) -> Checked:
    """art. 5 / art. 8 of the appeals law, field by field."""
    errors: dict[str, str] = {}
    v: dict[str, Any] = {k: _text(fields, k) for k in ("name", "residence", "email", "phone",
                                                         "subject", "text")}
    v["name"] = clean_name(fields.get("name"))  # shown on Matrix: nothing hidden in it
    for key in ("residence", "subject", "text"):  # no text holds NUL, and PostgreSQL refuses it
        v[key] = v[key].replace("\x00", "").strip()
    anonymous = False
    for key, high, length in (("name", 200, N_("Must be 3 to 200 characters.")),
                              ("residence", 500, N_("Must be 3 to 500 characters."))):
        if not v[key]:
            errors[key] = ANONYMOUS
            anonymous = True
        elif not 3 <= len(v[key]) <= high:
            errors[key] = length
    if v["email"]:
        try:  # email-validator, as the mail sender checks it; stored normalized
            v["email"] = normalize_address(v["email"])
        except BadAddress:
            errors["email"] = N_("Not a valid e-mail address.")
    if v["phone"] and not PHONE_RE.match(v["phone"]):
        errors["phone"] = N_("Not a valid phone number.")
    if not v["email"] and not v["phone"] and "email" not in errors:
        errors["email"] = N_("Give an e-mail or a phone number to receive the answer.")
    if not 3 <= len(v["subject"]) <= 300:
        errors["subject"] = N_("Required, 3 to 300 characters.")
    if not 5 <= len(v["text"]) <= 20000:
        errors["text"] = N_("Required, 5 to 20000 characters.")
    if not _truthy(fields.get("consent")):
        errors["consent"] = N_("Consent to the processing of personal data is required.")
    appeal_type = _text(fields, "type") or "application"
    if appeal_type not in APPEAL_TYPES:
        errors["type"] = N_("Unknown appeal type.")
    v["type"] = appeal_type
    _addressee(fields, roster, v, errors)
    v["email"] = v["email"] or None
    v["phone"] = v["phone"] or None
    return Checked(v, errors, anonymous)


def _addressee(fields: dict[str, Any], roster: Roster, v: dict[str, Any],
               errors: dict[str, str]) -> None:
    """`addressee` (the form: deputy:<id> | district:<n> | unknown) or the API's
    `addressee_deputy` / `addressee_district`; neither means "I don't know"."""
    deputy = _text(fields, "addressee_deputy")
    district_raw = fields.get("addressee_district")
    district = str(district_raw).strip() if district_raw not in (None, "") else ""
    combined = _text(fields, "addressee")
    if combined.startswith("deputy:"):
        deputy = combined.removeprefix("deputy:")
    elif combined.startswith("district:"):
        district = combined.removeprefix("district:")
    v.update(addressee_kind="unknown", addressee_deputy=None, addressee_district=None,
             candidates=())
    if deputy and district:
        errors["addressee_deputy"] = N_("Choose a deputy or a district, not both.")
        return
    if deputy:
        if deputy not in {d.id for d in roster.deputies}:
            errors["addressee_deputy"] = N_("No such deputy.")
            return
        v.update(addressee_kind="deputy", addressee_deputy=deputy)
    elif district:
        if not (district.isascii() and district.isdigit()):
            errors["addressee_district"] = N_("Not a district number.")
            return
        members = tuple(d.id for d in roster.deputies if d.district == int(district))
        if not members:
            errors["addressee_district"] = N_("No deputies are elected in this district.")
            return
        v.update(addressee_kind="district", addressee_district=int(district), candidates=members)
