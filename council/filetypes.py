"""What a file is, judged by its content (never by its name): PDF, DOCX or ODT, or refused.

A draft decision is published as the council drafted it; other formats (scans as images,
spreadsheets, executables renamed to .pdf) are refused with a clear reason.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
ODT_MIME = "application/vnd.oasis.opendocument.text"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOCX_MAIN = b"wordprocessingml.document.main+xml"


class UnsupportedFile(ValueError):
    """Not a PDF, DOCX or ODT document."""


@dataclass(frozen=True)
class FileType:
    kind: str  # pdf | docx | odt
    mimetype: str
    extension: str


PDF = FileType("pdf", "application/pdf", ".pdf")
DOCX = FileType("docx", DOCX_MIME, ".docx")
ODT = FileType("odt", ODT_MIME, ".odt")
SUPPORTED = (PDF, DOCX, ODT)


def sniff(data: bytes) -> FileType:
    """The document type by content; UnsupportedFile for anything else."""
    if data.startswith(PDF_MAGIC):
        return PDF
    if data.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
                # ODF: the first member is `mimetype`, stored uncompressed, holding the type.
                if "mimetype" in names and archive.read("mimetype").strip() == ODT_MIME.encode():
                    return ODT
                if "[Content_Types].xml" in names and DOCX_MAIN in archive.read("[Content_Types].xml"):
                    return DOCX
        except (zipfile.BadZipFile, KeyError, OSError, RuntimeError) as exc:
            raise UnsupportedFile(f"a damaged ZIP archive: {exc}") from None
        raise UnsupportedFile("a ZIP archive that is neither a DOCX nor an ODT document")
    raise UnsupportedFile("not a PDF, DOCX or ODT document (judged by its content)")
