"""What a file is, judged by its content (never by its name), and the name it is kept under:
the one sniffer and the one safe-name policy, for sittings' drafts and appeals' attachments.

A draft decision is published as the council drafted it (PDF, DOCX or ODT: `DOCUMENTS`); an
appeal may attach scans too (PDF, JPEG, PNG or DOCX: `ATTACHMENTS`). Anything else (spreadsheets,
executables renamed to .pdf) is refused with a clear reason.

DOCX and ODT are ZIP archives, so a hostile one can be a "zip bomb": a megabyte that inflates
to gigabytes, or a hundred thousand tiny entries whose directory alone takes seconds to read.
Every archive is opened through `open_archive`, which refuses before inflating anything: too
many entries or too large a central directory (read from its end record, before Python parses
it), any member larger than `MAX_MEMBER_BYTES` or all of them larger than `MAX_TOTAL_BYTES`
once inflated, encrypted members and compression methods other than stored/deflated (bzip2 and
LZMA inflate without an output bound). Members are only ever read with `peek` (the page
counter too): in small reads up to a cap, because zipfile inflates as much as one read asks
for before cutting the output to the member's declared size, so a member that lies about its
size would inflate whole in one `read()`. The checks are CPU-cheap but synchronous: async
callers run them in a worker thread with a time cap (`council.sittings.prepare_file_off_loop`).
"""

from __future__ import annotations

import io
import os
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Collection
from dataclasses import dataclass

from council.language import Refusal, Text

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
ODT_MIME = "application/vnd.oasis.opendocument.text"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOCX_MAIN = b"wordprocessingml.document.main+xml"

# Real documents hold tens to a few hundred entries, a directory of kilobytes, an XML body of
# a few megabytes and images no larger than the upload limit: these caps are far above that.
MAX_ENTRIES = 10_000
MAX_DIRECTORY_BYTES = 1024 * 1024
MAX_MEMBER_BYTES = 32 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
PEEK_BYTES = 1024 * 1024  # [Content_Types].xml and `mimetype` are a few kilobytes at most
INSPECT_SECONDS = 15.0  # the time cap for async callers; the caps above keep it far away

_END = struct.Struct("<4s4H2LH")  # end of central directory record
_END_SIG = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_MIB = 1024 * 1024
_CHUNK = 64 * 1024
# What zipfile raises for damaged archives (zlib.error: a broken deflate stream).
_DAMAGED = (zipfile.BadZipFile, zlib.error, struct.error, OSError, RuntimeError, ValueError, EOFError)


class UnsupportedFile(ValueError):
    """Not a PDF, DOCX or ODT document."""


class UnusualArchive(UnsupportedFile, Refusal):
    """A ZIP archive that no office suite would write: a bomb, or built to stall its reader.
    Its message says why, for the person who sent it, in their language."""

    def __init__(self, message: Text) -> None:
        Refusal.__init__(self, "KB_UNUSUAL_ARCHIVE", message, "file")


@dataclass(frozen=True)
class FileType:
    kind: str  # pdf | docx | odt
    mimetype: str
    extension: str


PDF = FileType("pdf", "application/pdf", ".pdf")
DOCX = FileType("docx", DOCX_MIME, ".docx")
ODT = FileType("odt", ODT_MIME, ".odt")
JPEG = FileType("jpeg", "image/jpeg", ".jpg")
PNG = FileType("png", "image/png", ".png")
DOCUMENTS = (PDF, DOCX, ODT)  # draft decisions
ATTACHMENTS = (PDF, JPEG, PNG, DOCX)  # what a citizen may attach to an appeal
_IMAGES = ((b"\xff\xd8\xff", JPEG), (b"\x89PNG\r\n\x1a\n", PNG))


def _too_many(entries: int) -> UnusualArchive:
    return UnusualArchive(Text("the archive holds too many entries ({entries}; at most {limit})",
                               entries=entries, limit=MAX_ENTRIES))


