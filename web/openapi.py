"""The OpenAPI document at /api/openapi.json: features register the paths they serve.

Keeping the document next to the handlers that serve it (each feature registers its own
paths at setup) keeps it honest; tests validate it with openapi-spec-validator.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)

ERROR_SCHEMA = {
    "type": "object",
    "required": ["errcode", "error"],
    "properties": {
        "errcode": {"type": "string", "description": "Stable error code, e.g. KB_NOT_FOUND"},
        "error": {"type": "string", "description": "Human-readable message"},
    },
    "additionalProperties": True,
}


def error_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A documented error answer: the {errcode, error} body."""
    out: dict[str, Any] = {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}
    if headers:
        out["headers"] = headers
    return out


# What any operation that reads a body may answer before its handler sees the body (web.errors).
BODY_ERRORS = {
    "400": error_response("The body cannot be read: malformed JSON (or nested too deeply, or "
                          "NaN), malformed multipart (part headers, boundary, truncated), text "
                          "not in its charset, or a Content-Encoding that does not decode"),
    "413": error_response("The body is too large (from Content-Length, before it is read)"),
    "415": error_response("Unsupported media type, charset or Content-Encoding"),
}


def base_document(title: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1",
                 "description": "Kabinet public and staff JSON API. Errors: {errcode, error}."},
        "paths": {},
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"staffToken": {"type": "http", "scheme": "bearer"}},
        },
    }


def register(app: web.Application, paths: dict[str, Any],
             schemas: dict[str, Any] | None = None) -> None:
    """Add path items (and component schemas) to the app's OpenAPI document."""
    doc = app[OPENAPI]
    for path, item in copy.deepcopy(paths).items():
        for operation in item.values():
            if "requestBody" in operation:  # every body goes through web.errors' checks
                for status, response in BODY_ERRORS.items():
                    operation["responses"].setdefault(status, response)
        doc["paths"].setdefault(path, {}).update(item)
    doc["components"]["schemas"].update(schemas or {})


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


def setup(app: web.Application, title: str) -> None:
    app[OPENAPI] = base_document(title)
    app.router.add_get("/api/openapi.json", openapi_json, name="openapi")
