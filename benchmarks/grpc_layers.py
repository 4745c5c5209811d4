"""gRPC servers that add labeldesk's per-call layers one at a time, for
``python benchmarks/rpc_overhead.py --layers``: each runs in its own process (so its CPU time is
its own) and serves GetApp; ``rpc_overhead.py`` starts one per layer, calls them in alternating
rounds and prints the server CPU per call of each.

    python benchmarks/grpc_layers.py LAYER DATABASE_URL    # prints "PORT <n>", serves until stdin closes

Layers (each includes the ones before it):

- ``bare``: ``grpc.server`` with a ``ThreadPoolExecutor``, GetApp registered, the handler returns
  fixed answer bytes (no parsing, no serialization) — grpcio's floor.
- ``handoff``: the same on :class:`~labeldesk.transport.workers.HandOffExecutor`.
- ``handler``: labeldesk's gRPC transport (``make_grpc_server``: its completion-queue server instead
  of ``grpc.server`` since 2026-12-07, every V2 method registered, the request parsed, the
  ``authorization`` metadata read, the answer serialized) around a dispatcher that answers a
  prebuilt response. So from this layer on, the floor is that server's, not grpcio's.
- ``metrics``: + the observer's Prometheus counter and histogram (access log off).
- ``observe``: + the access-log line to stderr (as ``serve`` logs it).
- ``dispatch``: + ``Dispatcher.call`` (req_id, request limits, file links, failure guard,
  authentication from the key cache, scopes, status) with a handler that reads nothing, and no
  transaction (the connection handed to it is one kept open).
- ``transaction``: + the read transaction (``BEGIN``/``ROLLBACK`` through ``Database.run``).
- ``getapp``: + GetApp's own handler and query: labeldesk's gRPC server as ``serve`` builds it.
- ``serve``: the whole ``labeldesk serve`` process (REST server, job worker and maintenance
  threads beside gRPC).
"""

from __future__ import annotations

import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf.message import Message
from sqlalchemy import Connection

from labeldesk.app import build
from labeldesk.ops.logs import configure_logging
from labeldesk.ops.metrics import Metrics
from labeldesk.ops.observe import Observer
from labeldesk.services.dispatch import V2, Dispatcher
from labeldesk.services.failures import guarded
from labeldesk.transport.grpc.server import make_grpc_server
from labeldesk.transport.workers import HandOffExecutor

LAYERS = ("bare", "handoff", "handler", "metrics", "observe", "dispatch", "transaction", "getapp", "serve")


def _answer() -> s.SingleAppResponse:
    response = s.SingleAppResponse(app=r.App(id="overhead", user_id="u", name="overhead"))
    response.status.code = sc.SUCCESS
    response.status.description = "Ok"
    response.status.req_id = "0" * 32
    return response


class _Canned(Dispatcher):
    """A dispatcher whose every call answers the same prebuilt response (the ``handler`` layer)."""

    def call(self, rpc: str, request: Message, authorization: str | None, origin: str | None = None) -> Any:
        return _ANSWER


_ANSWER = _answer()


class _NoTransaction(Dispatcher):
    """``Dispatcher.call`` in full, but the handler reads nothing and no transaction is opened."""

    _conn: Connection | None = None

    def call(self, rpc: str, request: Message, authorization: str | None, origin: str | None = None) -> Any:
        return self.call_with(rpc, _trivial, request, authorization, origin)

    def execute(self, where: str, kind: Any, work: Any, req_id: str) -> Any:
        if self._conn is None:
            self._conn = self.db.engine.connect()
        conn = self._conn
        return guarded(where, req_id, lambda: work(conn))


class _Transaction(Dispatcher):
    """``Dispatcher.call`` in full, with its transaction, but a handler that reads nothing."""

    def call(self, rpc: str, request: Message, authorization: str | None, origin: str | None = None) -> Any:
        return self.call_with(rpc, _trivial, request, authorization, origin)


def _trivial(conn: Connection, ctx: Any, request: Any) -> Message:
    return s.SingleAppResponse(app=r.App(id=ctx.app.id, user_id=ctx.app.owner_id, name="overhead"))


def _bare(executor: Any) -> tuple[grpc.Server, int]:
    raw = _ANSWER.SerializeToString()
    handler = grpc.unary_unary_rpc_method_handler(lambda _request, _context: raw)
    server = grpc.server(executor)
    server.add_registered_method_handlers(V2.full_name, {"GetApp": handler})
    return server, server.add_insecure_port("127.0.0.1:0")


def start(layer: str, url: str) -> tuple[grpc.Server, int]:
    if layer == "bare":
        return _bare(ThreadPoolExecutor(max_workers=32))
    if layer == "handoff":
        return _bare(HandOffExecutor(max_workers=32, thread_name_prefix="grpc"))
    configure_logging("text")  # as serve does: the access log goes to stderr
    kind = {
        "handler": _Canned,
        "metrics": _Canned,
        "observe": _Canned,
        "dispatch": _NoTransaction,
        "transaction": _Transaction,
        "getapp": Dispatcher,
    }[layer]
    dispatcher = build(url, run_migrations=False).dispatcher
    dispatcher.__class__ = kind  # the same dispatcher, with the layer's call
    observer = None if layer == "handler" else Observer(Metrics())
    if layer == "metrics":
        logging.getLogger("labeldesk.access").setLevel(logging.WARNING)
    return make_grpc_server(dispatcher, "127.0.0.1", 0, observer=observer, origin="http://127.0.0.1:1")


def main() -> None:
    layer, url = sys.argv[1], sys.argv[2]
    server, port = start(layer, url)
    server.start()
    print(f"PORT {port}", flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    server.stop(None)


if __name__ == "__main__":
    main()
