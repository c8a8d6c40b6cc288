"""`GET /api/v1/deputies`: the directory as JSON, searched like the page. Public: anonymous
callers get the public fields; a signed-in session also gets internal contacts and Matrix ids."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from web import openapi
from web.directory import common, models
from web.errors import invalid
from web.pages import ROSTER

__all__ = ["add_routes"]


async def api_deputies(request: web.Request) -> web.Response:
    roster = request.app[ROSTER]
    try:
        query = common.query_of(request)
    except ValidationError as exc:
        return invalid(exc)
    people = [common.out(request, roster, d) for d in common.found(roster, query)]
    body = models.DeputyList(deputies=people, total=len(roster.deputies))
    response = web.json_response(body.model_dump(mode="json"))
    response.headers["Vary"] = "Cookie"  # a session adds the internal fields
    return response


def _parameter(name: str, schema: dict[str, object], description: str) -> dict[str, object]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/deputies", api_deputies, name="api_deputies")
    fields = models.DirectoryQuery.model_fields
    schemas = {"q": {"type": "string", "maxLength": 200},
               "faction": {"type": "string", "maxLength": 200},
               "commission": {"type": "string", "maxLength": 63},
               "district": {"type": "integer", "minimum": 1, "maximum": 999}}
    parameters = [_parameter(name, schemas[name], fields[name].description or "")
                  for name in fields]
    openapi.register(app, {"/api/v1/deputies": {"get": {
        "operationId": "listDeputies",
        "summary": "The council's deputies: public contacts, searched by name, faction, "
                   "commission and district",
        "parameters": parameters,
        "responses": {
            "200": openapi.json_answer("The matching deputies", models.DeputyList),
            "422": openapi.json_answer("A parameter is not valid (e.g. district 0)",
                                       openapi.FieldErrors),
        },
    }}}, openapi.schemas(responses=[models.DeputyList]))
