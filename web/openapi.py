"""The OpenAPI document at /api/openapi.json: features register the paths they serve.

Keeping the document next to the handlers that serve it (each feature registers its own
paths at setup) keeps it honest; tests validate it with openapi-spec-validator.
"""

from __future__ import annotations

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
    for path, item in paths.items():
        doc["paths"].setdefault(path, {}).update(item)
    doc["components"]["schemas"].update(schemas or {})


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


def setup(app: web.Application, title: str) -> None:
    app[OPENAPI] = base_document(title)
    app.router.add_get("/api/openapi.json", openapi_json, name="openapi")
