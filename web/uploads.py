"""The one multipart reader: text fields and files streamed within size caps, for the sittings
API's drafts and the appeals' attachments alike.

Every cap is checked while reading, so a hostile body costs at most its caps in memory; a body
whose declared Content-Length is over `max_body` is refused before any of it is read. A body
that is not well-formed multipart (or a text field not in UTF-8, when `strict_text`) raises
web.errors.BadInput, a 4xx. What to do about a refusal is the caller's: the features answer
with their own stable codes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web

from web.errors import body_errors

CHUNK = 64 * 1024


class UploadRefused(Exception):
    """The body breaks a rule of the reader's; nothing of it is kept."""


class TooLarge(UploadRefused):
    """Over one of the size caps (the subclasses say which)."""


class BodyTooLarge(TooLarge):
    """The declared Content-Length is over the cap."""


class FieldTooLarge(TooLarge):
    """A text field is over its cap."""


class FileTooLarge(TooLarge):
    """A file, or all of them together, or their number, is over the cap."""


class WrongFile(UploadRefused):
    """`inspect` refused a file (by its content)."""


@dataclass
class Upload:
    field: str
    filename: str | None
    content_type: str | None  # as declared by the client: never trusted for the file's type
    data: bytes
    kind: str | None = None  # what `inspect` found, e.g. a MIME type


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)


@dataclass(frozen=True)
class Rules:
    """What a form may hold. A part is a file if it is named in `file_fields`, or (with
    `any_filename`) if it carries a filename; other named parts are text fields, kept if in
    `text_fields` (None: all). `skip_empty` drops a file part with no filename or no bytes
    (a browser's empty file input)."""

    file_fields: Collection[str]
    max_files: int
    file_bytes: int
    total_bytes: int
    field_bytes: int
    max_body: int
    text_fields: Collection[str] | None = None
    any_filename: bool = False
    skip_empty: bool = False
    strict_text: bool = True  # undecodable text: a 400 (else replaced characters)
    inspect: Callable[[bytes], Awaitable[str | None]] | None = None  # None: refused


async def read_form(request: web.Request, rules: Rules) -> Form:
    if (request.content_length or 0) > rules.max_body:
        raise BodyTooLarge()  # declared too large: refused before any of it is read
    # Refusals are raised outside body_errors: they are ValueErrors for nobody, but a
    # domain check in `inspect` may be, and must not turn into a 400.
    with body_errors():
        reader = await request.multipart()
    form, total = Form(), 0
    while True:
        with body_errors():
            part = await reader.next()
        if part is None:
            return form
        if not isinstance(part, BodyPartReader):
            with body_errors():
                await part.release()
            continue
        if part.name in rules.file_fields or (rules.any_filename and part.filename is not None):
            total += await _file(part, rules, form, total)
        elif part.name and (rules.text_fields is None or part.name in rules.text_fields):
            with body_errors():
                raw = await _bounded(part, rules.field_bytes, FieldTooLarge)
                form.fields[part.name] = raw.decode("utf-8", "strict" if rules.strict_text
                                                    else "replace")
        else:
            with body_errors():
                await part.release()


async def _file(part: BodyPartReader, rules: Rules, form: Form, total: int) -> int:
    """Reads one file part into `form`; the bytes it adds to the total."""
    if rules.skip_empty and not part.filename:
        with body_errors():
            await part.release()
        return 0
    if len(form.files) >= rules.max_files:
        raise FileTooLarge(f"at most {rules.max_files} files")
    with body_errors():
        data = await _bounded(part, min(rules.file_bytes, rules.total_bytes - total), FileTooLarge)
    if rules.skip_empty and not data:
        return 0
    kind = None
    if rules.inspect is not None and (kind := await rules.inspect(data)) is None:
        raise WrongFile(part.filename or "")
    form.files.append(Upload(part.name or "", part.filename, part.headers.get("Content-Type"),
                             data, kind))
    return len(data)


async def _bounded(part: BodyPartReader, limit: int, too_large: type[UploadRefused]) -> bytes:
    """The part's raw bytes (form-data has no Content-Encoding to undo, RFC 7578), refused as
    soon as they pass `limit`."""
    raw = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        raw += chunk
        if len(raw) > limit:
            raise too_large()
    return bytes(raw)
