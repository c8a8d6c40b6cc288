"""The public appeals API's operations in the OpenAPI document (registered by web/appeals.setup);
every body's schema is generated from its model in web.appeals.models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from web.appeals import models
from web.openapi import Error, FieldErrors, ref, request_body

_ERR = ref(Error)
_FIELD_ERR = ref(FieldErrors)


def _resp(description: str, schema: dict[str, Any] | None = None,
          headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    if headers:
        out["headers"] = headers
    return out


_RETRY = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
_TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"},
          "description": "The appeal's status token (from the submission's answer)"}
_COMMON_ERRORS = {
    "413": _resp("An attachment is too large, or too many attachments", _ERR),
    "415": _resp("An attachment is not PDF, JPEG, PNG or DOCX (checked by content)", _ERR),
    "429": _resp("Rate limit per client address", _ERR, _RETRY),
}

REQUESTS: list[type[BaseModel]] = [models.AppealInput, models.AppealMessage]
RESPONSES: list[type[BaseModel]] = [models.AppealCreated, models.AppealStatus]

_APPEAL_LINKS = {  # what a client (and schemathesis) does next with the new appeal's token
    "GetAppeal": {"operationId": "getAppeal", "parameters": {"token": "$response.body#/token"}},
    "AddAppealMessage": {"operationId": "addAppealMessage",
                         "parameters": {"token": "$response.body#/token"}},
}

PATHS: dict[str, Any] = {
    "/api/v1/appeals": {"post": {
        "operationId": "submitAppeal",
        "summary": "Submit a citizen's appeal; it is stored before the answer",
        "parameters": [{
            "name": "Idempotency-Key", "in": "header", "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
            "description": "Send a retry safely: the same key (from the same client address) with "
                           "the same request answers the appeal it registered (header "
                           "Idempotent-Replayed: true) for 24 hours; with a different request "
                           "it is refused (422 KB_IDEMPOTENCY_KEY_REUSED). 400 if malformed."}],
        "requestBody": request_body(models.AppealInput, "application/json", "multipart/form-data"),
        "responses": {
            "201": {**_resp("Registered", ref(models.AppealCreated)),
                    "links": _APPEAL_LINKS},
            "400": _resp("Not JSON or multipart, or a body that cannot be read", _ERR),
            "422": _resp("Field-by-field reasons (KB_INVALID_APPEAL; KB_APPEAL_ANONYMOUS when "
                         "name or residence is missing)", _FIELD_ERR),
            **_COMMON_ERRORS,
        }}},
    "/api/v1/appeals/{token}": {"get": {
        "operationId": "getAppeal",
        "summary": "An appeal's status, history and official answer",
        "parameters": [_TOKEN],
        "responses": {"200": _resp("The appeal", ref(models.AppealStatus)),
                      "404": _resp("No such token", _ERR)}}},
    "/api/v1/appeals/{token}/messages": {"post": {
        "operationId": "addAppealMessage",
        "summary": "Add a follow-up message or documents to an appeal",
        "parameters": [_TOKEN],
        "requestBody": request_body(models.AppealMessage, "application/json",
                                    "multipart/form-data"),
        "responses": {"201": _resp("Added"), "404": _resp("No such token", _ERR),
                      "409": _resp("The appeal is closed", _ERR),
                      "422": _resp("Empty message", _FIELD_ERR), **_COMMON_ERRORS}}},
}
