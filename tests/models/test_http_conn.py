"""The backend HTTP client against a real socket server that answers as the test scripts it:
Content-Length and chunked bodies, ``Connection: close``, an answer without a length (read to the
close), a kept-alive connection reused, one the backend closed while idle (sent again on a fresh
one), a timeout, a too-large answer, and something that is not HTTP."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from labeldesk.models import http
from labeldesk.models.base import GARBAGE, TIMEOUT, UNREACHABLE, BackendError

Reply = Callable[[bytes], bytes | None]  # request bytes -> what to write (None: close at once)


class Scripted:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.connections = 0
        self.requests: list[bytes] = []
        self.close_after = False


@contextmanager
def scripted_server() -> Iterator[tuple[Scripted, str]]:
    state = Scripted()
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            buf = b""
            while not stop.is_set():
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, rest = buf.partition(b"\r\n\r\n")
                n = next(
                    (
                        int(v)
                        for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                        if k.lower() == b"content-length"
                    ),
                    0,
                )
                while len(rest) < n:
                    rest += conn.recv(65536)
                state.requests.append(head + b"\r\n\r\n" + rest[:n])
                buf = rest[n:]
                reply = state.replies.pop(0)(head) if state.replies else None
                if reply is None:
                    return
                conn.sendall(reply)
                if state.close_after:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            state.connections += 1
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield state, f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()


def ok_json(body: bytes = b'{"ok": 1}', extra: bytes = b"") -> Reply:
    return lambda _req: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.fixture
def backend() -> Iterator[tuple[Scripted, str]]:
    with scripted_server() as s:
        yield s


def test_a_kept_alive_connection_serves_the_next_call(backend: tuple[Scripted, str]) -> None:
    state, url = backend
    state.replies += [ok_json(), ok_json(b'{"ok": 2}')]
    assert http.call("POST", url + "/a", {"x": 1}, token="t") == {"ok": 1}
    assert http.call("POST", url + "/a", {"x": 2}) == {"ok": 2}
    assert state.connections == 1
    first = state.requests[0]
    assert first.startswith(b"POST /a HTTP/1.1\r\n") and b"Authorization: Bearer t\r\n" in first
    assert first.endswith(b'{"x":1}') and b"Content-Length: 7\r\n" in first


def test_chunked_and_unsized_answers_are_read_whole(backend: tuple[Scripted, str]) -> None:
    state, url = backend
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4\r\n{"a"\r\n3;x=1\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
    )
    state.replies += [lambda _r: chunked, lambda _r: b'HTTP/1.0 200 OK\r\n\r\n{"b": 2}']
    state.close_after = True  # the unsized answer ends with the connection
    assert http.call("GET", url + "/c", retries=0) == {"a": 1}
    assert http.call("GET", url + "/u", retries=0) == {"b": 2}


def test_a_connection_the_backend_closed_while_idle_is_replaced(backend: tuple[Scripted, str]) -> None:
    state, url = backend
    state.replies += [ok_json(extra=b"Connection: keep-alive\r\n")]
    state.close_after = True  # answers, then closes: the idle socket is dead when reused
    assert http.call("GET", url + "/1", retries=0) == {"ok": 1}
    state.replies += [ok_json(b'{"ok": 3}')]
    assert http.call("GET", url + "/2", retries=0) == {"ok": 3}
    assert state.connections == 2


def test_connection_close_is_honoured(backend: tuple[Scripted, str]) -> None:
    state, url = backend
    state.replies += [ok_json(extra=b"Connection: close\r\n"), ok_json()]
    http.call("GET", url + "/1", retries=0)
    http.call("GET", url + "/2", retries=0)
    assert state.connections == 2


@pytest.mark.parametrize(
    ("reply", "kind", "says"),
    [
        (lambda _r: b"SSH-2.0-OpenSSH\r\n\r\n", GARBAGE, "not HTTP"),
        (lambda _r: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", GARBAGE, "not JSON"),
        (lambda _r: b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n", GARBAGE, "more than"),
        (
            lambda _r: b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\ngone",
            "http_error",
            "HTTP 404: gone",
        ),
    ],
)
def test_bad_answers_are_named(backend: tuple[Scripted, str], reply: Reply, kind: str, says: str) -> None:
    state, url = backend
    state.replies.append(reply)
    with pytest.raises(BackendError) as e:
        http.call("GET", url + "/x", retries=0)
    assert e.value.kind == kind and says in e.value.message


def test_a_silent_backend_times_out_and_a_closed_port_is_unreachable(backend: tuple[Scripted, str]) -> None:
    state, url = backend
    state.replies.append(lambda _r: b"HTTP/1.1 200 OK\r\n")  # the head never ends
    with pytest.raises(BackendError) as e:
        http.call("GET", url + "/slow", timeout_s=0.2, retries=0)
    assert e.value.kind == TIMEOUT and "within 0.2 s" in e.value.message
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(BackendError) as e:
        http.call("GET", f"http://127.0.0.1:{port}/", retries=0)
    assert e.value.kind == UNREACHABLE and "refused" in e.value.message
