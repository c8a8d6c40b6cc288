"""The votes JSON API: a sitting's results are public; opening registration and votes, closing
the current vote, absences and conflicts take the secretariat: a signed-in session (with its
X-CSRF-Token header) or the staff token (web.accounts.staff). Each write is one unit of work with
its audit entry, then delivery and the hall view are woken. Domain refusals (VoteError) are
answered by web.errors' table."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from council import sittings
from council import votes as domain
from council.accounts import audit
from web import openapi
from web.accounts.common import viewer_of
from web.accounts.staff import staff_api
from web.errors import invalid, json_error, read_json
from web.pages import sitting_id
from web.votes import models
from web.votes.common import DEPS, Deps, iso

API = domain.Actor.staff_tool("api")


def _actor(request: web.Request) -> domain.Actor:
    """The staff token acts as the `api` tool; a signed-in person as themselves."""
    me = viewer_of(request)
    return API if me.session_id is None else domain.Actor.matrix(me.mxid)


async def _audit(s: AsyncSession, request: web.Request, action: str, sid: int,
                 **detail: object) -> None:
    await audit.record(s, viewer_of(request).actor, action, audit.subject("sitting", sid),
                       {**detail, "via": "api"})


def _answer(body: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(body.model_dump(mode="json"), status=status)


M = TypeVar("M", bound=BaseModel)

def _vote(v: domain.VoteView) -> models.VoteResult:
    return models.VoteResult(
        id=v.id, number=v.number, item_number=v.item_number, item_title=v.item_title,
        majority=v.majority, majority_uk=domain.MAJORITY_UK.get(v.majority, v.majority),
        majority_en=domain.MAJORITY_EN.get(v.majority, v.majority), threshold=v.threshold,
        total=v.total, status=v.status, opened_at=iso(v.opened_at) or "",
        closes_at=iso(v.closes_at), closed_at=iso(v.closed_at), outcome=v.outcome,
        outcome_uk=domain.OUTCOME_UK.get(v.outcome) if v.outcome else None,
        outcome_en=domain.OUTCOME_EN.get(v.outcome) if v.outcome else None,
        totals=dict(v.totals or {}), digest=v.digest,
        roll_call=[models.RollCallLine(
            member_id=x.member_id, name=x.name, faction=x.faction, result=x.result,
            result_uk=domain.RESULT_UK[x.result], result_en=domain.RESULT_EN[x.result])
            for x in v.roll_call],
        conflicts=[models.ConflictLine(member_id=c.member_id, name=c.name, text=c.text)
                   for c in v.conflicts])


def _attendance(a: domain.AttendanceView) -> models.Attendance:
    return models.Attendance(
        opened=a.opened, total=a.total, quorum=a.quorum, has_quorum=a.has_quorum,
        registered=[models.Member(member_id=m, name=n) for m, n in a.registered],
        absences=[models.AbsenceLine(member_id=m, name=n, reason=r) for m, n, r in a.absences])


async def api_votes(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    sid = sitting_id(request)
    async with deps.store.session() as s:
        await sittings.get_sitting(s, sid)  # unknown: 404 KB_UNKNOWN_SITTING
        views = await domain.sitting_votes(s, sid)
        attendance = await domain.attendance(s, ctx, sid)
    return _answer(models.SittingVotes(sitting=sid, url=f"/sittings/{sid}",
                                       attendance=_attendance(attendance),
                                       votes=[_vote(v) for v in views]))


async def _body(request: web.Request, model: type[M]) -> M | web.Response:
    """The body validated by `model`, or the error to answer with (nothing is written)."""
    data = await read_json(request)  # malformed JSON: BadInput, a 4xx from web.errors
    if not isinstance(data, dict):
        return json_error(400, "KB_BAD_JSON", "The body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return invalid(exc)


def _changed(deps: Deps, sid: int) -> None:
    deps.on_change()  # delivery: the ballots and notices queued
    deps.changes.changed(sid)  # the hall view


@staff_api(DEPS)
async def api_open_registration(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    sid = sitting_id(request)
    async with deps.store.session() as s:
        reg = await domain.open_registration(s, deps.context(), sid, _actor(request))
        await _audit(s, request, "registration.open", sid, round=reg.round)
        body = models.RegistrationOpened(id=reg.id, sitting=sid, round=reg.round,
                                         total=reg.total, quorum=reg.quorum)
    _changed(deps, sid)
    return _answer(body, 201)


@staff_api(DEPS)
async def api_open_vote(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    sid = sitting_id(request)
    spec = await _body(request, domain.OpenVote)
    if isinstance(spec, web.Response):
        return spec
    async with deps.store.session() as s:
        vote = await domain.open_vote(s, deps.context(), sid, _actor(request), spec)
        await _audit(s, request, "vote.open", sid, vote=vote.id, item=spec.item,
                     majority=vote.majority)
        body = models.VoteOpened(id=vote.id, sitting=sid, number=vote.number, item_number=spec.item,
                                 majority=vote.majority, threshold=vote.threshold, total=vote.total,
                                 status=vote.status, closes_at=iso(vote.closes_at))
    _changed(deps, sid)
    return _answer(body, 201)


@staff_api(DEPS)
async def api_close_vote(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    sid = sitting_id(request)
    async with deps.store.session() as s:
        vote = await domain.close_current(s, ctx, sid, _actor(request))  # unknown sitting: 404
        await _audit(s, request, "vote.close", sid, vote=vote.id)
        body = models.VoteClosing(id=vote.id, sitting=sid, number=vote.number, status=vote.status)
    _changed(deps, sid)
    return _answer(body, 202)


@staff_api(DEPS)
async def api_absence(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    sid = sitting_id(request)
    spec = await _body(request, domain.NewAbsence)
    if isinstance(spec, web.Response):
        return spec
    async with deps.store.session() as s:
        row = await domain.notify_absence(s, deps.context(), sid, _actor(request), spec)
        await _audit(s, request, "absence.note", sid, member=spec.member)
        body = models.AbsenceNoted(sitting=sid, member=row.member_id, reason=row.reason)
    _changed(deps, sid)
    return _answer(body, 201)


@staff_api(DEPS)
async def api_conflict(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    sid = sitting_id(request)
    spec = await _body(request, domain.NewConflict)
    if isinstance(spec, web.Response):
        return spec
    async with deps.store.session() as s:
        row = await domain.declare_conflict(s, deps.context(), sid, _actor(request), spec)
        await _audit(s, request, "conflict.declare", sid, member=spec.member, item=spec.item)
        body = models.ConflictDeclared(sitting=sid, item=spec.item, member=row.member_id,
                                       text=row.text)
    _changed(deps, sid)
    return _answer(body, 201)


def add_routes(app: web.Application) -> None:
    base = "/api/v1/sittings/{id}"
    app.router.add_get(f"{base}/votes", api_votes)
    app.router.add_post(f"{base}/votes", api_open_vote)
    app.router.add_post(f"{base}/votes/current/close", api_close_vote)
    app.router.add_post(f"{base}/registration", api_open_registration)
    app.router.add_post(f"{base}/absences", api_absence)
    app.router.add_post(f"{base}/conflicts", api_conflict)
    openapi.register(app, PATHS, openapi.schemas(
        requests=[domain.OpenVote, domain.NewAbsence, domain.NewConflict],
        responses=[models.SittingVotes, models.RegistrationOpened, models.VoteOpened,
                   models.VoteClosing, models.AbsenceNoted, models.ConflictDeclared]))


_ID = {"name": "id", "in": "path", "required": True,
       "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
       "description": "The sitting's id; anything else is a 404"}
_STAFF: list[dict[str, list[str]]] = [{"staffToken": []}]
_err = openapi.error_response
_INVALID = openapi.json_answer("Field-by-field reasons (KB_INVALID)", openapi.FieldErrors)


def _write(operation_id: str, summary: str, answer: dict[str, Any], status: str,
           body: type[BaseModel] | None, conflict: str, not_found: str = "No such sitting "
           "(KB_UNKNOWN_SITTING)") -> dict[str, Any]:
    """A staff write's documentation: its answers, refusals and (if any) its body."""
    op: dict[str, Any] = {
        "operationId": operation_id, "summary": summary, "security": _STAFF, "parameters": [_ID],
        "responses": {
            status: answer,
            "400": _err("Malformed body, or a refusal with its own errcode"),
            "401": _err("Neither a secretariat session nor the staff token (KB_UNAUTHORIZED)"),
            "403": _err("Signed in without a secretariat role (KB_FORBIDDEN), a session call "
                        "without X-CSRF-Token (KB_CSRF), a refusal of the sitting's chair "
                        "(KB_NOT_CHAIR), or the staff API is off on a site without sign-in"),
            "404": _err(not_found),
            "409": _err(conflict),
            "422": {**_INVALID, "description": "Field-by-field reasons (KB_INVALID); a member "
                                               "not of this body (KB_NOT_A_MEMBER)"}}}
    if body is not None:
        op["requestBody"] = openapi.request_body(body)
    return op


