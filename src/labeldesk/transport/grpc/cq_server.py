"""A unary-only gRPC server that drives grpc's completion queue itself.

``grpc.server`` runs each unary call through grpcio's general machinery: the polling thread hands
the call to a worker, the worker starts the read of the request and waits on a condition until the
polling thread hands it the message, and both threads take the call's state lock several times.
Every V2 RPC labeldesk serves is unary, so this server does only what a unary call needs, with one
hand-off per call: the polling thread accepts the call and starts reading its request; when the
message is in, one worker of the :class:`~labeldesk.transport.workers.HandOffExecutor` runs the
handler and sends the answer, status and all, in one batch. A bare call costs the server about a
third of the CPU it costs ``grpc.server`` (docs/performance.md, round 9).

It uses grpcio's Cython layer (``grpc._cython.cygrpc``), as ``grpc.server`` and ``grpc.aio`` do:
not a public API, so ``tests/api`` runs the real ``clarifai-grpc`` client against it (malformed
request bytes in ``test_limits.py``, TLS in ``tests/ops/test_tls.py``) and
``tests/unit/test_cq_server.py`` checks the edges (unknown methods, oversized requests, a handler
that raises, shutdown with and without grace).

Methods that are not registered answer UNIMPLEMENTED, as ``grpc.server`` does; a request over
the receive limit is refused by gRPC's core with RESOURCE_EXHAUSTED before a handler sees it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
from grpc._cython import cygrpc

from labeldesk.transport.workers import HandOffExecutor

log = logging.getLogger(__name__)


_NO_FLAGS = 0
_ONE_MESSAGE = b"a unary call needs exactly one request message"
#: invocation metadata of a call: (key, value) pairs
Metadata = Sequence[tuple[str, Any]]
#: ``handler(request bytes, invocation metadata) -> answer bytes``
Handler = Callable[[bytes, Metadata], bytes]
#: how often the polling thread looks up from the queue when nothing happens (shutdown is an event)
_POLL_SECONDS = 1.0


class _Tag:
    """What a completion-queue event was for: ``happened(server, event)`` carries on."""

    __slots__ = ()

    def happened(self, server: CompletionQueueServer, event: Any) -> None:
        raise NotImplementedError


class _NewCall(_Tag):
    """A call of one registered method (or, with ``handler`` None, of any other method)."""

    __slots__ = ("handler", "method")

    def __init__(self, method: str | None, handler: Handler | None) -> None:
        self.method = method
        self.handler = handler

    def happened(self, server: CompletionQueueServer, event: Any) -> None:
        server._request(self)
        if not event.success:  # the server is shutting down
            return
        call = event.call
        if self.handler is None:
            server._finish(call, cygrpc.StatusCode.unimplemented, b"Method not found!")
            return
        server._batch(call, (cygrpc.ReceiveMessageOperation(_NO_FLAGS),), _Request(call, self.handler, event))


class _Request(_Tag):
    """The request message of a call, read."""

    __slots__ = ("call", "handler", "metadata")

    def __init__(self, call: Any, handler: Handler, event: Any) -> None:
        self.call = call
        self.handler = handler
        self.metadata: Metadata = event.invocation_metadata or ()

    def happened(self, server: CompletionQueueServer, event: Any) -> None:
        message = event.batch_operations[0].message() if event.success else None
        if message is None:  # cancelled, refused by the core (too large), or no message at all
            server._finish(self.call, cygrpc.StatusCode.unimplemented, _ONE_MESSAGE)
            return
        server._hold()  # the server stops only once the handler is done
        server._executor.execute(lambda: server._answer(self.call, self.handler, message, self.metadata))


class _Done(_Tag):
    __slots__ = ()

    def happened(self, server: CompletionQueueServer, event: Any) -> None:
        pass


class _Shutdown(_Tag):
    """The core has no calls left (they ended, or were cancelled)."""

    __slots__ = ()

    def happened(self, server: CompletionQueueServer, event: Any) -> None:
        with server._lock:
            server._shut_down = True


_DONE = _Done()
_SHUTDOWN = _Shutdown()


class CompletionQueueServer:
    """The part of ``grpc.Server`` labeldesk uses: ports, :meth:`start`, :meth:`stop`."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        executor: HandOffExecutor,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        """``handlers`` by full method name (``/clarifai.api.V2/GetApp``); calls run in
        ``executor``; ``options`` are grpc channel arguments (message size limits)."""
        self._cq = cygrpc.CompletionQueue()
        self._server = cygrpc.Server(tuple(options), False)
        self._server.register_completion_queue(self._cq)
        self._calls = [_NewCall(method, handler) for method, handler in handlers.items()]
        for tag in self._calls:
            self._server.register_method(tag.method)
        self._calls.append(_NewCall(None, None))
        self._executor = executor
        self._lock = threading.Lock()
        #: what the server waits for before it may stop: tags whose events have not come back
        #: yet, and handlers running
        self._outstanding = 0
        self._serving = False
        self._stopping = False
        self._shut_down = False
        self._stopped = threading.Event()

    def add_insecure_port(self, address: str) -> int:
        return int(self._server.add_http2_port(address.encode()))

    def add_secure_port(self, address: str, credentials: grpc.ServerCredentials) -> int:
        return int(self._server.add_http2_port(address.encode(), credentials._credentials))

    def start(self) -> None:
        self._server.start()
        self._serving = True
        for tag in self._calls:
            self._request(tag)
        threading.Thread(target=self._poll, name="grpc-poll", daemon=True).start()

    def stop(self, grace: float | None) -> threading.Event:
        """Accept no more calls; let those under way finish for ``grace`` seconds (None or 0:
        cancel them now). Answers an event set once the server has stopped."""
        with self._lock:
            if not self._serving:
                self._stopped.set()
                return self._stopped
            if not self._stopping:
                self._stopping = True
                self._outstanding += 1  # the shutdown tag
                self._server.shutdown(self._cq, _SHUTDOWN)
        if not grace:
            self._cancel_all()
        else:

            def cancel_after_grace() -> None:
                if not self._stopped.wait(grace):
                    self._cancel_all()

            threading.Thread(target=cancel_after_grace, name="grpc-grace", daemon=True).start()
        return self._stopped

    def _cancel_all(self) -> None:
        """Cancel the calls under way, unless the server is gone already (under the lock that
        :meth:`_release` destroys it under: cancelling on a destroyed server crashes the core)."""
        with self._lock:
            if not self._stopped.is_set():
                self._server.cancel_all_calls()

    # ----------------------------------------------------------------------- the calls

    def _request(self, tag: _NewCall) -> None:
        """Ask the core for the next call of ``tag``'s method (not once stopping)."""
        with self._lock:
            if self._stopping:
                return
            self._outstanding += 1  # its event comes back (unsuccessful on shutdown)
            if tag.method is None:
                self._server.request_call(self._cq, self._cq, tag)
            else:
                self._server.request_registered_call(self._cq, self._cq, tag.method, tag)

    def _hold(self) -> None:
        """Something more to wait for before the server may stop (a tag, a running handler)."""
        with self._lock:
            self._outstanding += 1

    def _release(self) -> None:
        """One of :meth:`_hold`'s is done; the last one after shutdown stops the server."""
        with self._lock:
            self._outstanding -= 1
            if self._shut_down and self._outstanding == 0 and not self._stopped.is_set():
                self._server.destroy()
                self._stopped.set()

    def _batch(self, call: Any, operations: tuple[Any, ...], tag: _Tag) -> None:
        self._hold()
        if call.start_server_batch(operations, tag) != 0:  # not started (the call is gone): no event
            self._release()

    def _answer(self, call: Any, handler: Handler, message: bytes, metadata: Metadata) -> None:
        """Run the handler (on a worker) and send its answer with the status, in one batch."""
        try:
            self._send(call, handler, message, metadata)
        finally:
            self._release()

    def _send(self, call: Any, handler: Handler, message: bytes, metadata: Metadata) -> None:
        try:
            answer = handler(message, metadata)
        except Exception as e:  # the handlers answer errors in the response; this is a bug
            log.exception("gRPC handler failed")
            self._finish(call, cygrpc.StatusCode.unknown, f"Exception calling application: {e}".encode())
            return
        self._batch(
            call,
            (
                cygrpc.SendInitialMetadataOperation(None, _NO_FLAGS),
                cygrpc.SendMessageOperation(answer, _NO_FLAGS),
                cygrpc.SendStatusFromServerOperation(None, cygrpc.StatusCode.ok, b"", _NO_FLAGS),
                cygrpc.ReceiveCloseOnServerOperation(_NO_FLAGS),
            ),
            _DONE,
        )

    def _finish(self, call: Any, code: Any, details: bytes) -> None:
        """End a call without an answer message."""
        self._batch(
            call,
            (
                cygrpc.SendInitialMetadataOperation(None, _NO_FLAGS),
                cygrpc.SendStatusFromServerOperation(None, code, details, _NO_FLAGS),
                cygrpc.ReceiveCloseOnServerOperation(_NO_FLAGS),
            ),
            _DONE,
        )

    def _poll(self) -> None:
        while not self._stopped.is_set():
            event = self._cq.poll(time.time() + _POLL_SECONDS)
            if event.completion_type == cygrpc.CompletionType.queue_timeout:
                continue
            tag = event.tag
            try:
                tag.happened(self, event)
            except Exception:  # one call's trouble must not stop the server
                log.exception("gRPC event %r failed", tag)
            del event, tag  # a shut-down call's last reference goes before the next poll
            self._release()
