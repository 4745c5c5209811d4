"""JSON over HTTP to a model backend (stdlib ``urllib``): a timeout per attempt, retries with
exponential backoff on connection failures, timeouts, 429 and 5xx; every failure a BackendError."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from typing import Any

import orjson

from labeldesk.models.base import GARBAGE, HTTP_ERROR, TIMEOUT, UNREACHABLE, BackendError

RETRIES = 2  # attempts after the first
BACKOFF_S = 0.2  # doubled each retry
MAX_ANSWER = 64 * 1024 * 1024


def call(
    method: str,
    url: str,
    body: Any = None,
    token: str = "",
    timeout_s: float = 10.0,
    retries: int = RETRIES,
    backoff_s: float = BACKOFF_S,
) -> Any:
    """The backend's JSON answer to ``method url`` with ``body`` as JSON."""
    data = None if body is None else orjson.dumps(body)
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
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                raw = resp.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as e:
            detail = e.read(300).decode("utf-8", "replace").strip()
            last = BackendError(HTTP_ERROR, f"{method} {url} answered HTTP {e.code}: {detail[:200]}")
            if e.code == 429 or e.code >= 500:
                continue
            raise last from e
        except TimeoutError:
            last = BackendError(TIMEOUT, f"{method} {url} did not answer within {timeout_s:g} s")
            continue
        except urllib.error.URLError as e:
            if isinstance(e.reason, TimeoutError | socket.timeout):
                last = BackendError(TIMEOUT, f"{method} {url} did not answer within {timeout_s:g} s")
            else:
                last = BackendError(UNREACHABLE, f"{method} {url} is unreachable: {e.reason}")
            continue
        except (ConnectionError, OSError) as e:
            last = BackendError(UNREACHABLE, f"{method} {url} is unreachable: {e}")
            continue
        if len(raw) > MAX_ANSWER:
            raise BackendError(GARBAGE, f"{method} {url} answered more than {MAX_ANSWER} bytes")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise BackendError(
                GARBAGE, f"{method} {url} answered something that is not JSON: {raw[:60]!r}"
            ) from e
    raise last


def fetch_bytes(url: str, timeout_s: float = 10.0, limit: int = MAX_ANSWER) -> bytes:
    """The bytes behind an input's http(s) URL (one attempt; BackendError when unreadable)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=timeout_s) as resp:
            raw: bytes = resp.read(limit + 1)
    except (OSError, ValueError) as e:
        raise BackendError(UNREACHABLE, f"cannot read the image at {url[:200]}: {e}") from e
    if len(raw) > limit:
        raise BackendError(GARBAGE, f"the image at {url[:200]} is larger than {limit} bytes")
    return raw
