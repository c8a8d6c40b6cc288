"""Sittings on the web: public pages, draft downloads from the store, the iCalendar feed, and
the JSON API (reads are public; creating sittings and adding drafts takes the staff token)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from icalendar import Calendar, Event
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from council import sittings as domain
from council.models import aware, utcnow
from council.sittings.agenda import KIND_NAMES, sitting_heading, when
from council.store import Store
from web import openapi
from web.app import SITE, render
from web.errors import BadInput, body_errors, json_error, read_json
from web.sittings.api_doc import PATHS, SCHEMAS

SITTING_LENGTH = timedelta(hours=3)  # calendar entries: sittings have no fixed end
YEARS = (1990, 2100)  # a sitting's plausible years (the API refuses others with a 422)


@dataclass
class Deps:
    store: Store
    context: Callable[[], domain.Context]
    staff_token: str | None
    on_change: Callable[[], None] = lambda: None


DEPS: web.AppKey[Deps] = web.AppKey("sittings_deps", Deps)



def _download(sitting_id: int, item_id: int, version: int) -> str:
    return f"/sittings/{sitting_id}/drafts/{item_id}/{version}"


def _sitting_json(s: domain.Sitting, ctx: domain.Context) -> dict[str, Any]:
    return {"id": s.id, "kind": s.kind, "body": s.body, "number": s.number, "title": s.title,
            "starts_at": aware(s.starts_at).astimezone(ctx.tz).isoformat(), "place": s.place,
            "announced_at": aware(s.announced_at).isoformat(), "url": f"/sittings/{s.id}"}


def _view_json(v: domain.SittingView, ctx: domain.Context) -> dict[str, Any]:
    def warn(ws: list) -> list[dict[str, str]]:
        return [{"rule": w.rule, "message": w.text} for w in ws]

    out = _sitting_json(v.sitting, ctx)
    out["warnings"] = warn(v.warnings)
    out["items"] = [{
        "id": i.id, "number": i.number, "title": i.title, "initiator": i.initiator,
        "commission": i.commission, "status": i.status, "position": i.position,
        "warnings": warn(v.item_warnings.get(i.id, [])),
        "versions": [{"version": x.version, "filename": x.filename, "mimetype": x.mimetype,
                      "size": x.size, "pages": x.pages, "sha256": x.sha256,
                      "published_at": aware(x.published_at).isoformat(),
                      "download": _download(v.sitting.id, i.id, x.version)} for x in vs],
    } for i, vs in v.items]
    out["paper"] = {"pages": v.paper.pages, "recipients": v.paper.recipients,
                    "copies": v.paper.copies, "sheets": v.paper.sheets}
    return out


MAX_ID = 2**63 - 1  # the store's integer keys: a larger id names nothing (and SQLite refuses it)


def _path_id(text: str) -> int:
    """A positive id from the path, or 404: ASCII digits only (int() also takes "1_0", "٣")."""
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        raise web.HTTPNotFound()
    return int(text)


def _sitting_id(request: web.Request) -> int:
    return _path_id(request.match_info["id"])


def _error(exc: domain.SittingError) -> web.Response:
    return json_error(exc.status, exc.code, f"{exc.uk} / {exc.en}",
                      **({"fields": {exc.field: exc.en}} if exc.field else {}))


def _invalid(exc: ValidationError) -> web.Response:
    fields = {".".join(map(str, e["loc"])) or "body": e["msg"] for e in exc.errors()}
    return json_error(422, "KB_INVALID", "Неправильні дані / Invalid input", fields=fields)


def _staff(request: web.Request) -> web.Response | None:
    """None if the request carries the staff token, else the error to answer with."""
    token = request.app[DEPS].staff_token
    given = request.headers.get("Authorization", "")
    if token is None:
        return json_error(403, "KB_STAFF_API_DISABLED", "staff_api_token is not configured")
    if not given.startswith("Bearer ") or not hmac.compare_digest(
            given.removeprefix("Bearer ").encode(), token.encode()):
        return json_error(401, "KB_UNAUTHORIZED", "Потрібен токен секретаріату / Staff token required")
    return None


# -- pages -----------------------------------------------------------------------------------

async def sittings_page(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    async with deps.store.session() as s:
        all_ = await domain.list_sittings(s)
    now = utcnow() - SITTING_LENGTH
    rows = [(x, sitting_heading(x.kind, x.title, x.number), when(aware(x.starts_at), ctx.tz))
            for x in all_]
    upcoming = [r for r in rows if aware(r[0].starts_at) >= now]
    past = [r for r in reversed(rows) if aware(r[0].starts_at) < now]
    return render(request, "sittings.html", {"upcoming": upcoming, "past": past})


async def sitting_page(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    try:
        async with deps.store.session() as s:
            v = await domain.view(s, ctx, _sitting_id(request))
    except domain.SittingError:
        raise web.HTTPNotFound() from None
    commissions = {c.id: c.name for c in ctx.roster.commissions}
    heading = sitting_heading(v.sitting.kind, v.sitting.title, v.sitting.number)
    return render(request, "sitting.html", {
        "v": v, "heading": heading, "starts": when(aware(v.sitting.starts_at), ctx.tz),
        "commissions": commissions, "download": _download,
        "day": lambda moment: when(aware(moment), ctx.tz)[:10],
        "kind_en": KIND_NAMES.get(v.sitting.kind, KIND_NAMES["plenary"])[1]})


async def draft_download(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    ids = [_path_id(request.match_info[k]) for k in ("id", "item", "version")]
    async with deps.store.session() as s:
        row = await domain.version_file(s, *ids)
    if row is None:
        raise web.HTTPNotFound()
    blobs = deps.context().blobs
    ascii_name = row.filename.encode("ascii", "replace").decode().replace("?", "_")
    return web.FileResponse(blobs.path(row.sha256), headers={
        "Content-Type": row.mimetype,
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(row.filename)}",
        "Cache-Control": "public, max-age=86400, immutable"})


async def calendar_ics(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    site = request.app[SITE]
    async with deps.store.session() as s:
        all_ = await domain.list_sittings(s)
    cal = Calendar()
    cal.add("prodid", "-//Kabinet//Sittings//UK")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"Засідання — {site.council_name}")
    cal.add("x-wr-timezone", str(ctx.tz))
    base = site.base_url  # configured: the Host header is the client's to write
    for x in all_:
        ev = Event()
        ev.add("uid", f"sitting-{x.id}@{site.server_name}")
        ev.add("summary", sitting_heading(x.kind, x.title, x.number))
        ev.add("dtstart", aware(x.starts_at))
        ev.add("dtend", aware(x.starts_at) + SITTING_LENGTH)
        ev.add("dtstamp", aware(x.announced_at))
        ev.add("location", x.place)
        ev.add("url", f"{base}/sittings/{x.id}")
        ev.add("description", f"Порядок денний і проєкти рішень / Agenda and drafts: "
                              f"{base}/sittings/{x.id}")
        cal.add_component(ev)
    return web.Response(body=cal.to_ical(), content_type="text/calendar", charset="utf-8",
                        headers={"Content-Disposition": 'inline; filename="calendar.ics"'})


# -- JSON API --------------------------------------------------------------------------------

async def api_list(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    async with deps.store.session() as s:
        return web.json_response({"sittings": [_sitting_json(x, ctx)
                                               for x in await domain.list_sittings(s)]})


async def api_get(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    try:
        async with deps.store.session() as s:
            return web.json_response(_view_json(await domain.view(s, ctx, _sitting_id(request)), ctx))
    except domain.SittingError as exc:
        return _error(exc)


async def api_create(request: web.Request) -> web.Response:
    if (denied := _staff(request)) is not None:
        return denied
    deps = request.app[DEPS]
    ctx = deps.context()
    data = await read_json(request)  # malformed JSON: BadInput, a 4xx from web.errors
    if not isinstance(data, dict):
        return json_error(400, "KB_BAD_JSON", "Тіло має бути об'єктом JSON / Body must be a JSON object")
    starts = data.get("starts_at")
    if isinstance(starts, str):  # a local time without an offset is the council's local time
        try:
            parsed = datetime.fromisoformat(starts)
            if parsed.tzinfo is None:
                data["starts_at"] = parsed.replace(tzinfo=ctx.tz).isoformat()
        except ValueError:
            pass  # pydantic names the field
    try:
        spec = domain.NewSitting.model_validate(data)
        if not YEARS[0] <= spec.starts_at.year <= YEARS[1]:  # and no date arithmetic overflows
            return json_error(422, "KB_INVALID", "Неправильні дані / Invalid input", fields={
                "starts_at": f"the year must be {YEARS[0]} to {YEARS[1]}"})
        if spec.external_key == "":  # an empty key is no key (a second one would collide)
            spec = spec.model_copy(update={"external_key": None})
        try:
            body, created = await _create(deps, ctx, spec)
        except IntegrityError:  # the same external_key created meanwhile: that one answers
            body, created = await _create(deps, ctx, spec)
    except ValidationError as exc:
        return _invalid(exc)
    except domain.SittingError as exc:
        return _error(exc)
    deps.on_change()
    return web.json_response(body, status=201 if created else 200)


async def _create(deps: Deps, ctx: domain.Context, spec: domain.NewSitting) -> tuple[dict[str, Any], bool]:
    async with deps.store.session() as s:
        sitting, created = await domain.create_sitting(s, ctx, spec)
        return _sitting_json(sitting, ctx), created


FIELD_MAX = 2000  # characters kept of a text field
FORM_OVERHEAD = 256 * 1024  # a multipart body's fields and part headers beside the file


def _too_large(limit: int) -> domain.SittingError:
    return domain.SittingError("KB_FILE_TOO_LARGE", f"файл більший за {limit // (1024 * 1024)} МіБ",
                               f"the file exceeds {limit // (1024 * 1024)} MiB", "file", 413)


async def _read_bounded(part: BodyPartReader, limit: int) -> bytes | None:
    """The part's raw bytes, or None past `limit` (its Content-Encoding is not undone:
    form-data has none, RFC 7578)."""
    chunks, size = [], 0
    while chunk := await part.read_chunk(256 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_form(request: web.Request, limit: int) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    """Multipart fields and the one file, reading no more than `limit` bytes of it; a body that
    is not well-formed multipart (or fields not UTF-8) raises BadInput, a 4xx."""
    if (request.content_length or 0) > limit + FORM_OVERHEAD:
        raise _too_large(limit)  # declared too large: refused before reading any of it
    with body_errors():  # SittingError is a ValueError: raised outside, not mapped to a 400
        fields, upload = await _form_parts(request, limit)
    if upload is None:
        return fields, None
    name, data = upload
    if data is None:
        raise _too_large(limit)
    return fields, (name, data)


async def _form_parts(request: web.Request, limit: int
                      ) -> tuple[dict[str, str], tuple[str, bytes | None] | None]:
    fields: dict[str, str] = {}
    upload: tuple[str, bytes | None] | None = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            await part.release()
        elif part.name == "file":
            upload = (part.filename or "draft", await _read_bounded(part, limit))
            if upload[1] is None:
                break  # too large: stop reading
        elif part.name:
            if (raw := await _read_bounded(part, 4 * FIELD_MAX)) is None:
                raise BadInput(413, "KB_FIELD_TOO_LARGE", "A text field is too long")
            fields[part.name] = raw.decode("utf-8")[:FIELD_MAX]
        else:
            await part.release()
    return fields, upload


async def api_add_draft(request: web.Request) -> web.Response:
    if (denied := _staff(request)) is not None:
        return denied
    deps = request.app[DEPS]
    ctx = deps.context()
    sitting_id = _sitting_id(request)
    if not request.content_type.startswith("multipart/"):
        return json_error(415, "KB_MULTIPART_REQUIRED", "Потрібен multipart/form-data / "
                          "multipart/form-data required")
    try:
        fields, upload = await _read_form(request, ctx.max_bytes)
        if upload is None:
            raise domain.SittingError("KB_NO_FILE", "немає файлу", "no file part", "file")
        spec = domain.NewDraft.model_validate({k: v for k, v in fields.items()
                                               if k in domain.NewDraft.model_fields and v != ""})
        file = await domain.prepare_file_off_loop(ctx, upload[1], upload[0])
        async with deps.store.session() as s:
            item = await domain.add_draft(s, ctx, sitting_id, spec, file, source="api")
            body = {"id": item.id, "number": item.number, "title": item.title, "version": 1,
                    "sitting": sitting_id, "download": _download(sitting_id, item.id, 1)}
    except ValidationError as exc:
        return _invalid(exc)
    except domain.SittingError as exc:
        return _error(exc)
    deps.on_change()
    return web.json_response(body, status=201)


def setup(app: web.Application, deps: Deps) -> None:
    app[DEPS] = deps
    app.router.add_get("/sittings", sittings_page, name="sittings")
    app.router.add_get("/sittings/{id}", sitting_page, name="sitting")
    app.router.add_get("/sittings/{id}/drafts/{item}/{version}", draft_download)
    app.router.add_get("/calendar.ics", calendar_ics, name="calendar")
    app.router.add_get("/api/v1/sittings", api_list)
    app.router.add_post("/api/v1/sittings", api_create)
    app.router.add_get("/api/v1/sittings/{id}", api_get)
    app.router.add_post("/api/v1/sittings/{id}/drafts", api_add_draft)
    schema = domain.NewSitting.model_json_schema(ref_template="#/components/schemas/{model}")
    openapi.register(app, PATHS, {"NewSitting": schema, **SCHEMAS})
