"""The OpenAPI 3 document of /api/v1/ (served at /api/v1/openapi.json).

Hand-written next to the views; tests/portal/test_api_openapi.py checks that its paths and
methods are exactly the routes of api_urls.py.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

_REF = "#/components/schemas/"
_ERRORS = {
    "400": "bad request (invalid field, manifest, JSON or cursor)",
    "401": "missing, unknown or revoked API key",
    "404": "no such share for this clinic",
    "409": "the share has ended, or the Idempotency-Key was used for another request",
    "429": "too many failed logins from this address (see Retry-After)",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _json(_ref("Error"), _ERRORS[code]) for code in codes}


_SHARE_ID = {"name": "share_id", "in": "path", "required": True, "schema": {"type": "string"}}
_CURSOR = [
    {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
]


def _action(summary: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [_SHARE_ID],
        "responses": {"200": _json(_ref("Share"), "the share's status")}
        | _errors("400", "401", "404", "409"),
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


_CREATE = {
    "summary": "Create a share from uploaded items",
    "description": (
        "multipart/form-data with a JSON part `manifest` and one part per file. Files are "
        "checked by content: JPEG must decode (Pillow's bomb limit applies), MP4 must hold "
        "one H.264 video stream, no audio, no missing samples. A replay of the same "
        "Idempotency-Key with the same request returns the same share and URL (200, "
        "`Idempotent-Replayed: true`); with a different request, 409."
    ),
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{16,128}$"},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["manifest"],
                    "properties": {"manifest": _ref("Manifest")},
                    "additionalProperties": {"type": "string", "format": "binary"},
                }
            }
        },
    },
    "responses": {
        "201": _json(_ref("CreatedShare"), "created; the URL is returned only here"),
        "200": _json(_ref("CreatedShare"), "a replay of the same Idempotency-Key"),
        "410": _json(_ref("Error"), "the share of this key was purged"),
        "413": _json(_ref("Error"), "a file over the size limit, or an image bomb"),
        "415": _json(_ref("Error"), "not multipart, or a file that is not JPEG/H.264 MP4"),
        "422": _json(_ref("Error"), "a file that is empty, does not decode, has audio or metadata"),
        "503": _json(_ref("Error"), "the portal could not store the files; retry later"),
    }
    | _errors("400", "401", "409", "429"),
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {"error": {"type": "string"}, "detail": {}},
    },
    "Manifest": {
        "type": "object",
        "required": ["password_hash", "delete_code_hash", "items"],
        "additionalProperties": False,
        "properties": {
            "password_hash": {"type": "string", "description": "argon2id hash of the password"},
            "delete_code_hash": {
                "type": "string",
                "description": "argon2id hash of the delete code in capitals",
            },
            "language": {"type": "string", "enum": ["nl", "en"]},
            "expires_at": {"type": "string", "format": "date-time"},
            "items": {"type": "array", "minItems": 1, "items": _ref("ManifestItem")},
        },
    },
    "ManifestItem": {
        "type": "object",
        "required": ["kind", "file", "thumbnail"],
        "additionalProperties": False,
        "properties": {
            "kind": {"type": "string", "enum": ["still", "clip"]},
            "file": {"type": "string", "description": "name of the part: JPEG or MP4"},
            "thumbnail": {"type": "string", "description": "name of the JPEG thumbnail part"},
            "poster": {"type": "string", "description": "clips only: JPEG poster frame part"},
        },
    },
    "Item": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "kind": {"type": "string", "enum": ["still", "clip"]},
            "position": {"type": "integer"},
            "file_name": {"type": "string"},
            "content_type": {"type": "string"},
            "size": {"type": "integer"},
            "sha256": {"type": "string"},
        },
    },
    "Share": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "state": {
                "type": "string",
                "enum": [
                    "active",
                    "revoked",
                    "deleted_by_patient",
                    "expired",
                    "purged",
                    "purge_failed",
                ],
            },
            "open": {"type": "boolean"},
            "ended_reason": {"type": ["string", "null"]},
            "language": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": "string", "format": "date-time"},
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "purged_at": {"type": ["string", "null"], "format": "date-time"},
            "purge_error": {"type": ["string", "null"]},
            "locked": {"type": "boolean"},
            "locked_until": {"type": ["string", "null"], "format": "date-time"},
            "hard_locked": {"type": "boolean"},
            "failed_password_count": {"type": "integer"},
            "total_failed_password_count": {"type": "integer"},
            "delete_code_failures": {"type": "integer"},
            "delete_code_disabled": {"type": "boolean"},
            "items": {"type": "array", "items": _ref("Item")},
        },
    },
    "CreatedShare": {
        "allOf": [_ref("Share"), {"type": "object", "properties": {"url": {"type": "string"}}}]
    },
    "Event": {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "description": "the cursor"},
            "share": {"type": "string"},
            "kind": {
                "type": "string",
                "enum": [
                    "opened",
                    "password_failed",
                    "locked",
                    "viewed",
                    "downloaded",
                    "zip_downloaded",
                    "deleted_by_patient",
                    "revoked",
                    "expired",
                    "purged",
                    "purge_failed",
                ],
            },
            "item": {"type": ["string", "null"]},
            "at": {"type": "string", "format": "date-time"},
        },
    },
    "EventPage": {
        "type": "object",
        "properties": {
            "events": {"type": "array", "items": _ref("Event")},
            "next": {"type": "integer", "description": "pass as `after` for the next page"},
            "more": {"type": "boolean"},
        },
    },
}

_EVENTS_RESPONSES = {"200": _json(_ref("EventPage"), "events after the cursor")}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "echoshare portal API", "version": "1"},
        "servers": [{"url": f"{settings.PORTAL_API_URL}/api/v1"}],
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": _SCHEMAS,
        },
        "paths": {
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3"}},
                }
            },
            "/shares": {"post": _CREATE},
            "/shares/{share_id}": {
                "get": {
                    "summary": "A share's status (never its URL)",
                    "parameters": [_SHARE_ID],
                    "responses": {"200": _json(_ref("Share"), "the share's status")}
                    | _errors("401", "404"),
                }
            },
            "/shares/{share_id}/events": {
                "get": {
                    "summary": "The share's events after a cursor",
                    "parameters": [_SHARE_ID, *_CURSOR],
                    "responses": _EVENTS_RESPONSES | _errors("400", "401", "404"),
                }
            },
            "/shares/{share_id}/extend": {
                "post": _action(
                    "Move the expiry of an open share",
                    {
                        "type": "object",
                        "properties": {
                            "expires_at": {"type": "string", "format": "date-time"},
                            "months": {"type": "integer", "minimum": 1, "maximum": 24},
                        },
                    },
                )
            },
            "/shares/{share_id}/revoke": {"post": _action("End access at once; files follow")},
            "/shares/{share_id}/password": {
                "post": _action(
                    "Replace the password hash (resets the password locks)",
                    {
                        "type": "object",
                        "required": ["password_hash"],
                        "properties": {"password_hash": {"type": "string"}},
                    },
                )
            },
            "/shares/{share_id}/reset-lockouts": {
                "post": _action("Lift password locks and re-enable the delete code")
            },
            "/events": {
                "get": {
                    "summary": "All of this clinic's share events after a cursor",
                    "parameters": _CURSOR,
                    "responses": _EVENTS_RESPONSES | _errors("400", "401"),
                }
            },
        },
    }
