"""Answers in the Clarifai shape for requests that never reach an RPC (no route, too large, no key)."""

from __future__ import annotations

import uuid

from starlette.responses import JSONResponse

from labeldesk.transport.status import http_status


def error_body(code: int, description: str, details: str = "") -> dict[str, object]:
    return {
        "status": {"code": code, "description": description, "details": details, "req_id": uuid.uuid4().hex}
    }


def error_response(code: int, description: str, details: str = "") -> JSONResponse:
    return JSONResponse(error_body(code, description, details), status_code=http_status(code))
