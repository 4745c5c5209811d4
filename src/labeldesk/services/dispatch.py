"""One entry point for both transports: authenticate, run the RPC's service method in one
database transaction, and render any failure into the response's ``status``.

Which method serves which RPC, and whether it runs in a read or a write transaction, is
registered explicitly on the method (:mod:`labeldesk.services.registry`). The signature is
``(conn, ctx, request) -> response``.

A service may also offer ``<method>_json``, the same RPC answered as a JSON-ready dict (without
``status``), for responses the generic proto → JSON printer is too slow for (ListAnnotations).
The REST transport asks for it with :meth:`Dispatcher.call_json`; it must equal what the printer
makes of the proto answer, which the tests check.

And ``<method>_prepare(request) -> object``: CPU work on the request alone (PostInputs checks
images and makes thumbnails) that the dispatcher runs once the key is known to be valid but
*before* the transaction, so SQLite's write lock is not held meanwhile; the method finds the
result in ``ctx.prepared``.

Failures take one path: database errors become client errors in the storage layer
(:func:`labeldesk.storage.engine.translate_errors`), anything else unexpected becomes the one
"internal error" of :mod:`labeldesk.services.failures`. The staged-workflow API runs its calls
through :meth:`Dispatcher.execute`, so it shares the transactions, the authenticator and the
failure path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from sqlalchemy import Connection

from labeldesk.domain import errors, request_limits
from labeldesk.files.signing import FileLinks, UrlSigner
from labeldesk.services.auth import Authenticator
from labeldesk.services.context import RequestContext
from labeldesk.services.failures import guarded
from labeldesk.services.registry import (
    V2,
    Handler,
    JsonHandler,
    Kind,
    Preparer,
    Registration,
    register,
    snake,
    unary_methods,
    user_level,
    writes,
)
from labeldesk.storage.engine import Database

__all__ = ["V2", "Dispatcher", "Kind", "Route", "snake", "unary_methods", "user_level", "writes"]

R = TypeVar("R")
#: distinct origins whose :class:`FileLinks` are kept
ORIGINS_KEPT = 256


@dataclass(frozen=True)
class Route:
    method: MethodDescriptor
    handler: Handler | None
    json_handler: JsonHandler | None
    writes: bool
    needs_app: bool
    response_cls: type[Message]
    prepare: Preparer | None = None


def _route(method: MethodDescriptor, reg: Registration | None) -> Route:
    return Route(
        method=method,
        handler=reg.handler if reg else None,
        json_handler=reg.json_handler if reg else None,
        writes=reg.writes if reg else False,
        needs_app=reg.needs_app if reg else True,
        response_cls=GetMessageClass(method.output_type),
        prepare=reg.prepare if reg else None,
    )


class Dispatcher:
    def __init__(
        self,
        db: Database,
        services: Iterable[object],
        authenticator: Authenticator,
        signer: UrlSigner | None = None,
        public_url: str | None = None,
    ) -> None:
        """Raises :class:`~labeldesk.services.registry.RegistrationError` when the services do not
        register their RPCs consistently (so the server does not start). ``signer`` signs
        hosted-file URLs for the origin a transport names (``public_url`` wins)."""
        self.db = db
        self.auth = authenticator
        self.signer = signer
        self.public_url = public_url
        #: the file links of an origin, made once per origin (a few hundred are kept: the REST
        #: origin comes from the client's Host header)
        self._file_links = lru_cache(maxsize=ORIGINS_KEPT)(signer.links) if signer is not None else None
        self.registry = register(services)
        self.routes: dict[str, Route] = {
            m.name: _route(m, self.registry.get(m.name)) for m in unary_methods()
        }

    @property
    def implemented(self) -> set[str]:
        return {name for name, r in self.routes.items() if r.handler is not None}

    def check_key(self, authorization: str | None) -> None:
        """Raise KEY_INVALID unless ``authorization`` names a valid key (before reading a body);
        a key that did a moment ago needs no transaction (:class:`~labeldesk.services.auth.KeyCache`)."""
        if self.auth.known(authorization):
            return
        with self.db.read() as conn:
            self.auth.key(conn, authorization)

    def reject(self, rpc: str, error: errors.ApiError) -> Message:
        """The RPC's response carrying ``error``: for requests that never became a message."""
        return _failure(self.routes[rpc], error, _req_id())

    def call(
        self, rpc: str, request: Message, authorization: str | None, origin: str | None = None
    ) -> Message:
        """Run one RPC; never raises: failures come back in ``response.status``. ``origin``
        (``http://host:port``) is where the caller reaches the server's files route."""
        return self.call_with(rpc, self.routes[rpc].handler, request, authorization, origin)

    def call_with(
        self,
        rpc: str,
        handler: Handler | None,
        request: Message,
        authorization: str | None,
        origin: str | None = None,
    ) -> Message:
        """:meth:`call` with ``handler`` in place of the RPC's registered one: a transport's fast
        path that hands the service what it read beside ``request`` (REST PostModelOutputs)."""
        route = self.routes[rpc]
        req_id = _req_id()
        response = self._guarded(route, handler, request, authorization, req_id, origin)
        if isinstance(response, errors.ApiError):
            return _failure(route, response, req_id)
        status = response.status  # type: ignore[attr-defined]
        if not status.code:
            status.code = errors.SUCCESS
            status.description = "Ok"
        status.req_id = req_id
        return response

    def call_json(
        self, rpc: str, request: Message, authorization: str | None, origin: str | None = None
    ) -> Message | dict[str, Any]:
        """:meth:`call`, answered by the RPC's JSON twin when it has one (a dict with ``status``
        first, as the printer orders it); failures are always the proto with its status."""
        route = self.routes[rpc]
        if route.json_handler is None:
            return self.call(rpc, request, authorization, origin)
        req_id = _req_id()
        body = self._guarded(route, route.json_handler, request, authorization, req_id, origin)
        if isinstance(body, errors.ApiError):
            return _failure(route, body, req_id)
        return {"status": {"code": errors.SUCCESS, "description": "Ok", "req_id": req_id}, **body}

    def execute(
        self, where: str, kind: Kind, work: Callable[[Connection], R], req_id: str
    ) -> R | errors.ApiError:
        """``work(conn)`` in one transaction of ``kind``, or the error to answer instead (database
        errors translated, internal ones logged): the path every call takes. ``work`` runs again from
        the start when the database aborts the transaction for contention
        (:meth:`~labeldesk.storage.engine.Database.run`), so it must not have effects outside it
        (:func:`~labeldesk.storage.engine.after_commit` runs those once it committed)."""

        return guarded(where, req_id, lambda: self.db.run(work, write=kind is Kind.WRITE))

    def _guarded(
        self,
        route: Route,
        handler: Callable[[Connection, RequestContext, Any], R] | None,
        request: Message,
        authorization: str | None,
        req_id: str,
        origin: str | None = None,
    ) -> R | errors.ApiError:
        """The handler's answer, or the error to answer instead."""
        rpc = route.method.name
        if handler is None:
            return errors.ApiError(
                errors.NOT_IMPLEMENTED,
                f"labeldesk does not implement {rpc}",
                "see docs/api-coverage.md for the RPCs this server offers",
            )
        uai = getattr(request, "user_app_id", None)
        prepared = self._prepared(route, request, authorization, req_id)
        if isinstance(prepared, errors.ApiError):
            return prepared
        if route.prepare is None:  # once per request, not on each retry of the transaction
            checked = guarded(rpc, req_id, lambda: request_limits.check_message(request))
            if isinstance(checked, errors.ApiError):
                return checked
        links = self._links(origin)

        def work(conn: Connection) -> R:
            ctx = self.auth.authenticate(
                conn, authorization, uai, rpc, route.needs_app, req_id, links, prepared
            )
            return handler(conn, ctx, request)

        return self.execute(rpc, Kind.WRITE if route.writes else Kind.READ, work, req_id)

    def _prepared(self, route: Route, request: Message, authorization: str | None, req_id: str) -> object:
        """The route's ``_prepare`` step on the request (None without one), run for a valid key
        only and outside any transaction; or the error to answer instead."""
        prepare = route.prepare
        if prepare is None:
            return None

        def run() -> object:
            request_limits.check_message(request)
            self.check_key(authorization)
            return prepare(request)

        return guarded(route.method.name, req_id, run)

    def _links(self, origin: str | None) -> FileLinks | None:
        where = self.public_url or origin
        return self._file_links(where) if self._file_links is not None and where else None


def _req_id() -> str:
    """A fresh request id: 32 hex characters (``uuid4().hex`` costs several times more)."""
    return os.urandom(16).hex()


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
