"""The REST/JSON transport: one Starlette endpoint that matches the compiled Clarifai routes,
builds the request proto, calls the dispatcher in a worker thread and answers JSON.

Every answer, including "no such route" and malformed bodies, has the Clarifai shape
``{"status": {"code", "description", "details", "req_id"}}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import orjson
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from labeldesk.domain import errors
from labeldesk.ops.metrics import Metrics
from labeldesk.ops.observe import Observer
from labeldesk.services.dispatch import V2, Dispatcher
from labeldesk.services.failures import guarded
from labeldesk.transport.convert.json_parse import build_request
from labeldesk.transport.rest import model_outputs, staged
from labeldesk.transport.rest.guard import BodyGuard, KeyCheck
from labeldesk.transport.rest.observe import ObserveMiddleware, tag
from labeldesk.transport.rest.openapi import openapi_document
from labeldesk.transport.rest.ops_routes import ops_routes
from labeldesk.transport.rest.preflight import ClarifaiCORS, options_response
from labeldesk.transport.rest.responses import error_response
from labeldesk.transport.rest.routes import Router, compile_routes
from labeldesk.transport.status import http_status
from labeldesk.wire.printer import message_to_json_bytes

METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


def origin_of(request: Request) -> str:
    """``scheme://host[:port]`` as the caller reached us (hosted-file URLs are built on it)."""
    return f"{request.url.scheme}://{request.url.netloc}"


def proto_response(message: Message) -> Response:
    code = message.status.code  # type: ignore[attr-defined]
    return Response(
        message_to_json_bytes(message), status_code=http_status(code), media_type="application/json"
    )


class ClarifaiRest:
    """The endpoint object: holds the router and the dispatcher."""

    def __init__(self, dispatcher: Dispatcher, cors_enabled: bool = False) -> None:
        self.dispatcher = dispatcher
        self.router: Router = compile_routes(V2, dispatcher.implemented)
        self.cors_enabled = cors_enabled

    async def handle(self, request: Request) -> Response:
        # The raw path keeps %2F inside one segment; the router splits first, then decodes.
        raw = request.scope.get("raw_path")
        path = raw.decode("latin-1") if raw else request.url.path
        if request.method == "OPTIONS":
            return options_response(request, self.router.allowed_methods(request.url.path), self.cors_enabled)
        match = self.router.match(request.method, path)
        if match is None:
            allowed = self.router.allowed_methods(request.url.path)
            if allowed:
                return error_response(
                    sc.CONN_METHOD_NOT_ALLOWED,
                    f"{request.method} is not allowed on {request.url.path}",
                    f"allowed: {', '.join(sorted(allowed))}",
                )
            return error_response(
                sc.CONN_DOES_NOT_EXIST,
                f"no API endpoint at {request.method} {request.url.path}",
                "see docs/api-coverage.md for the routes labeldesk serves",
            )
        rpc = match.method.name
        if rpc == model_outputs.RPC:  # images handed through as base64 (transport/rest/model_outputs.py)
            fast = await model_outputs.answer(self.dispatcher, request, match, origin_of(request))
            if fast is not None:
                return fast
        body = await request.body()
        req_id = uuid.uuid4().hex
        query = list(request.query_params.multi_items())
        proto = guarded(f"parsing {rpc}", req_id, lambda: build_request(match, query, body))
        if isinstance(proto, errors.ApiError):
            response = GetMessageClass(match.method.output_type)()
            status = response.status  # type: ignore[attr-defined]
            status.code, status.description, status.details = proto.code, proto.description, proto.details
            status.req_id = req_id
            tag(request, rpc, proto.code, req_id)
            return proto_response(response)
        result = await run_in_threadpool(
            self.dispatcher.call_json, rpc, proto, request.headers.get("authorization"), origin_of(request)
        )
        if isinstance(result, dict):  # a JSON twin's answer: always a success
            tag(request, rpc, result["status"]["code"], result["status"]["req_id"])
            return Response(orjson.dumps(result), media_type="application/json")
        tag(request, rpc, result.status.code, result.status.req_id)  # type: ignore[attr-defined]
        return proto_response(result)


def make_rest_app(
    dispatcher: Dispatcher,
    extra_routes: Sequence[BaseRoute] = (),
    *,
    max_body_bytes: int = 32 * 1024 * 1024,
    cors_origins: Sequence[str] = (),
    check_key: KeyCheck | None = None,
    open_prefixes: Sequence[str] = (),
    metrics: Metrics | None = None,
) -> Starlette:
    """The ASGI app: health, readiness, metrics and OpenAPI routes, any extra routes (web UI,
    staged-workflow API), then /v2; every request is timed into ``metrics`` and the access log.

    Bodies are read only from callers with a valid key and only up to ``max_body_bytes``
    (:mod:`~labeldesk.transport.rest.guard`; ``open_prefixes`` are paths that take bodies without
    a key). Browsers may call cross-origin only from ``cors_origins`` (none: same-origin only)."""
    clarifai = ClarifaiRest(dispatcher, cors_enabled=bool(cors_origins))
    metrics = metrics or Metrics(dispatcher.db.engine, dispatcher.db.counts)

    def openapi() -> dict[str, object]:
        own = [(e.method, staged.PREFIX + e.path, e.query) for e in staged.ENDPOINTS]
        return openapi_document(clarifai.router, dispatcher.implemented, own)

    routes: list[BaseRoute] = [*ops_routes(dispatcher.db, metrics, openapi), *extra_routes]
    routes.append(Route("/{path:path}", clarifai.handle, methods=[*METHODS, "OPTIONS"]))
    middleware: list[Middleware] = [Middleware(ObserveMiddleware, observer=Observer(metrics))]
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
    return Starlette(routes=routes, middleware=middleware)
