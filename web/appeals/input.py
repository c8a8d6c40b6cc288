"""Reading and checking an appeal as submitted (form, JSON or multipart), before anything is stored.

Files are read into memory within the configured limits and checked by their content (magic
bytes; DOCX must be a ZIP holding word/document.xml), not by the name or the declared type.
Every problem is reported per field; messages are English msgids, translated by the form.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from council.files import kinds
from council.roster import Roster
from web.appeals.models import AppealInput
from web.uploads import Rules, WrongFile, read_form
from web.uploads import TooLarge as TooLarge  # re-exported: the pages and API catch it


def N_(msgid: str) -> str:
    """Marks a msgid for Babel's extraction; it is translated where it is shown."""
    return msgid


TEXT_FIELD_MAX = 64 * 1024
ANONYMOUS = N_("Anonymous appeals are not considered (art. 8 of the Law of Ukraine \"On citizens' "
             "appeals\"): give your full name and place of residence.")
TEXT_FIELDS = ("name", "residence", "email", "phone", "addressee_deputy", "addressee_district",
               "addressee", "subject", "text", "consent", "type", "csrf", "website", "lang",
               "form_token")


# What the multipart reader refuses (web.uploads): an HTTP 413 or 415 to the caller.
WrongType = WrongFile


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


INSPECT_SECONDS = kinds.INSPECT_SECONDS  # the time cap, a name of its own for tests


def sniff(data: bytes) -> str | None:
    """The attachment's MIME type by content (council.files.kinds, the one sniffer), or None
    if it is not one we accept."""
    try:
        return kinds.sniff(data, kinds.ATTACHMENTS).mimetype
    except kinds.UnsupportedFile:
        return None


async def sniff_off_loop(data: bytes) -> str | None:
    """`sniff` in a worker thread with a time cap: a hostile archive never holds the event loop."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(sniff, data), INSPECT_SECONDS)
    except TimeoutError:
        return None


def safe_name(name: str | None, mimetype: str) -> str:
    """An attachment's name under the one policy (council.files.kinds.safe_filename)."""
    kind = next((k for k in kinds.ATTACHMENTS if k.mimetype == mimetype), kinds.DOCX)
    return kinds.safe_filename(name, kind, "attachment")


def form_limit(limits: Limits) -> int:
    """The largest multipart body worth reading: every file and text field at its limit."""
    return limits.max_total_bytes + (len(TEXT_FIELDS) + limits.max_attachments + 1) * TEXT_FIELD_MAX


async def read_multipart(request: web.Request, limits: Limits) -> Submission:
    """The form's text fields and attachments, through web.uploads: TooLarge or WrongType as
    soon as a file breaks the rules, web.errors.BadInput (a 4xx) for a malformed body."""
    form = await read_form(request, Rules(
        file_fields=("attachments", "attachment", "files"), any_filename=True, skip_empty=True,
        max_files=limits.max_attachments, file_bytes=limits.max_attachment_bytes,
        total_bytes=limits.max_total_bytes, field_bytes=TEXT_FIELD_MAX, max_body=form_limit(limits),
        text_fields=TEXT_FIELDS, strict_text=False, inspect=sniff_off_loop))
    return Submission(fields=dict(form.fields), files=[
        Upload(safe_name(f.filename, f.kind or ""), f.kind or "", f.data) for f in form.files])


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    return value.strip() if isinstance(value, str) else ""


# What a person is told about a field AppealInput refuses (msgids, translated by the form).
FIELD_MESSAGES = {
    "name": N_("Must be 3 to 200 characters."),
    "residence": N_("Must be 3 to 500 characters."),
    "email": N_("Not a valid e-mail address."),
    "phone": N_("Not a valid phone number."),
    "subject": N_("Required, 3 to 300 characters."),
    "text": N_("Required, 5 to 20000 characters."),
    "consent": N_("Consent to the processing of personal data is required."),
    "type": N_("Unknown appeal type."),
}
NO_CONTACT = N_("Give an e-mail or a phone number to receive the answer.")


@dataclass
class Checked:
    values: dict[str, Any]
    errors: dict[str, str]
    anonymous: bool


def check_appeal(fields: dict[str, Any], roster: Roster) -> Checked:
    """art. 5 / art. 8 of the appeals law, field by field: AppealInput, then the addressee."""
    errors: dict[str, str] = {}
    v: dict[str, Any] = {}
    try:
        v = AppealInput.model_validate(fields).model_dump(
            exclude={"consent", "attachments", "addressee_deputy", "addressee_district"})
    except ValidationError as exc:
        for e in exc.errors():
            name = str(e["loc"][0]) if e["loc"] else "email"
            anonymous = name in ("name", "residence") and (e["type"] == "missing"
                                                            or e.get("input") == "")
            errors.setdefault(name, ANONYMOUS if anonymous else FIELD_MESSAGES.get(name, name))
    anonymous = ANONYMOUS in errors.values()
    if not _text(fields, "email") and not _text(fields, "phone") and "email" not in errors:
        errors["email"] = NO_CONTACT
    _addressee(fields, roster, v, errors)
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
