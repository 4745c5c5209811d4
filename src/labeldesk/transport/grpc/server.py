"""The gRPC transport: every unary RPC of ``clarifai.api.V2``, served by handlers built from the
service descriptor (as the REST routes are), so that RPCs we do not implement answer a Clarifai
status instead of gRPC UNIMPLEMENTED, and nothing is listed by hand.

API errors never abort the call: they travel in ``response.status`` like Clarifai's.

Per-call cost (docs/performance.md, transport): the calls are served by
:class:`~labeldesk.transport.grpc.cq_server.CompletionQueueServer`, which drives grpc's
completion queue itself with one thread hand-off per call (into a
:class:`~labeldesk.transport.workers.HandOffExecutor`) instead of ``grpc.server``'s general
machinery; each method is registered with the core (a call's handler is found by its tag), and
each handler times and records its own call (no interceptor layer).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from labeldesk.domain import errors
from labeldesk.ops.observe import Observer
from labeldesk.services.dispatch import V2, Dispatcher
from labeldesk.transport.grpc.cq_server import CompletionQueueServer, Handler, Metadata
from labeldesk.transport.workers import HandOffExecutor

MAX_RECEIVE = 32 * 1024 * 1024
MAX_SEND = 128 * 1024 * 1024


def _authorization(metadata: Metadata) -> str | None:
    for key, value in metadata:
        if key.lower() == "authorization":
            return str(value)
    return None


def _unary(
    dispatcher: Dispatcher, rpc: str, origin: str | None, observer: Observer | None
) -> Callable[[bytes, Metadata], Message]:
    """The handler of one RPC. It parses the request itself, so that bytes which are not the
    RPC's message answer a Clarifai status (11102) instead of gRPC INTERNAL. ``origin`` is the
    HTTP address hosted-file URLs in its answers point at; ``observer`` gets every call's
    duration, status code and ``req_id``."""
    request_cls = GetMessageClass(dispatcher.routes[rpc].method.input_type)

    def answer(raw: bytes, metadata: Metadata) -> Message:
        try:
            request = request_cls.FromString(raw)
        except DecodeError as e:
            return dispatcher.reject(
                rpc,
                errors.invalid(
                    f"the request is not a valid {request_cls.DESCRIPTOR.full_name} protobuf message",
                    f"{e}"[:200],
                ),
            )
        return dispatcher.call(rpc, request, _authorization(metadata), origin)

    if observer is None:
        return answer

    def observed(raw: bytes, metadata: Metadata) -> Message:
        started = time.perf_counter()
        code: int | str = "INTERNAL"
        req_id = ""
        try:
            response = answer(raw, metadata)
            status = response.status  # type: ignore[attr-defined]
            code, req_id = status.code, status.req_id
            return response
        finally:
            observer.record("grpc", rpc, code, time.perf_counter() - started, req_id)

    return observed


def _serialized(answer: Callable[[bytes, Metadata], Message]) -> Handler:
    return lambda raw, metadata: bytes(answer(raw, metadata).SerializeToString())


def make_grpc_server(
    dispatcher: Dispatcher,
    host: str,
    port: int,
    max_workers: int = 32,
    max_message_bytes: int = MAX_RECEIVE,
    observer: Observer | None = None,
    credentials: grpc.ServerCredentials | None = None,
    origin: str | None = None,
) -> tuple[CompletionQueueServer, int]:
    """Build (not start) the server; answer it and the port it bound (port 0 picks a free one).
    With ``credentials`` the port speaks TLS; ``observer`` records every call (metrics, access log).

    A request message over ``max_message_bytes`` is refused by gRPC itself before it reaches
    labeldesk: the call ends with gRPC status RESOURCE_EXHAUSTED (there is no response message to
    carry a Clarifai status in). ``origin`` is the HTTP address hosted-file URLs in gRPC
    answers point at."""
    handlers = {
        f"/{V2.full_name}/{name}": _serialized(_unary(dispatcher, name, origin, observer))
        for name in dispatcher.routes
    }
    server = CompletionQueueServer(
        handlers,
        HandOffExecutor(max_workers=max_workers, thread_name_prefix="grpc", turns=dispatcher.db.turns),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", MAX_SEND),
        ],
    )
    address = f"{host}:{port}"
    bound = (
        server.add_insecure_port(address)
        if credentials is None
        else server.add_secure_port(address, credentials)
    )
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {host}:{port} (address in use?)")
    return server, bound
