"""The staged-workflow REST API (Deepen-style tasks API) under ``/api/v2``: parse the request, call
:class:`~labeldesk.services.staged.StagedService` in a transaction of the dispatcher
(:meth:`~labeldesk.services.dispatch.Dispatcher.execute`: the same transaction, database error
translation and "internal error" as every Clarifai RPC), render JSON. Request bodies are read into
the service's dataclasses by :mod:`.staged_parse` before the transaction opens.

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
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

from labeldesk.domain import errors, request_limits
from labeldesk.domain.stages import Action
from labeldesk.services.dispatch import Dispatcher, Kind
from labeldesk.services.failures import guarded
from labeldesk.services.staged import Caller, StagedService, Window
from labeldesk.transport.convert.json_parse import parse_json_body
from labeldesk.transport.rest import staged_json as out
from labeldesk.transport.rest import staged_parse as parse
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
        return parse.window(
            self.number("page"), self.number("per_page"), self.number("offset"), self.number("limit")
        )

    def client(self) -> str | None:
        return self.text(*sorted(CLIENT))


#: an endpoint's call once its request is parsed: it runs inside the transaction and answers the
#: JSON of :mod:`.staged_json` (None: 204 No Content)
Bound = Callable[[StagedService, Connection, Caller], Any]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    prepare: Callable[[Params], Bound]
    """parse the request (no database yet), answering the call to run in the transaction"""
    query: frozenset[str] = frozenset()


def _list_tasks(p: Params) -> Bound:
    ds, client, win = p.path["datasetId"], p.client(), p.window()
    stage, state, assignee = p.text("stage"), p.text("state"), p.text("assignee")
    return lambda s, conn, c: out.page_json(
        s.list_dataset_tasks(conn, c, ds, client, stage, state, assignee, win)
    )


def _get_stages(p: Params) -> Bound:
    ds, client = p.path["datasetId"], p.client()
    return lambda s, conn, c: out.settings_json(s.get_stages(conn, c, ds, client))


def _put_stages(p: Params) -> Bound:
    ds, client, change = p.path["datasetId"], p.client(), parse.settings_change(p.body)
    return lambda s, conn, c: out.settings_json(s.put_stages(conn, c, ds, change, client))


def _assign(label: bool) -> Callable[[Params], Bound]:
    def prepare(p: Params) -> Bound:
        ds, client, request = p.path["datasetId"], p.client(), parse.assignments(p.body, label)
        return lambda s, conn, c: s.assign(conn, c, ds, request, client, label)

    return prepare


def _get_task(p: Params) -> Bound:
    task_id = p.path["taskId"]
    return lambda s, conn, c: out.task_json(s.get_task(conn, c, task_id))


def _act(action: Action) -> Callable[[Params], Bound]:
    def prepare(p: Params) -> Bound:
        task_id, request = p.path["taskId"], parse.action_request(action, p.body)
        return lambda s, conn, c: out.task_json(s.act(conn, c, task_id, action, request))

    return prepare


def _user_tasks(p: Params) -> Bound:
    client, email, win = p.path["clientId"], p.text("email"), p.window()
    return lambda s, conn, c: out.user_tasks_json(s.user_tasks(conn, c, client, email, win))


def _delayed_tasks(p: Params) -> Bound:
    client, win, app_id = p.path["clientId"], p.window(), p.text("app_id")
    return lambda s, conn, c: out.delayed_json(*s.delayed_tasks(conn, c, client, win, app_id))


ENDPOINTS: Sequence[Endpoint] = (
    Endpoint(
        "GET", "/datasets/{datasetId}/tasks", _list_tasks, PAGING | CLIENT | {"stage", "state", "assignee"}
    ),
    Endpoint("GET", "/datasets/{datasetId}/stages", _get_stages, CLIENT),
    Endpoint("PUT", "/datasets/{datasetId}/stages", _put_stages, CLIENT),
    Endpoint("POST", "/datasets/{datasetId}/file_tasks", _assign(label=False), CLIENT),
    Endpoint("POST", "/datasets/{datasetId}/label_tasks", _assign(label=True), CLIENT),
    Endpoint("GET", "/tasks/{taskId}", _get_task),
    Endpoint("POST", "/tasks/{taskId}/start", _act(Action.START)),
    Endpoint("POST", "/tasks/{taskId}/submit", _act(Action.SUBMIT)),
    Endpoint("POST", "/tasks/{taskId}/accept", _act(Action.ACCEPT)),
    Endpoint("POST", "/tasks/{taskId}/reject", _act(Action.REJECT)),
    Endpoint("GET", "/clients/{clientId}/user_tasks", _user_tasks, PAGING | {"email"}),
    Endpoint("GET", "/clients/{clientId}/delayed_tasks", _delayed_tasks, PAGING | {"app_id"}),
)


def _check_query(endpoint: Endpoint, query: QueryParams) -> None:
    unknown = sorted(set(query.keys()) - endpoint.query)
    if unknown:
        allowed = ", ".join(sorted(endpoint.query)) or "none"
        raise errors.invalid(f"unknown query parameter(s) {unknown}", f"this endpoint takes: {allowed}")


def _handler(service: StagedService, dispatcher: Dispatcher, endpoint: Endpoint) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        req_id = uuid.uuid4().hex
        request.state.req_id = req_id  # the access log line carries the error.req_id answered
        where = f"{request.method} {request.url.path}"
        raw = await request.body() if request.method in ("POST", "PUT") else b""

        def call() -> Any:
            _check_query(endpoint, request.query_params)
            body = parse_json_body(raw) if raw else {}
            request_limits.check_json(dict(request.path_params), "path")
            request_limits.check_json(dict(request.query_params), "query")
            request_limits.check_json(body, "body")
            bound = endpoint.prepare(Params(dict(request.path_params), request.query_params, body))
            caller = Caller(request.headers.get("authorization"))
            # one write transaction: discovery and auto-reassign write even when a call only reads
            return dispatcher.execute(where, Kind.WRITE, lambda conn: bound(service, conn, caller), req_id)

        result = await run_in_threadpool(guarded, where, req_id, call)
        if isinstance(result, errors.ApiError):
            return error_response(result.code, result.description, result.details, req_id)
        return Response(status_code=204) if result is None else JSONResponse(result)

    return handle


def staged_routes(service: StagedService, dispatcher: Dispatcher) -> list[BaseRoute]:
    """The endpoints, then a catch-all under /api/v2 answering 404/405 in the same error shape."""
    routes = [
        Route(
            PREFIX + e.path,
            _handler(service, dispatcher, e),
            methods=[e.method],
            name=f"staged {e.method} {e.path}",
        )
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
