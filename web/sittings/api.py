"""The sittings JSON API: reads are public; creating sittings, adding, revising and withdrawing
drafts and reordering the agenda take the secretariat (a signed-in session with its CSRF header,
or the staff token: web.accounts.staff). Each write records who did it in the audit log, in its
unit of work. Bodies are the pydantic models of web.sittings.models (and the domain's NewSitting
and NewDraft); domain errors are answered by web.errors' table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError

from council import sittings as domain
from council.accounts import audit
from council.language import Text
from web import i18n, openapi
from web.accounts.staff import actor, staff_api
from web.errors import BadInput, invalid, json_error, read_json
from web.pages import sitting_id
from web.sittings import models
from web.sittings.common import DEPS, Deps, download_path
from web.uploads import BodyTooLarge, FieldTooLarge, FileTooLarge, Form, Rules, read_form

YEARS = (1990, 2100)  # a sitting's plausible years (the API refuses others with a 422)
FIELD_MAX = 2000  # characters kept of a text field
FORM_OVERHEAD = 256 * 1024  # a multipart body's fields and part headers beside the file


def _answer(body: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(body.model_dump(mode="json"), status=status)


def _sitting(s: domain.Sitting, ctx: domain.Context) -> models.Sitting:
    return models.Sitting(
        id=s.id, kind=s.kind, body=s.body, number=s.number, title=s.title,
        starts_at=s.starts_at.astimezone(ctx.tz).isoformat(), place=s.place,
        announced_at=s.announced_at.isoformat(), url=f"/sittings/{s.id}")


def _warnings(ws: list[Any]) -> list[models.LawWarning]:
    """The law's warnings in the language the request's Accept-Language prefers."""
    language = i18n.API_LANGUAGE.get()
    return [models.LawWarning(rule=w.rule, message=w.render(language)) for w in ws]


def _view(v: domain.SittingView, ctx: domain.Context) -> models.SittingView:
    items = [models.AgendaItem(
        id=i.id, number=i.number, title=i.title, initiator=i.initiator, commission=i.commission,
        status=i.status, position=i.position, warnings=_warnings(v.item_warnings.get(i.id, [])),
        versions=[models.DraftVersion(
            version=x.version, filename=x.filename, mimetype=x.mimetype, size=x.size,
            pages=x.pages, sha256=x.sha256, published_at=x.published_at.isoformat(),
            download=download_path(v.sitting.id, i.id, x.version)) for x in vs],
    ) for i, vs in v.items]
    paper = models.Paper(pages=v.paper.pages, recipients=v.paper.recipients,
                         copies=v.paper.copies, sheets=v.paper.sheets)
    return models.SittingView(**_sitting(v.sitting, ctx).model_dump(),
                              warnings=_warnings(v.warnings), items=items, paper=paper)


async def api_list(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    async with deps.store.session() as s:
        found = await domain.list_sittings(s)
    return _answer(models.SittingList(sittings=[_sitting(x, ctx) for x in found]))


async def api_get(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    async with deps.store.session() as s:
        return _answer(_view(await domain.view(s, ctx, sitting_id(request)), ctx))


def _local_time(data: dict[str, Any], ctx: domain.Context) -> None:
    """A `starts_at` without an offset is the council's local time."""
    starts = data.get("starts_at")
    if isinstance(starts, str):
        try:
            parsed = datetime.fromisoformat(starts)
        except ValueError:
            return  # pydantic names the field
        if parsed.tzinfo is None:
            data["starts_at"] = parsed.replace(tzinfo=ctx.tz).isoformat()


