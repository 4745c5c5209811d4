"""The REST front door: a request body is read only from a caller with a valid key, and only up to
the size limit.

For every request that carries a body (``Content-Length`` above 0, or chunked), before one byte
of it is read:

1. a declared ``Content-Length`` above the limit is answered at once: status 40033
   (RPC_MAX_MESSAGE_SIZE_EXCEEDED), HTTP 413;
2. the ``Authorization`` header must name a valid, unexpired key (one indexed lookup), else
   status 11008, HTTP 401;
3. the body is then read, counting: past the limit (a chunked body that lied by omission) it is
   dropped and answered 413 the same way. The application gets the buffered body.

Requests without a body (GET, the web app's files) pass straight through; the full
authentication (app, scopes) still happens per RPC in the dispatcher, inside its transaction.

A key that passed a moment ago is known without a query: ``known`` asks the authenticator's
:class:`~labeldesk.services.auth.KeyCache` (the one both transports share, emptied when keys
change), so a busy client costs one lookup per key every few seconds instead of one per request.
Failures are never remembered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labeldesk.domain import errors
from labeldesk.transport.rest.responses import error_response

log = logging.getLogger("labeldesk")

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOO_LARGE = sc.RPC_MAX_MESSAGE_SIZE_EXCEEDED

KeyCheck = Callable[[str | None], None]
"""Raises :class:`~labeldesk.domain.errors.ApiError` unless the Authorization value is a valid key."""

KeyKnown = Callable[[str | None], bool]
"""True when the Authorization value named a valid key a moment ago (memory only, no I/O)."""


class _TooLarge(Exception):
    pass


class BodyGuard:
    """ASGI middleware enforcing the module's rules around ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        check_key: KeyCheck,
        max_body_bytes: int,
        open_prefixes: Sequence[str] = (),
        known: KeyKnown = lambda _authorization: False,
    ) -> None:
        self.app = app
        self.check_key = check_key
        self.known = known
        self.max_body_bytes = max_body_bytes
        self.open_prefixes = tuple(open_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length", "").strip()
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if not chunked and (not length or length == "0"):
            await self.app(scope, receive, send)
            return
        if length and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._too_large(scope, receive, send)
            return
        if not str(scope.get("path", "")).startswith(self.open_prefixes or ("\0",)):
            try:
                await self._admit(headers.get("authorization"))
            except errors.ApiError as e:
                await _refuse(error_response(e.code, e.description, e.details), scope, receive, send)
                return
            except Exception:  # the database is unreachable: say so in the usual shape
                log.exception("cannot check the key of a %s %s", scope["method"], scope.get("path"))
                unavailable = error_response(
                    errors.TRY_AGAIN, "the server cannot check keys right now; nothing was done", "retry"
                )
                await _refuse(unavailable, scope, receive, send)
                return
        try:
            body = await self._read(receive)
        except _TooLarge:
            await self._too_large(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _admit(self, authorization: str | None) -> None:
        """Return if the value names a valid key (raise the key's ApiError otherwise)."""
        if not self.known(authorization):
            await run_in_threadpool(self.check_key, authorization)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        mib = self.max_body_bytes / (1024 * 1024)
        response = error_response(
            TOO_LARGE,
            f"the request body is larger than this server accepts ({mib:g} MiB)",
            "send fewer or smaller items per request (e.g. batches of inputs), or ask the operator to "
            "raise labeldesk serve --max-body-mb",
        )
        await _refuse(response, scope, receive, send)


async def _refuse(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer without reading the body, and close: the unread body must not become the next request."""
    response.headers["connection"] = "close"
    await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that answers the already-read body once, then defers to the connection."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
