"""Checking a draft's file before anything is stored: size, type by content, pages, safe name."""

from __future__ import annotations

from council.files.kinds import FileType, UnsupportedFile, UnusualArchive, sniff
from council.files.kinds import safe_filename as kept_name
from council.language import Text
from council.sittings.inputs import Context, PreparedFile, SittingError
from council.sittings.paper import CorruptedFile, count_pages


def prepare_file(ctx: Context, data: bytes, filename: str) -> PreparedFile:
    """Check a file before anything is stored: size, type by content, readable pages."""
    if len(data) > ctx.max_bytes:
        raise file_too_large(ctx.max_bytes)
    if not data:
        raise SittingError("KB_EMPTY_FILE", Text("the file is empty"), "file")
    try:
        filetype = sniff(data)
        pages = count_pages(data, filetype)
    except UnusualArchive as exc:
        raise SittingError("KB_UNUSUAL_ARCHIVE", exc.message, "file") from None
    except UnsupportedFile:
        raise SittingError("KB_UNSUPPORTED_FILE",
                           Text("unsupported file type (by content); PDF, DOCX and ODT are accepted"),
                           "file") from None
    except CorruptedFile:
        raise SittingError("KB_CORRUPTED_FILE", Text("the file is corrupted and cannot be read"),
                           "file") from None
    return PreparedFile(data, safe_filename(filename, filetype), filetype, pages)


def file_too_large(max_bytes: int) -> SittingError:
    """The one refusal of a draft's file over the limit (the web checks it before reading)."""
    return SittingError("KB_FILE_TOO_LARGE", Text("the file exceeds the limit of {mib} MiB",
                                                  mib=max_bytes // (1024 * 1024)), "file")


def safe_filename(name: str, filetype: FileType) -> str:
    """A draft's name under the one policy (council.files.kinds.safe_filename)."""
    return kept_name(name, filetype, "draft")