def _too_large(limit: int) -> UnusualArchive:
    return UnusualArchive(Text("the archive inflates to too much data (over {mib} MiB)",
                               mib=limit // _MIB))


def _directory(data: bytes) -> tuple[int, int]:
    """(entries, central directory bytes) from the end record, before zipfile parses anything:
    zipfile reads exactly that many directory bytes, so bounding them bounds its work."""
    pos = data.rfind(_END_SIG, max(0, len(data) - _END.size - 0xFFFF))
    if pos < 0 or pos + _END.size > len(data):
        raise UnsupportedFile("a damaged ZIP archive: no end of central directory")
    _, _, _, _, entries, size, _, _ = _END.unpack_from(data, pos)
    if (entries == 0xFFFF or size == 0xFFFFFFFF) and pos >= _ZIP64_LOCATOR.size:
        sig, _, offset, _ = _ZIP64_LOCATOR.unpack_from(data, pos - _ZIP64_LOCATOR.size)
        if sig == b"PK\x06\x07" and offset + _ZIP64_END.size <= len(data):
            record = _ZIP64_END.unpack_from(data, offset)
            if record[0] == b"PK\x06\x06":
                entries, size = record[7], record[8]
    return entries, size


def _check_members(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_ENTRIES:
        raise _too_many(len(infos))
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise UnusualArchive(Text("the archive is encrypted"))
        if info.compress_type not in _METHODS:
            raise UnusualArchive(Text("the archive uses an unusual compression method"))
        if info.file_size > MAX_MEMBER_BYTES:
            raise _too_large(MAX_MEMBER_BYTES)
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise _too_large(MAX_TOTAL_BYTES)


def open_archive(data: bytes) -> zipfile.ZipFile:
    """The ZIP archive in `data`, checked (see the module's notes); UnsupportedFile if it is
    damaged, UnusualArchive if it is built to exhaust its reader. Use it in a `with`."""
    entries, size = _directory(data)
    if entries > MAX_ENTRIES:
        raise _too_many(entries)
    if size > MAX_DIRECTORY_BYTES:
        raise UnusualArchive(Text("the archive's directory is too large"))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _DAMAGED as exc:
        raise UnsupportedFile(f"a damaged ZIP archive: {exc}") from None
    try:
        _check_members(archive.infolist())
    except UnsupportedFile:
        archive.close()
        raise
    return archive


def peek(archive: zipfile.ZipFile, name: str, limit: int = PEEK_BYTES) -> bytes:
    """A member's content, inflating at most `limit` + 1 bytes; UnusualArchive if it is longer."""
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(name) as member:
            # In small reads: zipfile inflates as much as one read asks for before it cuts the
            # output to the member's declared size, so one big read would inflate a lying one.
            while size <= limit and (chunk := member.read(min(_CHUNK, limit + 1 - size))):
                chunks.append(chunk)
                size += len(chunk)
    except (*_DAMAGED, KeyError) as exc:
        raise UnsupportedFile(f"a damaged ZIP archive: {exc}") from None
    content = b"".join(chunks)
    if len(content) > limit:
        raise UnusualArchive(Text("the archive's file “{name}” is too large", name=name))
    return content


def _kind(data: bytes) -> FileType:
    if data.startswith(PDF_MAGIC):
        return PDF
    for magic, image in _IMAGES:
        if data.startswith(magic):
            return image
    if data.startswith(ZIP_MAGIC):
        with open_archive(data) as archive:
            names = set(archive.namelist())
            # ODF: the first member is `mimetype`, stored uncompressed, holding the type.
            if "mimetype" in names and peek(archive, "mimetype").strip() == ODT_MIME.encode():
                return ODT
            if "[Content_Types].xml" in names and DOCX_MAIN in peek(archive, "[Content_Types].xml"):
                return DOCX
            if "word/document.xml" in names:  # what the appeals form always took for a DOCX
                return DOCX
        raise UnsupportedFile("a ZIP archive that is neither a DOCX nor an ODT document")
    raise UnsupportedFile("not a PDF, DOCX or ODT document (judged by its content)")


def sniff(data: bytes, accept: Collection[FileType] = DOCUMENTS) -> FileType:
    """The file's type by content, if it is one of `accept`; UnsupportedFile (UnusualArchive
    for a hostile archive) otherwise."""
    kind = _kind(data)
    if kind not in accept:
        raise UnsupportedFile(f"a {kind.kind.upper()} file is not accepted here")
    return kind


NAME_MAX = 120  # characters of a kept file name, its extension included
_UNSAFE = re.compile(r'[\\/:*?"<>|]+')  # what a file system or a header would misread


def safe_filename(name: str | None, filetype: FileType, default: str = "file") -> str:
    """The one safe-name policy: the last path segment, without control or invisible
    characters (bidi overrides could fake the extension), none of `\\/:*?"<>|`, at most
    NAME_MAX characters, ending in the extension of the type found by content."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(" " if ch.isspace() else ch for ch in unicodedata.normalize("NFC", base)
                   if ch.isspace() or not unicodedata.category(ch).startswith("C"))
    base = re.sub(r" +", " ", _UNSAFE.sub("_", base)).strip(" .")
    ext = filetype.extension
    if base.lower().endswith(ext):  # its own spelling of the right extension is kept
        stem, ext = base[:-len(ext)], base[-len(ext):]
    else:
        stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", base)
    return (stem[:NAME_MAX - len(ext)].rstrip(" .") or default) + ext
