"""A lean HTTP/1.1 client for model backend calls: kept-alive sockets per backend (scheme, host,
port), the request written with ``sendall`` (headers and body, the body not copied when large), the
answer read by ``Content-Length`` or chunked transfer coding straight into one buffer.

Why not ``urllib3`` here: a batch-1 prediction spends ~0.9 ms of CPU in urllib3 and http.client
(URL parsing, pool keys, header objects, the ``email`` header parser) against ~0.1 ms for the same
exchange on a socket -- a third of what labeldesk adds to a 20 ms model (docs/models.md,
"Overhead"). What a backend call needs is small: no redirects, no proxies, one JSON answer. Image
URLs of inputs are still fetched with urllib3 (redirects, any server).

A kept-alive socket the backend closed meanwhile is noticed before reuse (readable at rest), and
a request that fails on a reused socket before any answer byte is sent again once on a fresh one,
not counted as an attempt."""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

Buffer = bytes | bytearray | memoryview
MAX_HEAD = 64 * 1024  # status line and headers of an answer
SMALL_BODY = 64 * 1024  # bodies up to this size go out in one write with the headers
IOV_MAX = 1024  # buffers one sendmsg may gather
MAX_HOSTS = 64  # backends with idle sockets kept (the least recently used beyond are closed)


class AnswerTooLarge(Exception):
    """The answer's body is longer than the caller's limit."""


