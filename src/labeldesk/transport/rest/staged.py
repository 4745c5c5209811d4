"""The staged-workflow REST API (Deepen-style tasks API) under ``/api/v2``: parse the request, call
:class:`~labeldesk.services.staged.StagedService`, render JSON. Nothing else happens here.

Every failure, including unknown paths and methods under ``/api/v2``, answers one shape with the
matching HTTP status (docs/staged-workflow.md)::

    {"error": {"code": "conflict", "message": "...", "details": "...", "clarifai_code": 54100,
               "req_id": "..."}}

Successful bulk assignments answer ``204 No Content`` (the seed's "empty response").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

from labeldesk.domain import errors, request_limits
from labeldesk.services.failures import guarded
from labeldesk.services.staged import Caller, StagedService, Window, window
from labeldesk.transport.convert.json_parse import parse_json_body
from labeldesk.transport.status import http_status

PREFIX = "/api/v2"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
ERROR_NAMES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    500: "internal",
    501: "not_implemented",
    503: "try_again",
}
MAX_DIGITS = 18  # every paging number fits in a signed 64-bit integer
PAGING = frozenset({"page", "per_page", "offset", "limit"})
CLIENT = frozenset({"client_id", "clientId"})


def error_response(code: int, message: str, details: str = "", req_id: str = "") -> JSONResponse:
    status = http_status(code)
    body = {
        "error": {
            "code": ERROR_NAMES.get(status, "invalid_request" if status < 500 else "internal"),
            "message": message,
            "details": details,
            "clarifai_code": code,
            "req_id": req_id or uuid.uuid4().hex,
        }
    }
    return JSONResponse(body, status_code=status)


@dataclass(frozen=True)
class Params:
    """What a request carries, read with errors that say what to fix."""

    path: Mapping[str, str]
    query: QueryParams
    body: dict[str, Any]

    def text(self, *names: str) -> str | None:
        for name in names:
            value = self.query.get(name)
            if value:
                return value
        return None

    def number(self, name: str) -> int | None:
        value = self.query.get(name)
        if value is None or value == "":
            return None
        digits = value.strip().lstrip("-")
        if not digits.isdigit():
            raise errors.invalid(f"{name}: expected a whole number, got '{value[:20]}'")
        if len(digits.lstrip("0")) > MAX_DIGITS:
            raise errors.invalid(f"{name}: '{value[:20]}…' is out of range", "give a smaller whole number")
        return int(value)

    def window(self) -> Window:
        return window(
            self.number("page"), self.number("per_page"), self.number("offset"), self.number("limit")
        )

    def client(self) -> str | None:
        return self.text(*sorted(CLIENT))


Call = Callable[[StagedService, Caller, Params], Any]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    call: Call
    query: frozenset[str] = frozenset()


def _list_tasks(s: StagedService, c: Caller, p: Params) -> Any:
    return s.list_dataset_tasks(
        c, p.path["datasetId"], p.client(), p.text("stage"), p.text("state"), p.text("assignee"), p.window()
    )


TaskAction = Callable[[StagedService, Caller, str, Mapping[str, Any]], dict[str, Any]]


def _act(method: TaskAction) -> Call:
    def call(s: StagedService, c: Caller, p: Params) -> Any:
        return method(s, c, p.path["taskId"], p.body)

    return call


ENDPOINTS: Sequence[Endpoint] = (
    Endpoint(
        "GET", "/datasets/{datasetId}/tasks", _list_tasks, PAGING | CLIENT | {"stage", "state", "assignee"}
    ),
    Endpoint(
        "GET",
        "/datasets/{datasetId}/stages",
        lambda s, c, p: s.get_stages(c, p.path["datasetId"], p.client()),
        CLIENT,
    ),
    Endpoint(
        "PUT",
        "/datasets/{datasetId}/stages",
        lambda s, c, p: s.put_stages(c, p.path["datasetId"], p.body, p.client()),
        CLIENT,
    ),
    Endpoint(
        "POST",
        "/datasets/{datasetId}/file_tasks",
        lambda s, c, p: s.assign_file_tasks(c, p.path["datasetId"], p.body, p.client()),
        CLIENT,
    ),
    Endpoint(
        "POST",
        "/datasets/{datasetId}/label_tasks",
        lambda s, c, p: s.assign_label_tasks(c, p.path["datasetId"], p.body, p.client()),
        CLIENT,
    ),
    Endpoint("GET", "/tasks/{taskId}", lambda s, c, p: s.get_task(c, p.path["taskId"])),
    Endpoint("POST", "/tasks/{taskId}/start", _act(StagedService.start_task)),
    Endpoint("POST", "/tasks/{taskId}/submit", _act(StagedService.submit_task)),
    Endpoint("POST", "/tasks/{taskId}/accept", _act(StagedService.accept_task)),
    Endpoint("POST", "/tasks/{taskId}/reject", _act(StagedService.reject_task)),
    Endpoint(
        "GET",
        "/clients/{clientId}/user_tasks",
        lambda s, c, p: s.user_tasks(c, p.path["clientId"], p.text("email"), p.window()),
        PAGING | {"email"},
    ),
    Endpoint(
        "GET",
        "/clients/{clientId}/delayed_tasks",
        lambda s, c, p: s.delayed_tasks(c, p.path["clientId"], p.window()),
        PAGING,
    ),
)


def _check_query(endpoint: Endpoint, query: QueryParams) -> None:
    unknown = sorted(set(query.keys()) - endpoint.query)
    if unknown:
        allowed = ", ".join(sorted(endpoint.query)) or "none"
        raise errors.invalid(f"unknown query parameter(s) {unknown}", f"this endpoint takes: {allowed}")


def _handler(service: StagedService, endpoint: Endpoint) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        req_id = uuid.uuid4().hex
        where = f"{request.method} {request.url.path}"
        raw = await request.body() if request.method in ("POST", "PUT") else b""

        def call() -> Any:
            _check_query(endpoint, request.query_params)
            body = parse_json_body(raw) if raw else {}
            request_limits.check_json({**request.path_params, **request.query_params, **body}, "request")
            params = Params(dict(request.path_params), request.query_params, body)
            return endpoint.call(service, Caller(request.headers.get("authorization")), params)

        result = await run_in_threadpool(guarded, where, req_id, call)
        if isinstance(result, errors.ApiError):
            return error_response(result.code, result.description, result.details, req_id)
        return Response(status_code=204) if result is None else JSONResponse(result)

    return handle


def staged_routes(service: StagedService) -> list[BaseRoute]:
    """The endpoints, then a catch-all under /api/v2 answering 404/405 in the same error shape."""
    routes = [
        Route(PREFIX + e.path, _handler(service, e), methods=[e.method], name=f"staged {e.method} {e.path}")
        for e in ENDPOINTS
    ]

    async def fallback(request: Request) -> Response:
        allowed = sorted(
            {m for r in routes if r.matches(request.scope)[0] is not Match.NONE for m in r.methods or ()}
            - {"HEAD"}
        )
        if allowed:
            return error_response(
                sc.CONN_METHOD_NOT_ALLOWED,
                f"{request.method} is not allowed on {request.url.path}",
                f"allowed: {', '.join(allowed)}",
            )
        return error_response(
            errors.DOES_NOT_EXIST,
            f"no staged-workflow endpoint at {request.method} {request.url.path}",
            "see docs/staged-workflow.md for the endpoints under /api/v2",
        )

    return [*routes, Route(PREFIX + "/{rest:path}", fallback, methods=METHODS)]


def served() -> list[tuple[str, str]]:
    """(method, path) of every endpoint, as the OpenAPI document names them."""
    return [(e.method, PREFIX + e.path) for e in ENDPOINTS]
