"""OpenAPI description of the public appeals API (registered by web/appeals.setup)."""

from __future__ import annotations

from typing import Any

_ERR = {"$ref": "#/components/schemas/Error"}
_FIELD_ERR = {"$ref": "#/components/schemas/AppealFieldErrors"}


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

SCHEMAS: dict[str, Any] = {
    "AppealInput": {
        "type": "object",
        "required": ["name", "residence", "subject", "text", "consent"],
        "properties": {
            "name": {"type": "string", "minLength": 3, "maxLength": 200,
                     "description": "Full name (art. 5; anonymous appeals are refused, art. 8)"},
            "residence": {"type": "string", "minLength": 3, "maxLength": 500},
            "email": {"type": "string", "format": "email"},
            "phone": {"type": "string", "pattern": "^\\+?[0-9][0-9 ()\\-]{5,22}[0-9]$"},
            "addressee_deputy": {"type": "string", "description": "A deputy's roster id"},
            "addressee_district": {"type": "integer",
                                   "description": "Electoral district; its deputies see it"},
            "type": {"type": "string", "enum": ["proposal", "application", "complaint"],
                     "default": "application"},
            "subject": {"type": "string", "minLength": 3, "maxLength": 300},
            "text": {"type": "string", "minLength": 5, "maxLength": 20000},
            "consent": {"const": True, "description": "Consent to personal-data processing "
                                                      "(required: without it the appeal is refused)"},
            "attachments": {"type": "array", "maxItems": 5, "description": "multipart only",
                            "items": {"type": "string", "format": "binary"}},
        },
        "anyOf": [{"required": ["email"]}, {"required": ["phone"]}],
        "description": "Neither addressee field: the secretariat routes the appeal. One of "
                       "email / phone is required.",
    },
    "AppealCreated": {
        "type": "object", "required": ["number", "token", "status_url", "deadline"],
        "properties": {"number": {"type": "string", "examples": ["Д-2026/000123"]},
                       "token": {"type": "string"}, "status_url": {"type": "string"},
                       "deadline": {"type": "string", "format": "date"}},
    },
    "AppealStatus": {
        "type": "object",
        "required": ["number", "status", "registered_at", "deadline", "history", "answer"],
        "properties": {
            "number": {"type": "string"},
            "status": {"type": "string", "enum": ["registered", "in_progress", "answered", "closed"]},
            "registered_at": {"type": "string", "format": "date-time"},
            "deadline": {"type": "string", "format": "date"},
            "history": {"type": "array", "items": {"type": "object", "properties": {
                "kind": {"type": "string"}, "status": {"type": "string"},
                "at": {"type": "string", "format": "date-time"},
                "note": {"type": ["string", "null"]}}}},
            "answer": {"type": ["object", "null"], "properties": {
                "text": {"type": "string"},
                "answered_at": {"type": ["string", "null"], "format": "date-time"},
                "attachments": {"type": "array", "items": {"type": "object"}}}},
        },
    },
    "AppealFieldErrors": {
        "allOf": [_ERR, {"type": "object", "properties": {"fields": {
            "type": "object", "additionalProperties": {"type": "string"},
            "description": "field name -> reason"}}}],
    },
    "AppealMessage": {"type": "object", "properties": {"text": {"type": "string"}}},
}

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
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/AppealInput"}},
            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/AppealInput"}}}},
        "responses": {
            "201": {**_resp("Registered", {"$ref": "#/components/schemas/AppealCreated"}),
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
        "responses": {"200": _resp("The appeal", {"$ref": "#/components/schemas/AppealStatus"}),
                      "404": _resp("No such token", _ERR)}}},
    "/api/v1/appeals/{token}/messages": {"post": {
        "operationId": "addAppealMessage",
        "summary": "Add a follow-up message or documents to an appeal",
        "parameters": [_TOKEN],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/AppealMessage"}},
            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/AppealMessage"}}}},
        "responses": {"201": _resp("Added"), "404": _resp("No such token", _ERR),
                      "409": _resp("The appeal is closed", _ERR),
                      "422": _resp("Empty message", _FIELD_ERR), **_COMMON_ERRORS}}},
}