class BadAnswer(Exception):
    """The answer is not HTTP/1.x (message says what)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query

    @property
    def key(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


@lru_cache(maxsize=1024)
def target(url: str) -> Target:
    """The parsed URL (ValueError when it is not http(s) with a host)."""
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"not an http(s) URL: {url[:200]}")
    port = u.port or (443 if u.scheme == "https" else 80)
    return Target(u.scheme, u.hostname, port, (u.path or "/") + (f"?{u.query}" if u.query else ""))


class Pool:
    """Idle kept-alive sockets per backend, at most ``per_host`` each."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._idle: dict[tuple[str, str, int], list[socket.socket]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def take(self, t: Target) -> socket.socket | None:
        """An idle socket to ``t`` the backend has not closed, or None."""
        while True:
            with self._lock:
                idle = self._idle.get(t.key)
                sock = idle.pop() if idle else None
            if sock is None:
                return None
            if not _dropped(sock):
                return sock
            sock.close()

    def give(self, t: Target, sock: socket.socket) -> None:
        stale: list[socket.socket] = []
        with self._lock:
            idle = self._idle.pop(t.key, [])  # re-inserted: the dict's order is least recently used first
            self._idle[t.key] = idle
            if len(self._idle) > MAX_HOSTS:
                stale = self._idle.pop(next(iter(self._idle)))
            if len(idle) < self.per_host:
                idle.append(sock)
            else:
                stale.append(sock)
        for s in stale:
            s.close()

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for socks in idle.values():
            for s in socks:
                s.close()

    def connect(self, t: Target, timeout: float) -> socket.socket:
        sock = socket.create_connection((t.host, t.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if t.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            sock = self._tls.wrap_socket(sock, server_hostname=t.host)
        return sock


def _dropped(sock: socket.socket) -> bool:
    """A socket at rest is readable only when the peer closed it (or sent something unasked)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def exchange(
    sock: socket.socket,
    method: str,
    t: Target,
    headers: bytes,
    body: bytes | Sequence[Buffer] | None,
    deadline: float,
    limit: int,
) -> tuple[int, bytes | bytearray, bool]:
    """Send one request and read its answer: ``(status, body, keep_alive)``. ``headers``: extra
    header lines, each ending in CRLF. Raises OSError (TimeoutError past ``deadline``),
    :class:`BadAnswer` or :class:`AnswerTooLarge`."""
    host = t.host if t.port in (80, 443) else f"{t.host}:{t.port}"
    parts = [] if body is None else [body] if isinstance(body, bytes) else body
    length = b"" if body is None else b"Content-Length: %d\r\n" % sum(len(p) for p in parts)
    head = f"{method} {t.path} HTTP/1.1\r\nHost: {host}\r\n".encode("latin-1") + headers + length + b"\r\n"
    _settimeout(sock, deadline)
    if len(parts) == 1 and len(parts[0]) <= SMALL_BODY:
        sock.sendall(head + parts[0])
    else:
        send_parts(sock, [head, *parts])
    reader = _Reader(sock, deadline)
    while True:
        status, fields = reader.head()
        if status >= 200 or status == 101:
            break  # (1xx interim answers are skipped)
    keep = fields.get(b"connection", b"").lower() != b"close"
    if method == "HEAD" or status in (204, 304):
        return status, b"", keep
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        return status, reader.chunked(limit), keep
    if b"content-length" in fields:
        try:
            n = int(fields[b"content-length"])
        except ValueError:
            raise BadAnswer("the answer's Content-Length is not a number") from None
        if n > limit:
            raise AnswerTooLarge()
        return status, reader.exactly(n), keep
    return status, reader.until_close(limit), False


def send_parts(sock: socket.socket, parts: Sequence[Buffer]) -> None:
    """Write the parts in order without joining them: one gathering ``sendmsg`` per round on a
    plain socket (TLS sockets write each part)."""
    if isinstance(sock, ssl.SSLSocket):
        for p in parts:
            sock.sendall(p)
        return
    views = [memoryview(p) for p in parts if len(p)]
    while views:
        sent = sock.sendmsg(views[:IOV_MAX])
        while sent:
            if sent >= len(views[0]):
                sent -= len(views.pop(0))
            else:
                views[0] = views[0][sent:]
                sent = 0


def _settimeout(sock: socket.socket, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    sock.settimeout(left)


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buf = b""

    def _more(self) -> bytes:
        _settimeout(self.sock, self.deadline)
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionResetError("the backend closed the connection")
        return data

    def head(self) -> tuple[int, dict[bytes, bytes]]:
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            if len(self.buf) > MAX_HEAD:
                raise BadAnswer("the answer's headers are longer than 64 KiB")
            self.buf += self._more()
        lines = self.buf[:end].split(b"\r\n")
        self.buf = self.buf[end + 4 :]
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise BadAnswer(f"the answer is not HTTP/1.x: {lines[0][:60]!r}")
        fields: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        return int(parts[1]), fields

    def exactly(self, n: int) -> bytes | bytearray:
        if len(self.buf) >= n:
            out, self.buf = self.buf[:n], self.buf[n:]
            return out
        body = bytearray(n)
        view = memoryview(body)
        got = len(self.buf)
        view[:got] = self.buf
        self.buf = b""
        while got < n:
            _settimeout(self.sock, self.deadline)
            k = self.sock.recv_into(view[got:])
            if not k:
                raise ConnectionResetError("the backend closed the connection mid-answer")
            got += k
        return body

    def line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > MAX_HEAD:
                raise BadAnswer("a chunk header is longer than 64 KiB")
            self.buf += self._more()
        out, self.buf = self.buf[:end], self.buf[end + 2 :]
        return out

    def chunked(self, limit: int) -> bytes:
        parts: list[bytes | bytearray] = []
        total = 0
        while True:
            try:
                size = int(self.line().split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadAnswer("the answer's chunk size is not a hex number") from None
            if size == 0:
                while self.line():  # trailers, up to the blank line
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise AnswerTooLarge()
            parts.append(self.exactly(size))
            self.exactly(2)  # the chunk's CRLF

    def until_close(self, limit: int) -> bytes:
        parts = [self.buf]
        total = len(self.buf)
        while True:
            _settimeout(self.sock, self.deadline)
            data = self.sock.recv(65536)
            if not data:
                return b"".join(parts)
            total += len(data)
            if total > limit:
                raise AnswerTooLarge()
            parts.append(data)
