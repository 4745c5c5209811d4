"""JSON over HTTP to a model backend: kept-alive connections per backend host in each process
(:mod:`labeldesk.models.http_conn`, so a call pays no TCP handshake and little CPU), a timeout per
attempt, retries with exponential backoff on connection failures, timeouts, 429 and 5xx; every
failure a BackendError. Inputs' image URLs are fetched with ``urllib3`` (redirects followed)."""

from __future__ import annotations

import atexit
import time
from typing import Any

import orjson
import urllib3
from urllib3.exceptions import HTTPError

from labeldesk.models import http_conn
from labeldesk.models.base import GARBAGE, HTTP_ERROR, TIMEOUT, UNREACHABLE, BackendError

RETRIES = 2  # attempts after the first
BACKOFF_S = 0.2  # doubled each retry
MAX_ANSWER = 64 * 1024 * 1024
POOL_PER_HOST = 16  # kept-alive connections per backend host (calls beyond wait for a free one)

_pool = urllib3.PoolManager(num_pools=64, maxsize=POOL_PER_HOST, block=False, retries=False)


# image URLs: follow up to 5 redirects (CDNs, http -> https), never retry
_FOLLOW = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5)


class Json(bytes):
    """A request body already encoded as JSON (sent as is)."""


class JsonParts(list[http_conn.Buffer]):
    """A request body already encoded as JSON, in parts sent one after the other (large images
    are not copied into one buffer)."""


def call(
    method: str,
    url: str,
    body: Any = None,
    token: str = "",
    timeout_s: float = 10.0,
    retries: int = RETRIES,
    backoff_s: float = BACKOFF_S,
) -> Any:
    """The backend's JSON answer to ``method url`` with ``body`` as JSON (a :class:`Json` is sent
    as it is)."""
    data = None if body is None else body if isinstance(body, Json | JsonParts) else orjson.dumps(body)
    headers = _JSON_SENT if data is not None else _JSON_ACCEPTED
    if token:
        headers += f"Authorization: Bearer {token}\r\n".encode("latin-1", "replace")
    try:
        where = http_conn.target(url)
    except ValueError as e:
        raise BackendError(UNREACHABLE, f"{method} {url} is unreachable: {e}") from e
    last = BackendError(UNREACHABLE, f"{url}: not tried")
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            status, raw = _send(where, method, headers, data, timeout_s)
        except TimeoutError:
            last = BackendError(TIMEOUT, f"{method} {url} did not answer within {timeout_s:g} s")
            continue
        except http_conn.AnswerTooLarge:
            raise BackendError(GARBAGE, f"{method} {url} answered more than {MAX_ANSWER} bytes") from None
        except http_conn.BadAnswer as e:
            raise BackendError(GARBAGE, f"{method} {url} answered something that is not HTTP: {e}") from e
        except OSError as e:
            last = BackendError(UNREACHABLE, f"{method} {url} is unreachable: {e.strerror or e}")
            continue
        if status >= 400:
            detail = bytes(raw[:300]).decode("utf-8", "replace").strip()
            last = BackendError(HTTP_ERROR, f"{method} {url} answered HTTP {status}: {detail[:200]}")
            if status == 429 or status >= 500:
                continue
            raise last
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise BackendError(
                GARBAGE, f"{method} {url} answered something that is not JSON: {bytes(raw[:60])!r}"
            ) from e
    raise last


_JSON_ACCEPTED = b"Accept: application/json\r\n"
_JSON_SENT = _JSON_ACCEPTED + b"Content-Type: application/json\r\n"
_conns = http_conn.Pool(POOL_PER_HOST)
atexit.register(_conns.close_all)


def _send(
    where: http_conn.Target,
    method: str,
    headers: bytes,
    data: bytes | JsonParts | None,
    timeout_s: float,
) -> tuple[int, bytes | bytearray]:
    """One attempt on a kept-alive socket (a fresh one when none is idle, or when the reused one
    turns out closed before the answer began)."""
    deadline = time.monotonic() + timeout_s
    sock = _conns.take(where)
    reused = sock is not None
    while True:
        if sock is None:
            sock = _conns.connect(where, max(0.001, deadline - time.monotonic()))
        try:
            status, raw, keep = http_conn.exchange(sock, method, where, headers, data, deadline, MAX_ANSWER)
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            sock.close()
            if not reused:
                raise
            sock, reused = None, False
            continue
        except BaseException:
            sock.close()
            raise
        if keep:
            _conns.give(where, sock)
        else:
            sock.close()
        return status, raw


def _reason(e: Exception) -> str:
    """What went wrong, without urllib3's wrapper text (``[Errno 111] Connection refused``)."""
    inner = getattr(e, "reason", None) or e
    return str(getattr(inner, "reason", None) or inner).split(": ", 1)[-1]


def fetch_bytes(url: str, timeout_s: float = 10.0, limit: int = MAX_ANSWER) -> bytes:
    """The bytes behind an input's http(s) URL (one attempt; BackendError when unreadable)."""
    try:
        resp = _pool.request(
            "GET", url, timeout=urllib3.Timeout(total=timeout_s), preload_content=False, retries=_FOLLOW
        )
        try:
            if resp.status >= 400:
                raise BackendError(UNREACHABLE, f"cannot read the image at {url[:200]}: HTTP {resp.status}")
            raw: bytes = resp.read(limit + 1)
        finally:
            resp.release_conn()
    except (HTTPError, OSError, ValueError) as e:
        raise BackendError(UNREACHABLE, f"cannot read the image at {url[:200]}: {_reason(e)}") from e
    if len(raw) > limit:
        raise BackendError(GARBAGE, f"the image at {url[:200]} is larger than {limit} bytes")
    return raw
