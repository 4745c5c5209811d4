"""uvicorn's server, with a shutdown that does not wait on idle TLS connections.

At shutdown uvicorn closes every idle keep-alive connection. Over plain TCP that is immediate.
Over TLS, closing starts a TLS shutdown: the server sends close_notify and waits for the client's,
for up to 30 seconds, and an idle HTTP client (a browser tab, a ``requests`` session) never reads
its socket to answer. uvicorn then waits for those connections until its graceful timeout,
so every stop of a TLS server with a client attached took the whole grace period, and the event
loop closed with their transports still open (a ResourceWarning per connection).

:class:`HttpServer` ends such connections itself: during the shutdown, a TLS connection that has
been closing for :data:`CLOSING_GRACE_SECONDS` with nothing left in its write buffer is aborted.
Calls still answering are not touched (they are not closing), and an answer's last bytes get
that long to leave.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import uvicorn

#: how long a closing TLS connection may wait for the client's close_notify during shutdown
CLOSING_GRACE_SECONDS = 0.5
_LOOK_EVERY_SECONDS = 0.05


class HttpServer(uvicorn.Server):
    """:class:`uvicorn.Server` whose shutdown aborts TLS connections stuck closing (module doc)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        ender = asyncio.ensure_future(self._end_stuck_tls()) if self.config.ssl is not None else None
        try:
            await super().shutdown(sockets)
        finally:
            if ender is not None:
                ender.cancel()

    async def _end_stuck_tls(self) -> None:
        closing_since: dict[int, float] = {}
        while True:
            await asyncio.sleep(_LOOK_EVERY_SECONDS)
            now = time.monotonic()
            for connection in list(self.server_state.connections):
                transport: Any = getattr(connection, "transport", None)
                if transport is None or not transport.is_closing():
                    continue
                since = closing_since.setdefault(id(transport), now)
                if now - since >= CLOSING_GRACE_SECONDS and not transport.get_write_buffer_size():
                    transport.abort()
