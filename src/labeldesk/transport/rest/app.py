"""The REST/JSON transport: one Starlette endpoint that matches the compiled Clarifai routes,
builds the request proto, calls the dispatcher in a worker thread and answers JSON.

Every answer, including "no such route" and malformed bodies, has the Clarifai shape
``{"status": {"code", "description", "details", "req_id"}}``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from functools import partial
from urllib.parse import parse_qsl

import orjson
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from labeldesk.domain import errors
from labeldesk.ops.observe import Observer
from labeldesk.services.dispatch import V2, Dispatcher
from labeldesk.services.failures import guarded, internal_error
from labeldesk.transport.convert.json_parse import build_request
from labeldesk.transport.rest import model_outputs, staged
from labeldesk.transport.rest.guard import BodyGuard, KeyCheck
from labeldesk.transport.rest.observe import STATE, ObserveMiddleware
from labeldesk.transport.rest.openapi import openapi_document
from labeldesk.transport.rest.ops_routes import ops_routes
from labeldesk.transport.rest.preflight import ClarifaiCORS, options_response
from labeldesk.transport.rest.responses import error_response
from labeldesk.transport.rest.routes import Router, compile_routes
from labeldesk.transport.status import http_status
from labeldesk.transport.workers import HandOffExecutor, run_in_thread
from labeldesk.wire.printer import message_to_json_bytes

METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
API_METHODS = frozenset(METHODS)
#: threads running REST calls at once (Starlette's default thread pool had 40)
RPC_THREADS = 40


def origin_of(request: Request) -> str:
    """``scheme://host[:port]`` as the caller reached us (hosted-file URLs are built on it)."""
    return f"{request.url.scheme}://{request.url.netloc}"


def proto_response(message: Message) -> Response:
    code = message.status.code  # type: ignore[attr-defined]
    return Response(
        message_to_json_bytes(message), status_code=http_status(code), media_type="application/json"
    )


_JSON_HEADERS = [(b"content-type", b"application/json")]
#: distinct (scheme, Host header, server address) triples remembered by :class:`Origins`
ORIGINS_KEPT = 256


