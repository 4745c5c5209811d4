"""The completion-queue gRPC server (transport/grpc/cq_server.py) at its edges, with a real grpcio
client: calls to methods it does not serve, handlers that raise, oversized requests, metadata, and
stopping with and without grace while a call is under way. (The whole API over it is tests/api.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import grpc
import pytest

from labeldesk.transport.grpc.cq_server import CompletionQueueServer, Metadata
from labeldesk.transport.workers import HandOffExecutor

ECHO = "/test.Service/Echo"
BOOM = "/test.Service/Boom"
SLOW = "/test.Service/Slow"


class Slow:
    """A handler that waits until released, saying when it has started."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, raw: bytes, metadata: Metadata) -> bytes:
        self.started.set()
        assert self.release.wait(10)
        return b"slow:" + raw


def echo(raw: bytes, metadata: Metadata) -> bytes:
    keys = ",".join(k for k, _ in metadata if k == "authorization" or k.startswith("x-"))
    return raw + b"|" + keys.encode() + b"|" + dict(metadata).get("authorization", "").encode()


def boom(raw: bytes, metadata: Metadata) -> bytes:
    raise RuntimeError("broken handler")


@pytest.fixture
def slow() -> Slow:
    return Slow()


@pytest.fixture
def served(slow: Slow) -> Iterator[tuple[CompletionQueueServer, grpc.Channel]]:
    server = CompletionQueueServer(
        {ECHO: echo, BOOM: boom, SLOW: slow},
        HandOffExecutor(max_workers=4),
        options=[("grpc.max_receive_message_length", 1024)],
    )
    port = server.add_insecure_port("127.0.0.1:0")
    assert port > 0
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield server, channel
    finally:
        slow.release.set()
        channel.close()
        assert server.stop(None).wait(10)


def call(channel: grpc.Channel, method: str, body: bytes, **kwargs: Any) -> Any:
    return channel.unary_unary(method)(body, timeout=10, **kwargs)


def test_a_call_gets_its_answer_and_its_metadata(served: tuple[CompletionQueueServer, grpc.Channel]) -> None:
    _, channel = served
    meta = (("authorization", "Key abc"), ("x-extra", "1"))
    assert call(channel, ECHO, b"hi", metadata=meta) == b"hi|authorization,x-extra|Key abc"
    assert call(channel, ECHO, b"") == b"||"


def test_many_calls_at_once_each_get_their_own_answer(
    served: tuple[CompletionQueueServer, grpc.Channel],
) -> None:
    _, channel = served
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda n: call(channel, ECHO, str(n).encode()), range(400)))
    assert answers == [f"{n}||".encode() for n in range(400)]


def test_a_method_it_does_not_serve_is_unimplemented(
    served: tuple[CompletionQueueServer, grpc.Channel],
) -> None:
    _, channel = served
    with pytest.raises(grpc.RpcError) as e:
        call(channel, "/test.Service/Nope", b"x")
    assert e.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert call(channel, ECHO, b"still") == b"still||"  # and the server goes on


def test_a_handler_that_raises_ends_its_call_with_unknown(
    served: tuple[CompletionQueueServer, grpc.Channel],
) -> None:
    _, channel = served
    with pytest.raises(grpc.RpcError) as e:
        call(channel, BOOM, b"x")
    assert e.value.code() is grpc.StatusCode.UNKNOWN
    assert "broken handler" in (e.value.details() or "")
    assert call(channel, ECHO, b"after") == b"after||"


def test_a_request_over_the_limit_is_refused_before_the_handler(
    served: tuple[CompletionQueueServer, grpc.Channel],
) -> None:
    _, channel = served
    with pytest.raises(grpc.RpcError) as e:
        call(channel, ECHO, b"x" * 4096)
    assert e.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert call(channel, ECHO, b"small") == b"small||"


@contextmanager
def slow_call(channel: grpc.Channel, slow: Slow) -> Iterator[Future[Any]]:
    """A call of the slow method, under way (its handler has started) inside the block."""
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(call, channel, SLOW, b"a")
        assert slow.started.wait(10)
        yield pending


def test_stop_with_grace_lets_a_call_under_way_finish_and_takes_no_new_one(
    served: tuple[CompletionQueueServer, grpc.Channel], slow: Slow
) -> None:
    server, channel = served
    with slow_call(channel, slow) as pending:
        stopped = server.stop(5)
        assert not stopped.wait(0.3)  # the call is still running
        with pytest.raises(grpc.RpcError):
            call(channel, ECHO, b"new")
        slow.release.set()
        assert pending.result() == b"slow:a"
    assert stopped.wait(5)
    assert server.stop(5).wait(0)  # stopping again answers at once


def test_stop_without_grace_cancels_the_call_under_way(
    served: tuple[CompletionQueueServer, grpc.Channel], slow: Slow
) -> None:
    server, channel = served
    with slow_call(channel, slow) as pending:
        began = time.monotonic()
        stopped = server.stop(0)
        with pytest.raises(grpc.RpcError) as e:
            pending.result()
        assert e.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
        assert time.monotonic() - began < 5
        assert not stopped.is_set()  # it waits for the handler itself to return
        slow.release.set()
    assert stopped.wait(5)


def test_a_server_never_started_stops_at_once() -> None:
    server = CompletionQueueServer({ECHO: echo}, HandOffExecutor(max_workers=1))
    assert server.stop(1).wait(0)
