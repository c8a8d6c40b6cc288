"""Several drafts from one desk form: the files (dropped or chosen, `<input type=file multiple>`),
their titles (one line per file; the file's name when left out), and the initiator and
responsible commission they share. Numbers follow the agenda's last one in the sitting's scheme
(1, 2 …; К-1, К-2 … at a commission). Every file gets the checks the CLI and the API give it
(council.sittings.prepare_file), all before anything is stored, and then all of them are
published in one unit of work, or none."""

from __future__ import annotations

from pathlib import PurePath

from aiohttp import web
from pydantic import ValidationError

from council import sittings as domain
from web.desk.common import Refused, refusal, text
from web.errors import N_, BadInput
from web.uploads import BodyTooLarge, FieldTooLarge, FileTooLarge, Form, Rules, Upload, read_form

MAX_FILES = 20  # drafts in one form
TOTAL_FILES = 4  # the files of one form together: at most this many times the per-file cap
FIELD_BYTES = 16 * 1024
OVERHEAD = 256 * 1024  # part headers and text fields beside the files
TEXT_FIELDS = ("csrf", "initiator", "commission", "titles")


async def read(request: web.Request, ctx: domain.Context, *, max_files: int = MAX_FILES) -> Form:
    """The multipart form, within its caps (a refusal names the limit; nothing is kept)."""
    if not request.content_type.startswith("multipart/"):
        raise BadInput(415, "KB_MULTIPART_REQUIRED", "multipart/form-data required")
    total = ctx.max_bytes * min(TOTAL_FILES, max_files)
    rules = Rules(file_fields=("file",), max_files=max_files, file_bytes=ctx.max_bytes,
                  total_bytes=total, field_bytes=FIELD_BYTES, max_body=total + OVERHEAD,
                  text_fields=TEXT_FIELDS, skip_empty=True)
    try:
        return await read_form(request, rules)
    except (BodyTooLarge, FileTooLarge):
        mib = ctx.max_bytes // (1024 * 1024)
        if max_files == 1:
            raise Refused(413, N_("The file is too large: up to {mib} MiB"), mib=mib) from None
        raise Refused(413, N_("Files too large or too many: up to {mib} MiB each, {max_files} "
                              "files"), mib=mib, max_files=max_files) from None
    except FieldTooLarge:
        raise Refused(413, N_("A text field is too long")) from None


def _title(upload: Upload) -> str:
    """A file's name without its extension, as the title when none was typed."""
    return text({"t": PurePath(upload.filename or "").stem.replace("_", " ")}, "t")


async def prepare(request: web.Request, ctx: domain.Context, upload: Upload
                  ) -> domain.PreparedFile:
    """One file checked as every draft is (type by content, pages, archive caps)."""
    name = upload.filename or "draft"
    try:
        return await domain.prepare_file_off_loop(ctx, upload.data, name)
    except domain.SittingError as exc:
        status, message = refusal(request, exc)
        raise Refused(status, N_("{file}: {reason}"), file=name, reason=message) from None


def specs(form: Form, numbers: list[str]) -> list[domain.NewDraft]:
    """The drafts' fields, one number each from `numbers` (the sitting's scheme: 1, 2 … or
    К-1, К-2 …, domain.next_numbers); an invalid one names its file."""
    titles = [t for line in form.fields.get("titles", "").splitlines() if (t := text({"t": line}, "t"))]
    shared = {k: text(form.fields, k) for k in ("initiator", "commission")}
    out = []
    for n, (upload, number) in enumerate(zip(form.files, numbers, strict=True)):
        fields = {"number": number,
                  "title": titles[n] if n < len(titles) else _title(upload),
                  "initiator": shared["initiator"], "commission": shared["commission"] or None}
        try:
            out.append(domain.NewDraft.model_validate(fields))
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise Refused(422, N_("{file}: {reason}"), file=upload.filename or str(n + 1),
                          reason=reasons) from None
    return out