class Origins:
    """:func:`origin_of` by the request's scheme, ``Host`` header and server address, worked out
    by Starlette's rules once per distinct triple (the Host header is the client's to choose, so
    the memory is bounded)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, bytes | None, object], str] = {}

    def __call__(self, scope: Scope) -> str:
        host = next((value for key, value in scope["headers"] if key == b"host"), None)
        key = (scope.get("scheme", "http"), host, scope.get("server"))
        origin = self._known.get(key)
        if origin is None:
            if len(self._known) >= ORIGINS_KEPT:
                self._known.clear()
            url = URL(scope={"scheme": key[0], "server": key[2], "path": "/", "headers": scope["headers"]})
            origin = self._known[key] = f"{url.scheme}://{url.netloc}"
        return origin


def _authorization(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            return str(value.decode("latin-1"))
    return None


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nobody reads the answer
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ClarifaiRest:
    """The ASGI endpoint of every Clarifai route: holds the router and the dispatcher.

    It works on the ASGI scope itself (no Starlette request object), because it runs for every
    API call: :class:`RestApp` hands ``/v2`` requests straight to it (through the same
    middleware), the catch-all route of the Starlette app everything else."""

    def __init__(self, dispatcher: Dispatcher, cors_enabled: bool = False) -> None:
        self.dispatcher = dispatcher
        self.router: Router = compile_routes(V2, dispatcher.implemented)
        self.cors_enabled = cors_enabled
        self.origin = Origins()
        #: the threads RPCs run in (the database calls block)
        self.pool = HandOffExecutor(
            max_workers=RPC_THREADS, thread_name_prefix="rest", turns=dispatcher.db.turns
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "OPTIONS":  # reached through the Starlette app only (it knows its routes)
            request = Request(scope, receive)
            allowed = self.router.allowed_methods(scope["path"])
            await options_response(request, allowed, self.cors_enabled)(scope, receive, send)
            return
        # The raw path keeps %2F inside one segment; the router splits first, then decodes.
        raw = scope.get("raw_path")
        match = self.router.match(method, raw.decode("latin-1") if raw else scope["path"])
        if match is None:
            await self._unrouted(method, scope["path"])(scope, receive, send)
            return
        rpc = match.method.name
        body = await _body(receive)
        if rpc == model_outputs.RPC:  # images handed through as base64 (transport/rest/model_outputs.py)
            auth, origin = _authorization(scope), self.origin(scope)
            fast = await model_outputs.answer(self.dispatcher, self.pool, scope, match, body, auth, origin)
            if fast is not None:
                await _send(send, *fast)
                return
        req_id = _req_id()
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        proto = guarded(f"parsing {rpc}", req_id, lambda: build_request(match, query, body))
        state = scope.setdefault("state", {})
        if isinstance(proto, errors.ApiError):
            response = GetMessageClass(match.method.output_type)()
            status = response.status  # type: ignore[attr-defined]
            status.code, status.description, status.details = proto.code, proto.description, proto.details
            status.req_id = req_id
            state[STATE] = (rpc, proto.code, req_id)
            await _send(send, http_status(proto.code), message_to_json_bytes(response))
            return
        call = partial(self.dispatcher.call_json, rpc, proto, _authorization(scope), self.origin(scope))
        result = await run_in_thread(self.pool, call)
        if isinstance(result, dict):  # a JSON twin's answer: always a success
            state[STATE] = (rpc, result["status"]["code"], result["status"]["req_id"])
            await _send(send, 200, orjson.dumps(result))
            return
        code = result.status.code  # type: ignore[attr-defined]
        state[STATE] = (rpc, code, result.status.req_id)  # type: ignore[attr-defined]
        await _send(send, http_status(code), message_to_json_bytes(result))

    def _unrouted(self, method: str, path: str) -> Response:
        allowed = self.router.allowed_methods(path)
        if allowed:
            return error_response(
                sc.CONN_METHOD_NOT_ALLOWED,
                f"{method} is not allowed on {path}",
                f"allowed: {', '.join(sorted(allowed))}",
            )
        return error_response(
            sc.CONN_DOES_NOT_EXIST,
            f"no API endpoint at {method} {path}",
            "see docs/api-coverage.md for the routes labeldesk serves",
        )


def _req_id() -> str:
    return os.urandom(16).hex()


class RestApp:
    """The ASGI application: Clarifai API calls (``/v2/...``, any method but OPTIONS) go
    straight to :class:`ClarifaiRest` through the same middleware the Starlette app has
    (observation, CORS, the body guard); everything else (health, metrics, files, the web app,
    the staged API, OPTIONS) to the Starlette app, whose catch-all route is the same endpoint.
    Starlette's route scan, request objects and exception layers cost more per call than the
    RPC itself for a trivial read (docs/performance.md, transport)."""

    def __init__(self, starlette: Starlette, api: ASGIApp) -> None:
        self.starlette = starlette
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in API_METHODS and _is_api(scope["path"]):
            try:
                await self.api(scope, receive, send)
            except Exception:  # as Starlette's error layer would, but in the Clarifai shape
                req_id = _req_id()
                failure = internal_error(f"{scope['method']} {scope['path']}", req_id)
                body = orjson.dumps(
                    {
                        "status": {
                            "code": failure.code,
                            "description": failure.description,
                            "details": failure.details,
                            "req_id": req_id,
                        }
                    }
                )
                with contextlib.suppress(Exception):  # the answer had started: nothing to add
                    await _send(send, http_status(failure.code), body)
            return
        await self.starlette(scope, receive, send)


def _is_api(path: str) -> bool:
    return path.startswith("/v2/") or path == "/v2"


def make_rest_app(
    dispatcher: Dispatcher,
    extra_routes: Sequence[BaseRoute] = (),
    *,
    max_body_bytes: int = 32 * 1024 * 1024,
    cors_origins: Sequence[str] = (),
    check_key: KeyCheck | None = None,
    open_prefixes: Sequence[str] = (),
    observer: Observer,
) -> RestApp:
    """The ASGI app: health, readiness, metrics and OpenAPI routes, any extra routes (web UI,
    staged-workflow API), then /v2; every request is timed into ``observer``'s metrics and the
    access log (the gRPC transport may share it).

    Bodies are read only from callers with a valid key and only up to ``max_body_bytes``
    (:mod:`~labeldesk.transport.rest.guard`; ``open_prefixes`` are paths that take bodies without
    a key). Browsers may call cross-origin only from ``cors_origins`` (none: same-origin only)."""
    clarifai = ClarifaiRest(dispatcher, cors_enabled=bool(cors_origins))

    def openapi() -> dict[str, object]:
        own = [(e.method, staged.PREFIX + e.path, e.query) for e in staged.ENDPOINTS]
        return openapi_document(clarifai.router, dispatcher.implemented, own)

    routes: list[BaseRoute] = [*ops_routes(dispatcher.db, observer.metrics, openapi), *extra_routes]
    routes.append(Route("/{path:path}", clarifai, methods=[*METHODS, "OPTIONS"]))
    middleware: list[Middleware] = [Middleware(ObserveMiddleware, observer=observer)]
    if cors_origins:
        middleware.append(
            Middleware(
                ClarifaiCORS,
                allow_origins=list(cors_origins),
                allow_methods=METHODS,
                allow_headers=["Authorization", "Content-Type", "X-Clarifai-Request-ID"],
            )
        )
    middleware.append(
        Middleware(
            BodyGuard,
            check_key=check_key or dispatcher.check_key,
            known=dispatcher.auth.known if check_key is None else (lambda _authorization: False),
            max_body_bytes=max_body_bytes,
            open_prefixes=open_prefixes,
        )
    )
    api: ASGIApp = clarifai
    for layer in reversed(middleware):
        api = layer.cls(api, *layer.args, **layer.kwargs)
    return RestApp(Starlette(routes=routes, middleware=middleware), api)
