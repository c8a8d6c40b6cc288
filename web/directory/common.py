"""What the directory's pages and API share: the query from the URL, who counts as a colleague
(sees internal contacts and the Element link), a deputy as the answer shows them, and the photo
file read once per version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlencode

from aiohttp import web
from pydantic import ValidationError

from council.roster import Deputy, Roster, photo_type
from web.directory import models
from web.directory.search import filtered, match
from web.pages import SITE, VIEWER

__all__ = ["Photo", "colleague", "found", "out", "photo_of", "photo_url", "query_of"]

MATRIX_TO = "https://matrix.to/#/"


def query_of(request: web.Request) -> models.DirectoryQuery:
    """The search from the URL; raises pydantic's ValidationError on a bad value."""
    given = {k: v for k, v in request.query.items() if k in models.DirectoryQuery.model_fields and v}
    return models.DirectoryQuery.model_validate(given)


def lenient_query(request: web.Request) -> models.DirectoryQuery:
    """For the page: a value that is not valid (a district "abc") is dropped, not refused."""
    try:
        return query_of(request)
    except ValidationError as exc:
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        kept = {k: v for k, v in request.query.items()
                if k in models.DirectoryQuery.model_fields and v and k not in bad}
        try:
            return models.DirectoryQuery.model_validate(kept)
        except ValidationError:
            return models.DirectoryQuery()


def found(roster: Roster, query: models.DirectoryQuery) -> list[Deputy]:
    return filtered(match(roster, query.q), query.faction, query.commission, query.district)


def colleague(request: web.Request) -> bool:
    """Signed in as a deputy, the head or staff (web.accounts' middleware looked them up)."""
    return request.get(VIEWER) is not None


def element_url(mxid: str) -> str:
    return MATRIX_TO + quote(mxid, safe="@:")


@dataclass(frozen=True)
class Photo:
    body: bytes
    content_type: str
    version: str  # a hash of the bytes: the URL's ?v= and the ETag


@lru_cache(maxsize=64)
def _read_photo(path: str, mtime_ns: int, size: int) -> Photo | None:
    """Keyed by the file's stat too, so a replaced file is read again."""
    del mtime_ns, size
    try:
        body = Path(path).read_bytes()
    except OSError:
        return None
    kind = photo_type(body[:8])
    if kind is None:
        return None
    return Photo(body, kind, hashlib.blake2b(body, digest_size=8).hexdigest())


def photo_of(deputy: Deputy) -> Photo | None:
    """The deputy's photo as it is on disk now (the roster checked it at load; it may have
    been removed or replaced since)."""
    if deputy.photo is None:
        return None
    try:
        stat = Path(deputy.photo).stat()
    except OSError:
        return None
    return _read_photo(deputy.photo, stat.st_mtime_ns, stat.st_size)


def photo_url(deputy: Deputy) -> str | None:
    photo = photo_of(deputy)
    return f"/deputies/{deputy.id}/photo?v={photo.version}" if photo else None


def appeal_url(deputy: Deputy) -> str:
    return "/appeals/new?" + urlencode({"deputy": deputy.id})


def out(request: web.Request, roster: Roster, deputy: Deputy) -> models.DeputyOut:
    names = {c.id: c.name for c in roster.commissions}
    inside = colleague(request)
    mxid = deputy.mxid(request.app[SITE].server_name) if inside else None
    return models.DeputyOut(
        id=deputy.id, name=deputy.name, faction=deputy.faction, district=deputy.district,
        commissions=[models.CommissionRef(id=c, name=names.get(c, c)) for c in deputy.commissions],
        contacts=models.PublicContacts(**deputy.contacts.model_dump()),
        photo_url=photo_url(deputy), page_url=f"/deputies/{deputy.id}",
        appeal_url=appeal_url(deputy),
        internal=models.InternalOut(**deputy.internal.model_dump()) if inside else None,
        matrix_id=mxid, element_url=element_url(mxid) if mxid else None)
