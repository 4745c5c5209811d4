"""JSON over HTTP to a model backend: one pooled ``urllib3`` client per process (keep-alive
connections per backend host, so a call does not pay a TCP handshake), a timeout per attempt,
retries with exponential backoff on connection failures, timeouts, 429 and 5xx; every failure a
BackendError."""

from __future__ import annotations

import time
from typing import Any

import orjson
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from labeldesk.models.base import GARBAGE, HTTP_ERROR, TIMEOUT, UNREACHABLE, BackendError

RETRIES = 2  # attempts after the first
BACKOFF_S = 0.2  # doubled each retry
MAX_ANSWER = 64 * 1024 * 1024
POOL_PER_HOST = 16  # kept-alive connections per backend host (calls beyond wait for a free one)

_pool = urllib3.PoolManager(num_pools=64, maxsize=POOL_PER_HOST, block=False, retries=False)


class Json(bytes):
    """A request body already encoded as JSON (sent as is)."""


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
    data = None if body is None else body if isinstance(body, Json) else orjson.dumps(body)
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    last = BackendError(UNREACHABLE, f"{url}: not tried")
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            resp = _pool.request(
                method,
                url,
                body=data,
                headers=headers,
                timeout=urllib3.Timeout(total=timeout_s),
                preload_content=False,
                redirect=False,
            )
            try:
                raw = resp.read(MAX_ANSWER + 1)
            finally:
                resp.release_conn()
        except NewConnectionError as e:  # (a subclass of urllib3's connect timeout)
            last = BackendError(UNREACHABLE, f"{method} {url} is unreachable: {_reason(e)}")
            continue
        except Urllib3Timeout:
            last = BackendError(TIMEOUT, f"{method} {url} did not answer within {timeout_s:g} s")
            continue
        except (HTTPError, OSError) as e:
            last = BackendError(UNREACHABLE, f"{method} {url} is unreachable: {_reason(e)}")
            continue
        if resp.status >= 400:
            detail = raw[:300].decode("utf-8", "replace").strip()
            last = BackendError(HTTP_ERROR, f"{method} {url} answered HTTP {resp.status}: {detail[:200]}")
            if resp.status == 429 or resp.status >= 500:
                continue
            raise last
        if len(raw) > MAX_ANSWER:
            raise BackendError(GARBAGE, f"{method} {url} answered more than {MAX_ANSWER} bytes")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise BackendError(
                GARBAGE, f"{method} {url} answered something that is not JSON: {raw[:60]!r}"
            ) from e
    raise last


def _reason(e: Exception) -> str:
    """What went wrong, without urllib3's wrapper text (``[Errno 111] Connection refused``)."""
    inner = getattr(e, "reason", None) or e
    return str(getattr(inner, "reason", None) or inner).split(": ", 1)[-1]


def fetch_bytes(url: str, timeout_s: float = 10.0, limit: int = MAX_ANSWER) -> bytes:
    """The bytes behind an input's http(s) URL (one attempt; BackendError when unreadable)."""
    try:
        resp = _pool.request("GET", url, timeout=urllib3.Timeout(total=timeout_s), preload_content=False)
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
