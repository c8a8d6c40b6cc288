"""The OpenAPI document at /api/openapi.json: features register the paths they serve.

Keeping the document next to the handlers that serve it (each feature registers its own
paths at setup) keeps it honest; tests validate it with openapi-spec-validator. Every body's
schema is generated from the pydantic model that validates (requests) or builds (responses) it:
`schemas()` puts them under components/schemas, `ref()` points at one.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)
REF_TEMPLATE = "#/components/schemas/{model}"


class Error(BaseModel):
    """Every error answer (web.errors.json_error); some carry more, e.g. `fields`."""

    model_config = ConfigDict(extra="allow")

    errcode: str = Field(description="Stable error code, e.g. KB_NOT_FOUND")
    error: str = Field(description="Human-readable message")


class FieldErrors(Error):
    fields: dict[str, str] = Field(default_factory=dict, description="field name -> reason")


def schemas(requests: Sequence[type[BaseModel]] = (), responses: Sequence[type[BaseModel]] = ()
            ) -> dict[str, Any]:
    """Component schemas of request models (as they validate) and response models (as they
    serialize), with every model they nest; keyed by class name, as `ref()` points."""
    pairs = [(m, "validation") for m in requests] + [(m, "serialization") for m in responses]
    _, top = models_json_schema(pairs, ref_template=REF_TEMPLATE)  # type: ignore[arg-type]
    return dict(top.get("$defs", {}))


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def json_answer(description: str, model: type[BaseModel] | None = None,
                headers: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A documented answer, with its JSON body's model (none: no body described)."""
    out: dict[str, Any] = {"description": description, **extra}
    if model is not None:
        out["content"] = {"application/json": {"schema": ref(model)}}
    if headers:
        out["headers"] = headers
    return out


def error_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A documented error answer: the {errcode, error} body."""
    return json_answer(description, Error, headers)


def request_body(model: type[BaseModel], *media_types: str) -> dict[str, Any]:
    return {"required": True, "content": {t: {"schema": ref(model)} for t in
                                          media_types or ("application/json",)}}


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
            "schemas": schemas(responses=[Error, FieldErrors]),
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