PATHS: dict[str, Any] = {
    "/api/v1/sittings/{id}/votes": {
        "get": {"operationId": "getSittingVotes",
                "summary": "A sitting's roll-call votes (with conflicts) and its attendance",
                "parameters": [_ID],
                "responses": {"200": openapi.json_answer("The votes", models.SittingVotes),
                              "404": _err("No such sitting")}},
        "post": _write("openVote", "Open a roll-call vote on an agenda item (staff)",
                       openapi.json_answer("Opened: the poll is posted", models.VoteOpened), "201",
                       domain.OpenVote, "Another vote is open (KB_VOTE_OPEN), no quorum "
                       "(KB_NO_QUORUM), or the item was withdrawn (KB_ITEM_WITHDRAWN)",
                       "No such sitting, or no such item (KB_UNKNOWN_ITEM)")},
    "/api/v1/sittings/{id}/votes/current/close": {
        "post": _write("closeVote", "Close the current vote (staff); counted when the poll's end "
                       "is back from the homeserver",
                       openapi.json_answer("Closing", models.VoteClosing), "202", None,
                       "No vote is open (KB_NO_VOTE), or it is already closing (KB_VOTE_CLOSED)")},
    "/api/v1/sittings/{id}/registration": {
        "post": _write("openRegistration", "Open (or repeat) registration at a sitting (staff)",
                       openapi.json_answer("Opened: the ballot is posted", models.RegistrationOpened),
                       "201", None, "Refused by the sitting's state")},
    "/api/v1/sittings/{id}/absences": {
        "post": _write("notifyAbsence", "Note a member's absence with its reason (staff)",
                       openapi.json_answer("Noted (the latest notice stands)", models.AbsenceNoted),
                       "201", domain.NewAbsence, "Refused by the sitting's state")},
    "/api/v1/sittings/{id}/conflicts": {
        "post": _write("declareConflict", "Declare a member's conflict of interest on an item "
                       "(staff)", openapi.json_answer("Declared (the latest text stands)",
                                                      models.ConflictDeclared),
                       "201", domain.NewConflict, "The item was withdrawn (KB_ITEM_WITHDRAWN)",
                       "No such sitting, or no such item (KB_UNKNOWN_ITEM)")},
}
