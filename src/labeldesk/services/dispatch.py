"""One entry point for both transports: authenticate, run the RPC's service method in one
database transaction, and render any failure into the response's ``status``.

Service methods are found by name: RPC ``PostInputs`` is served by a method ``post_inputs`` on
one of the service objects. Their signature is ``(conn, ctx, request) -> response``.

A service may also offer ``<method>_json``, the same RPC answered as a JSON-ready dict (without
``status``), for responses the generic proto → JSON printer is too slow for (ListAnnotations).
The REST transport asks for it with :meth:`Dispatcher.call_json`; it must equal what the printer
makes of the proto answer, which the tests check.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from clarifai_grpc.grpc.api import service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from labeldesk.domain import errors, request_limits
from labeldesk.services.auth import Authenticator
from labeldesk.services.context import RequestContext
from labeldesk.storage.engine import Database

log = logging.getLogger("labeldesk")

V2: ServiceDescriptor = service_pb2.DESCRIPTOR.services_by_name["V2"]
Handler = Callable[[Connection, RequestContext, Any], Message]
JsonHandler = Callable[[Connection, RequestContext, Any], dict[str, Any]]
R = TypeVar("R")
JSON_SUFFIX = "_json"
F = TypeVar("F", bound=Callable[..., Any])


def writes(fn: F) -> F:
    """Mark a Get/List RPC that changes state (e.g. ListNextTaskAssignments leases work)."""
    fn.__labeldesk_writes__ = True  # type: ignore[attr-defined]
    return fn


def user_level(fn: F) -> F:
    """Mark an RPC that acts for the caller without an app (PostApps, ListApps, keys ...)."""
    fn.__labeldesk_user_level__ = True  # type: ignore[attr-defined]
    return fn


_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(name: str) -> str:
    """RPC name → service method name: PostSearchesByID → post_searches_by_id."""
    return _WORD.sub("_", name).lower()


def unary_methods() -> list[MethodDescriptor]:
    """The V2 RPCs a unary transport can serve (streaming ones are out of scope)."""
    return [m for m in V2.methods if not (m.client_streaming or m.server_streaming)]


def find_handlers(services: Iterable[object]) -> dict[str, Handler]:
    """RPC name → the service method named after it, for every RPC some service implements."""
    services = list(services)
    found: dict[str, Handler] = {}
    for m in unary_methods():
        for service in services:
            handler = getattr(service, snake(m.name), None)
            if handler is not None:
                found[m.name] = handler
                break
    return found


def find_json_handlers(handlers: dict[str, Handler]) -> dict[str, JsonHandler]:
    """RPC name → its ``<method>_json`` twin, for the RPCs (of :func:`find_handlers`) whose
    service offers one."""
    found: dict[str, JsonHandler] = {}
    for rpc, handler in handlers.items():
        twin = getattr(getattr(handler, "__self__", None), snake(rpc) + JSON_SUFFIX, None)
        if twin is not None:
            found[rpc] = twin
    return found


@dataclass(frozen=True)
class Route:
    method: MethodDescriptor
    handler: Handler | None
    json_handler: JsonHandler | None
    writes: bool
    needs_app: bool
    response_cls: type[Message]


class Dispatcher:
    def __init__(self, db: Database, services: Iterable[object], authenticator: Authenticator) -> None:
        self.db = db
        self.auth = authenticator
        self.routes: dict[str, Route] = {}
        handlers = find_handlers(services)
        json_handlers = find_json_handlers(handlers)
        for m in unary_methods():
            handler = handlers.get(m.name)
            verb_reads = m.name.startswith(("Get", "List"))
            self.routes[m.name] = Route(
                method=m,
                handler=handler,
                json_handler=json_handlers.get(m.name),
                writes=bool(getattr(handler, "__labeldesk_writes__", not verb_reads)),
                needs_app=not getattr(handler, "__labeldesk_user_level__", False),
                response_cls=GetMessageClass(m.output_type),
            )

    @property
    def implemented(self) -> set[str]:
        return {name for name, r in self.routes.items() if r.handler is not None}

    def check_key(self, authorization: str | None) -> None:
        """Raise KEY_INVALID unless ``authorization`` names a valid key (before reading a body)."""
        with self.db.read() as conn:
            self.auth.key(conn, authorization)

    def reject(self, rpc: str, error: errors.ApiError) -> Message:
        """The RPC's response carrying ``error``: for requests that never became a message."""
        return _failure(self.routes[rpc], error, uuid.uuid4().hex)

    def call(self, rpc: str, request: Message, authorization: str | None) -> Message:
        """Run one RPC; never raises: failures come back in ``response.status``."""
        route = self.routes[rpc]
        req_id = uuid.uuid4().hex
        response = self._guarded(route, route.handler, request, authorization, req_id)
        if isinstance(response, errors.ApiError):
            return _failure(route, response, req_id)
        status = response.status  # type: ignore[attr-defined]
        if not status.code:
            status.code = errors.SUCCESS
            status.description = "Ok"
        status.req_id = req_id
        return response

    def call_json(self, rpc: str, request: Message, authorization: str | None) -> Message | dict[str, Any]:
        """:meth:`call`, answered by the RPC's JSON twin when it has one (a dict with ``status``
        first, as the printer orders it); failures are always the proto with its status."""
        route = self.routes[rpc]
        if route.json_handler is None:
            return self.call(rpc, request, authorization)
        req_id = uuid.uuid4().hex
        body = self._guarded(route, route.json_handler, request, authorization, req_id)
        if isinstance(body, errors.ApiError):
            return _failure(route, body, req_id)
        return {"status": {"code": errors.SUCCESS, "description": "Ok", "req_id": req_id}, **body}

    def _guarded(
        self,
        route: Route,
        handler: Callable[[Connection, RequestContext, Any], R] | None,
        request: Message,
        authorization: str | None,
        req_id: str,
    ) -> R | errors.ApiError:
        """The handler's answer, or the error to answer instead (internal ones logged)."""
        rpc = route.method.name
        try:
            if handler is None:
                raise errors.ApiError(
                    errors.NOT_IMPLEMENTED,
                    f"labeldesk does not implement {rpc}",
                    "see docs/api-coverage.md for the RPCs this server offers",
                )
            request_limits.check_message(request)
            return self._run(route, handler, request, authorization, req_id)
        except errors.ApiError as e:
            return e
        except Exception:
            log.exception("internal error in %s (req_id %s)", rpc, req_id)
            return errors.ApiError(
                errors.INTERNAL,
                "internal error: the request was not carried out",
                f"report req_id {req_id} to the server's operator",
            )

    def _run(
        self,
        route: Route,
        handler: Callable[[Connection, RequestContext, Any], R],
        request: Message,
        authorization: str | None,
        req_id: str,
    ) -> R:
        uai = getattr(request, "user_app_id", None)
        tx = self.db.write if route.writes else self.db.read
        try:
            with tx() as conn:
                ctx = self.auth.authenticate(conn, authorization, uai, route.method.name, route.needs_app)
                ctx = RequestContext(ctx.caller_id, ctx.app, ctx.scopes, ctx.key_kind, req_id)
                return handler(conn, ctx, request)
        except IntegrityError as e:
            raise errors.ApiError(
                errors.INVALID_REQUEST,
                "the request conflicts with existing data (a duplicate id or a missing reference)",
                str(e.orig)[:300],
            ) from e
        except OperationalError as e:
            if "locked" in str(e.orig).lower() or "deadlock" in str(e.orig).lower():
                raise errors.ApiError(
                    errors.TRY_AGAIN, "the database is busy; nothing was written", "retry the request"
                ) from e
            raise


def _failure(route: Route, error: errors.ApiError, req_id: str) -> Message:
    """The RPC's response message carrying only the error's status."""
    response = route.response_cls()
    _set_status(response, error.code, error.description, error.details, req_id)
    return response


def _set_status(response: Message, code: int, description: str, details: str, req_id: str) -> None:
    status: status_pb2.Status = response.status  # type: ignore[attr-defined]
    status.code = code
    status.description = description
    status.details = details
    status.req_id = req_id
