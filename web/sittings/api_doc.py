"""OpenAPI description of the sittings API (registered by web/sittings.setup).

Every answer a handler gives is listed (the body errors 400/413/415 are added by
web/openapi.register to each operation with a body); links let a client (and schemathesis)
follow a created sitting to its page and its drafts.
"""

from __future__ import annotations

from typing import Any

from web.openapi import error_response

_ID = {"name": "id", "in": "path", "required": True,
       "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
       "description": "The sitting's id; anything else is a 404"}
_STAFF = [{"staffToken": []}]
_UNAUTHORIZED = error_response("No or a wrong staff token (KB_UNAUTHORIZED)")
_FORBIDDEN = error_response("The staff API is off: staff_api_token is not configured")
_NOT_FOUND = error_response("No such sitting")


def _json(description: str, ref: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


_WARNINGS = {"type": "array", "items": {
    "type": "object", "required": ["rule", "message"],
    "properties": {"rule": {"type": "string"}, "message": {"type": "string"}}}}
_TIME = {"type": "string", "format": "date-time", "description": "With its UTC offset"}

SCHEMAS: dict[str, Any] = {
    "Sitting": {
        "type": "object",
        "required": ["id", "kind", "body", "title", "starts_at", "place", "announced_at", "url"],
        "properties": {
            "id": {"type": "integer"}, "kind": {"type": "string"}, "body": {"type": "string"},
            "number": {"type": ["string", "null"]}, "title": {"type": "string"},
            "starts_at": {**_TIME, "description": "Local time of the council, with its offset"},
            "place": {"type": "string"}, "announced_at": _TIME,
            "url": {"type": "string", "description": "The sitting's page on this site"}},
    },
    "SittingList": {"type": "object", "required": ["sittings"], "properties": {
        "sittings": {"type": "array", "items": {"$ref": "#/components/schemas/Sitting"}}}},
    "SittingView": {"allOf": [{"$ref": "#/components/schemas/Sitting"}, {
        "type": "object", "required": ["warnings", "items", "paper"],
        "properties": {
            "warnings": _WARNINGS,
            "items": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "number", "title", "status", "position", "versions"],
                "properties": {
                    "id": {"type": "integer"}, "number": {"type": "string"},
                    "title": {"type": "string"}, "initiator": {"type": ["string", "null"]},
                    "commission": {"type": ["string", "null"]}, "status": {"type": "string"},
                    "position": {"type": "integer"}, "warnings": _WARNINGS,
                    "versions": {"type": "array", "items": {
                        "type": "object",
                        "required": ["version", "filename", "mimetype", "size", "sha256",
                                     "published_at", "download"],
                        "properties": {
                            "version": {"type": "integer"}, "filename": {"type": "string"},
                            "mimetype": {"type": "string"}, "size": {"type": "integer"},
                            "pages": {"type": ["integer", "null"]},
                            "sha256": {"type": "string"}, "published_at": _TIME,
                            "download": {"type": "string"}}}}}}},
            "paper": {"type": "object", "properties": {
                k: {"type": "integer"} for k in ("pages", "recipients", "copies", "sheets")}},
        }}]},
    "DraftPublished": {
        "type": "object", "required": ["id", "number", "title", "version", "sitting", "download"],
        "properties": {"id": {"type": "integer"}, "number": {"type": "string"},
                       "title": {"type": "string"}, "version": {"type": "integer"},
                       "sitting": {"type": "integer"}, "download": {"type": "string"}}},
}

_SITTING_LINKS = {
    "GetSitting": {"operationId": "getSitting", "parameters": {"id": "$response.body#/id"}},
    "AddDraft": {"operationId": "addDraft", "parameters": {"id": "$response.body#/id"}},
}

PATHS: dict[str, Any] = {
    "/api/v1/sittings": {
        "get": {"operationId": "listSittings", "summary": "All sittings",
                "responses": {"200": _json("The list", "SittingList")}},
        "post": {
            "operationId": "createSitting", "summary": "Create a sitting (staff)",
            "security": _STAFF,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/NewSitting"}}}},
            "responses": {
                "201": {**_json("Created", "Sitting"), "links": _SITTING_LINKS},
                "200": {**_json("Already created with this external_key", "Sitting"),
                        "links": _SITTING_LINKS},
                "401": _UNAUTHORIZED, "403": _FORBIDDEN,
                "404": error_response("Unknown commission or body"),
                "422": error_response("Field-by-field reasons (KB_INVALID); a year outside "
                                      "1990-2100")}}},
    "/api/v1/sittings/{id}": {"get": {
        "operationId": "getSitting",
        "summary": "A sitting with its agenda, draft versions, law warnings and paper saved",
        "parameters": [_ID],
        "responses": {"200": _json("The sitting", "SittingView"), "404": _NOT_FOUND}}},
    "/api/v1/sittings/{id}/drafts": {"post": {
        "operationId": "addDraft",
        "summary": "Add an agenda item with its draft decision (staff; PDF, DOCX or ODT)",
        "security": _STAFF,
        "parameters": [_ID],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["number", "title", "initiator", "file"],
            "properties": {"number": {"type": "string"}, "title": {"type": "string"},
                           "initiator": {"type": "string"}, "commission": {"type": "string"},
                           "file": {"type": "string", "format": "binary"}}}}}},
        "responses": {
            "201": _json("Published", "DraftPublished"),
            "400": error_response("No file part, an empty or corrupted file, or a body that "
                                  "cannot be read"),
            "401": _UNAUTHORIZED, "403": _FORBIDDEN,
            "404": error_response("No such sitting, or no such commission (KB_UNKNOWN_COMMISSION)"),
            "409": error_response("The number is taken in this sitting"),
            "413": error_response("The file (or a field) is too large"),
            "415": error_response("Not multipart/form-data, or the file is not PDF, DOCX or ODT"),
            "422": error_response("Field-by-field reasons; a file that cannot be read")}}},
}
