"""Checking a draft's file before anything is stored: size, type by content, pages, safe name."""

from __future__ import annotations

import os
import re

from council.files.kinds import FileType, UnsupportedFile, UnusualArchive, sniff
from council.sittings.inputs import Context, PreparedFile, SittingError
from council.sittings.paper import CorruptedFile, count_pages


def prepare_file(ctx: Context, data: bytes, filename: str) -> PreparedFile:
    """Check a file before anything is stored: size, type by content, readable pages."""
    if len(data) > ctx.max_bytes:
        raise SittingError("KB_FILE_TOO_LARGE",
                           f"файл більший за дозволені {ctx.max_bytes // (1024 * 1024)} МіБ",
                           f"the file exceeds the limit of {ctx.max_bytes // (1024 * 1024)} MiB",
                           "file", 413)
    if not data:
        raise SittingError("KB_EMPTY_FILE", "файл порожній", "the file is empty", "file")
    try:
        filetype = sniff(data)
        pages = count_pages(data, filetype)
    except UnusualArchive as exc:
        raise SittingError("KB_UNUSUAL_ARCHIVE", exc.uk, exc.en, "file", 422) from None
    except UnsupportedFile:
        raise SittingError("KB_UNSUPPORTED_FILE",
                           "непідтримуваний тип файлу (за вмістом); дозволено PDF, DOCX, ODT",
                           "unsupported file type (by content); PDF, DOCX and ODT are accepted",
                           "file", 415) from None
    except CorruptedFile:
        raise SittingError("KB_CORRUPTED_FILE", "файл пошкоджений, його неможливо прочитати",
                           "the file is corrupted and cannot be read", "file") from None
    return PreparedFile(data, safe_filename(filename, filetype), filetype, pages)


def safe_filename(name: str, filetype: FileType) -> str:
    base = os.path.basename(name.replace("\\", "/")).strip() or "draft"
    base = re.sub(r"[\x00-\x1f\x7f\"]", "", base)[:200] or "draft"
    if not base.lower().endswith(filetype.extension):
        base = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", base) + filetype.extension
    return base