@staff_api(DEPS)
async def api_create(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    data = await read_json(request)  # malformed JSON: BadInput, a 4xx from web.errors
    if not isinstance(data, dict):
        return json_error(400, "KB_BAD_JSON", "The body must be a JSON object")
    _local_time(data, ctx)
    try:
        spec = domain.NewSitting.model_validate(data)
    except ValidationError as exc:
        return invalid(exc)
    if not YEARS[0] <= spec.starts_at.year <= YEARS[1]:  # and no date arithmetic overflows
        return json_error(422, "KB_INVALID", "Invalid input", fields={
            "starts_at": f"the year must be {YEARS[0]} to {YEARS[1]}"})
    if spec.external_key == "":  # an empty key is no key (a second one would collide)
        spec = spec.model_copy(update={"external_key": None})
    try:
        body, created = await _create(deps, ctx, spec, actor(request))
    except IntegrityError:  # the same external_key created meanwhile: that one answers
        body, created = await _create(deps, ctx, spec, actor(request))
    deps.on_change()
    return _answer(body, 201 if created else 200)


async def _create(deps: Deps, ctx: domain.Context, spec: domain.NewSitting, who: str
                  ) -> tuple[models.Sitting, bool]:
    async with deps.store.session() as s:
        sitting, created = await domain.create_sitting(s, ctx, spec)
        if created:
            await audit.record(s, who, "sitting.create", audit.subject("sitting", sitting.id),
                               {"kind": sitting.kind, "body": sitting.body, "via": "api"})
        return _sitting(sitting, ctx), created


def _number(request: web.Request) -> str:
    """The item's number from the path; one no item can have is a 404 before any query."""
    number = request.match_info["number"]
    if not 0 < len(number) <= 32 or not number.isprintable():
        raise domain.SittingError("KB_UNKNOWN_ITEM", Text("no such item in this sitting"),
                                  "number")
    return number


async def _read_draft(request: web.Request, limit: int) -> Form:
    """A multipart body with one file (`file`) and the draft's text fields, within the caps."""
    if not request.content_type.startswith("multipart/"):
        raise BadInput(415, "KB_MULTIPART_REQUIRED", "multipart/form-data required")
    rules = Rules(file_fields=("file",), max_files=1, file_bytes=limit, total_bytes=limit,
                  field_bytes=4 * FIELD_MAX, max_body=limit + FORM_OVERHEAD)
    try:
        return await read_form(request, rules)
    except (BodyTooLarge, FileTooLarge):
        raise domain.file_too_large(limit) from None
    except FieldTooLarge:
        raise BadInput(413, "KB_FIELD_TOO_LARGE", "A text field is too long") from None


@staff_api(DEPS)
async def api_add_draft(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    sid = sitting_id(request)
    form = await _read_draft(request, ctx.max_bytes)
    if not form.files:
        raise domain.SittingError("KB_NO_FILE", Text("no file part"), "file")
    try:
        spec = domain.NewDraft.model_validate({k: v[:FIELD_MAX] for k, v in form.fields.items()
                                               if k in domain.NewDraft.model_fields and v != ""})
    except ValidationError as exc:
        return invalid(exc)
    upload = form.files[0]
    file = await domain.prepare_file_off_loop(ctx, upload.data, upload.filename or "draft")
    async with deps.store.session() as s:
        item = await domain.add_draft(s, ctx, sid, spec, file, source="api")
        await audit.record(s, actor(request), "draft.add", audit.subject("sitting", sid),
                           {"item": item.id, "number": item.number, "file": file.filename})
        body = models.DraftPublished(
            id=item.id, number=item.number, title=item.title, version=1, sitting=sid,
            download=download_path(sid, item.id, 1),
            warnings=_warnings(await _publishing_warnings(s, ctx, sid, item.id)))
    deps.on_change()
    return _answer(body, 201)


async def _publishing_warnings(s: Any, ctx: domain.Context, sid: int, item_id: int) -> list[Any]:
    v = await domain.view(s, ctx, sid)
    return v.item_warnings.get(item_id, [])


@staff_api(DEPS)
async def api_revise(request: web.Request) -> web.Response:
    """A new version of an item's draft: the same file checks as a new draft."""
    deps = request.app[DEPS]
    ctx = deps.context()
    sid, number = sitting_id(request), _number(request)
    form = await _read_draft(request, ctx.max_bytes)
    if not form.files:
        raise domain.SittingError("KB_NO_FILE", Text("no file part"), "file")
    upload = form.files[0]
    file = await domain.prepare_file_off_loop(ctx, upload.data, upload.filename or "draft")
    async with deps.store.session() as s:
        version = await domain.revise_draft(s, ctx, sid, number, file, source="api")
        await audit.record(s, actor(request), "draft.revise", audit.subject("sitting", sid),
                           {"item": version.item_id, "number": number,
                            "version": version.version, "file": file.filename})
        item = await s.get(domain.AgendaItem, version.item_id)
        assert item is not None  # revise_draft found it
        body = models.DraftRevised(
            id=item.id, number=item.number, title=item.title, version=version.version,
            sitting=sid, download=download_path(sid, item.id, version.version),
            warnings=_warnings(await _publishing_warnings(s, ctx, sid, item.id)))
    deps.on_change()
    return _answer(body, 201)


@staff_api(DEPS)
async def api_withdraw(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    sid, number = sitting_id(request), _number(request)
    data = await read_json(request)
    if not isinstance(data, dict):
        return json_error(400, "KB_BAD_JSON", "The body must be a JSON object")
    try:
        spec = models.Withdrawal.model_validate(data)
    except ValidationError as exc:
        return invalid(exc)
    async with deps.store.session() as s:
        item = await domain.withdraw_item(s, ctx, sid, number, reason=spec.reason)
        await audit.record(s, actor(request), "draft.withdraw", audit.subject("sitting", sid),
                           {"item": item.id, "number": item.number, "reason": spec.reason})
        body = models.ItemWithdrawn(id=item.id, number=item.number, status=item.status,
                                    sitting=sid)
    deps.on_change()
    return _answer(body)


@staff_api(DEPS)
async def api_reorder(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    sid = sitting_id(request)
    data = await read_json(request)
    try:
        order = models.AgendaOrder.model_validate(data).root
    except ValidationError as exc:
        return invalid(exc)
    async with deps.store.session() as s:
        await domain.reorder(s, ctx, sid, order)
        await audit.record(s, actor(request), "agenda.reorder", audit.subject("sitting", sid),
                           {"order": order})
    deps.on_change()
    return _answer(models.AgendaOrderSet(sitting=sid, order=order))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/sittings", api_list)
    app.router.add_post("/api/v1/sittings", api_create)
    app.router.add_get("/api/v1/sittings/{id}", api_get)
    app.router.add_post("/api/v1/sittings/{id}/drafts", api_add_draft)
    app.router.add_post("/api/v1/sittings/{id}/items/{number}/versions", api_revise)
    app.router.add_post("/api/v1/sittings/{id}/items/{number}/withdraw", api_withdraw)
    app.router.add_put("/api/v1/sittings/{id}/order", api_reorder)
    openapi.register(app, PATHS, openapi.schemas(
        requests=[domain.NewSitting, models.DraftForm, models.RevisionForm, models.Withdrawal,
                  models.AgendaOrder],
        responses=[models.SittingList, models.SittingView, models.DraftPublished,
                   models.DraftRevised, models.ItemWithdrawn, models.AgendaOrderSet]))


_ID = {"name": "id", "in": "path", "required": True,
       "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
       "description": "The sitting's id; anything else is a 404"}
_STAFF: list[dict[str, list[str]]] = [{"staffToken": []}]
_UNAUTHORIZED = openapi.error_response("Neither a secretariat session nor the staff token "
                                       "(KB_UNAUTHORIZED)")
_FORBIDDEN = openapi.error_response("Signed in without a secretariat role (KB_FORBIDDEN), a "
                                    "session call without X-CSRF-Token (KB_CSRF), or the staff "
                                    "API is off on a site without sign-in")
_INVALID = openapi.json_answer("Field-by-field reasons (KB_INVALID)", openapi.FieldErrors)
_LINKS = {  # what a client (and schemathesis) does next with a created sitting
    "GetSitting": {"operationId": "getSitting", "parameters": {"id": "$response.body#/id"}},
    "AddDraft": {"operationId": "addDraft", "parameters": {"id": "$response.body#/id"}},
    "ReorderAgenda": {"operationId": "reorderAgenda", "parameters": {"id": "$response.body#/id"}},
}
_ITEM_LINKS = {  # what a client does next with a published draft
    op: {"operationId": op[0].lower() + op[1:], "parameters": {
        "id": "$response.body#/sitting", "number": "$response.body#/number"}}
    for op in ("ReviseDraft", "WithdrawItem")}
_NUMBER = {"name": "number", "in": "path", "required": True,
           "schema": {"type": "string", "minLength": 1, "maxLength": 32},
           "description": "The agenda item's number in this sitting"}
_answer_doc = openapi.json_answer
_AUTH_NOTE = ("Takes the staff token, or a secretariat session cookie with its X-CSRF-Token "
              "header.")
PATHS: dict[str, Any] = {
    "/api/v1/sittings": {
        "get": {"operationId": "listSittings", "summary": "All sittings",
                "responses": {"200": _answer_doc("The list", models.SittingList)}},
        "post": {
            "operationId": "createSitting", "summary": "Create a sitting (staff)",
            "security": _STAFF, "requestBody": openapi.request_body(domain.NewSitting),
            "responses": {
                "201": _answer_doc("Created", models.Sitting, links=_LINKS),
                "200": _answer_doc("Already created with this external_key", models.Sitting,
                                   links=_LINKS),
                "401": _UNAUTHORIZED, "403": _FORBIDDEN,
                "404": openapi.error_response("Unknown commission or body"),
                "422": {**_INVALID, "description": "Field-by-field reasons (KB_INVALID); a year "
                                                   "outside 1990-2100"}}}},
    "/api/v1/sittings/{id}": {"get": {
        "operationId": "getSitting",
        "summary": "A sitting with its agenda, draft versions, law warnings and paper saved",
        "parameters": [_ID],
        "responses": {"200": _answer_doc("The sitting", models.SittingView),
                      "404": openapi.error_response("No such sitting")}}},
    "/api/v1/sittings/{id}/drafts": {"post": {
        "operationId": "addDraft",
        "summary": "Add an agenda item with its draft decision (staff; PDF, DOCX or ODT)",
        "security": _STAFF, "parameters": [_ID],
        "requestBody": openapi.request_body(models.DraftForm, "multipart/form-data"),
        "responses": {
            "201": _answer_doc("Published", models.DraftPublished, links=_ITEM_LINKS),
            "400": openapi.error_response("No file part, an empty or corrupted file, or a body "
                                          "that cannot be read"),
            "401": _UNAUTHORIZED, "403": _FORBIDDEN,
            "404": openapi.error_response("No such sitting, or no such commission "
                                          "(KB_UNKNOWN_COMMISSION)"),
            "409": openapi.error_response("The number is taken in this sitting"),
            "413": openapi.error_response("The file (or a field) is too large"),
            "415": openapi.error_response("Not multipart/form-data, or the file is not PDF, DOCX "
                                          "or ODT"),
            "422": {**_INVALID, "description": "Field-by-field reasons; a file that cannot be "
                                               "read"}}}},
    "/api/v1/sittings/{id}/items/{number}/versions": {"post": {
        "operationId": "reviseDraft",
        "summary": "Publish a new version of an item's draft (staff; PDF, DOCX or ODT)",
        "description": _AUTH_NOTE, "security": _STAFF, "parameters": [_ID, _NUMBER],
        "requestBody": openapi.request_body(models.RevisionForm, "multipart/form-data"),
        "responses": {
            "201": _answer_doc("Published as the next version", models.DraftRevised),
            "400": openapi.error_response("No file part, an empty or corrupted file, or a body "
                                          "that cannot be read"),
            "401": _UNAUTHORIZED, "403": _FORBIDDEN,
            "404": openapi.error_response("No such sitting or item (KB_UNKNOWN_ITEM)"),
            "409": openapi.error_response("The item was withdrawn (KB_WITHDRAWN)"),
            "413": openapi.error_response("The file is too large"),
            "415": openapi.error_response("Not multipart/form-data, or the file is not PDF, DOCX "
                                          "or ODT"),
            "422": openapi.error_response("A file that cannot be read safely")}}},
    "/api/v1/sittings/{id}/items/{number}/withdraw": {"post": {
        "operationId": "withdrawItem",
        "summary": "Withdraw an agenda item, with the reason (staff); it is kept, marked "
                   "withdrawn",
        "description": _AUTH_NOTE, "security": _STAFF, "parameters": [_ID, _NUMBER],
        "requestBody": openapi.request_body(models.Withdrawal),
        "responses": {
            "200": _answer_doc("Withdrawn (again: no change)", models.ItemWithdrawn),
            "401": _UNAUTHORIZED, "403": _FORBIDDEN,
            "404": openapi.error_response("No such sitting or item (KB_UNKNOWN_ITEM)"),
            "422": _INVALID}}},
    "/api/v1/sittings/{id}/order": {"put": {
        "operationId": "reorderAgenda",
        "summary": "Set the agenda's order: every item's number exactly once (staff)",
        "description": _AUTH_NOTE, "security": _STAFF, "parameters": [_ID],
        "requestBody": openapi.request_body(models.AgendaOrder),
        "responses": {
            "200": _answer_doc("The new order", models.AgendaOrderSet),
            "400": openapi.error_response("Not every number exactly once (KB_BAD_ORDER), or a "
                                          "body that cannot be read"),
            "401": _UNAUTHORIZED, "403": _FORBIDDEN,
            "404": openapi.error_response("No such sitting"),
            "422": _INVALID}}},
}
