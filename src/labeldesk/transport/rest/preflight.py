"""OPTIONS requests in the Clarifai error shape.

No Clarifai RPC is bound to OPTIONS. A browser's CORS preflight is answered by
:class:`ClarifaiCORS` when the operator named origins (``--cors-origin``); every other OPTIONS
request (a preflight while CORS is off, a refused preflight, a plain ``OPTIONS`` probe) gets a
``{"status": {...}}`` body saying why and what to do, instead of Starlette's plain-text answers.
"""

from __future__ import annotations

from collections.abc import Collection

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from labeldesk.transport.rest.responses import error_body
from labeldesk.transport.status import http_status

ENABLE_HINT = "start the server with --cors-origin ORIGIN (or LABELDESK_CORS_ORIGINS) to allow it"


def _answer(code: int, description: str, details: str, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(
        error_body(code, description, details), status_code=http_status(code), headers=headers
    )


def other_routes_methods(request: Request) -> set[str]:
    """Methods the app's own (non-Clarifai) routes take at this path: web UI, staged API, ops."""
    found: set[str] = set()
    for route in request.app.router.routes:
        if (
            isinstance(route, Route)
            and route.path != "/{path:path}"
            and route.path_regex.match(request.url.path)
        ):
            found.update(route.methods or ())
    found.discard("HEAD")
    return found


def is_preflight(headers: Headers) -> bool:
    return "origin" in headers and "access-control-request-method" in headers


def options_response(request: Request, allowed: Collection[str], cors_enabled: bool) -> Response:
    """What an OPTIONS request that no CORS middleware answered gets (always an error status)."""
    path = request.url.path
    allowed = {*allowed, *other_routes_methods(request)}
    methods = ", ".join(sorted(allowed)) or "none (no route at this path)"
    if is_preflight(request.headers) and not cors_enabled:
        origin = request.headers["origin"]
        return _answer(
            sc.CONN_METHOD_NOT_ALLOWED,
            f"cross-origin requests are off: this server answers only same-origin calls, so the "
            f"preflight from '{origin}' for {path} is refused; {ENABLE_HINT}",
            f"methods at this path: {methods}",
            {"Allow": ", ".join(sorted(allowed))},
        )
    return _answer(
        sc.CONN_METHOD_NOT_ALLOWED,
        f"OPTIONS is not an API method on {path}; call it with one of: {methods}",
        "a browser preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered only "
        "for origins named by --cors-origin",
        {"Allow": ", ".join(sorted(allowed))},
    )


class ClarifaiCORS(CORSMiddleware):
    """Starlette's CORS middleware, with refused preflights answered in the Clarifai shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode("utf-8", "replace").removeprefix("Disallowed CORS ")
        keep = {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}
        origin = request_headers.get("origin", "")
        return _answer(
            sc.CONN_INVALID_REQUEST,
            f"cross-origin preflight refused: {refused} not allowed (origin '{origin}', method "
            f"'{request_headers.get('access-control-request-method', '')}', headers "
            f"'{request_headers.get('access-control-request-headers', '')}')",
            f"allowed methods: {', '.join(self.allow_methods)}; allowed headers: "
            f"{', '.join(sorted(self.allow_headers))}; other origins: {ENABLE_HINT}",
            keep,
        )
