"""ASGI middleware that times every HTTP request and hands it to the
:class:`~labeldesk.ops.observe.Observer`.

Handlers say what they answered with :func:`tag` (RPC name, Clarifai status code, the
``status.req_id`` they sent); requests nobody tagged are labelled by route family (``staged``,
``healthz`` …) and their HTTP status.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labeldesk.ops.observe import Observer

STATE = "labeldesk_observed"
OWN_ROUTES = ("healthz", "readyz", "metrics", "openapi.json")


def tag(request: Request, rpc: str, code: int, req_id: str) -> None:
    """Record what this request answered, for the access log and the metrics."""
    setattr(request.state, STATE, (rpc, code, req_id))


def _family(path: str) -> str:
    """A bounded label for an untagged request's path."""
    first = path.strip("/").split("/", 1)[0]
    if first in OWN_ROUTES:
        return first
    if path.startswith("/api/v2"):
        return "staged"
    if first == "v2":
        return "unrouted"
    return "other"


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, observer: Observer) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        http_status = 500

        async def sending(message: Message) -> None:
            nonlocal http_status
            if message["type"] == "http.response.start":
                http_status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            state: Any = scope.get("state") or {}
            tagged = state.get(STATE) if isinstance(state, dict) else None
            if tagged is None:
                rpc, code, req_id = _family(scope.get("path", "")), http_status, state.get("req_id", "")
            else:
                rpc, code, req_id = tagged
            self.observer.record(
                "rest", rpc, code, time.perf_counter() - started, req_id, http_status=http_status
            )
