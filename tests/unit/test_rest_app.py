"""The REST application's front: API calls go straight to the Clarifai endpoint, everything else
to the Starlette app; an unexpected failure still answers in the Clarifai shape; the caller's
origin is worked out as Starlette does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.requests import Request

from labeldesk.transport.rest.app import ORIGINS_KEPT, Origins, RestApp, origin_of


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers or [],
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
    }


def _run(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


@pytest.mark.parametrize(
    ("method", "path", "where"),
    [
        ("GET", "/v2/apps/a", "api"),
        ("POST", "/v2/inputs", "api"),
        ("DELETE", "/v2", "api"),
        ("OPTIONS", "/v2/inputs", "starlette"),  # preflight and Allow come from the Starlette app
        ("GET", "/v2x", "starlette"),
        ("GET", "/healthz", "starlette"),
        ("GET", "/api/v2/tasks", "starlette"),
        ("GET", "/", "starlette"),
    ],
)
def test_api_paths_go_straight_to_the_endpoint(method: str, path: str, where: str) -> None:
    reached: list[str] = []

    def app(name: str) -> Any:
        async def asgi(_scope: Any, _receive: Any, _send: Any) -> None:
            reached.append(name)

        return asgi

    _run(RestApp(app("starlette"), app("api")), _scope(method, path))  # type: ignore[arg-type]
    assert reached == [where]


def test_an_unexpected_failure_answers_the_clarifai_internal_error() -> None:
    async def broken(_scope: Any, _receive: Any, _send: Any) -> None:
        raise RuntimeError("boom")

    sent = _run(RestApp(broken, broken), _scope("GET", "/v2/apps"))  # type: ignore[arg-type]
    assert sent[0]["status"] == 500
    status = json.loads(sent[1]["body"])["status"]
    assert status["code"] == 98004 and "req_id" in status["details"] and len(status["req_id"]) == 32


@pytest.mark.parametrize(
    ("headers", "scheme", "server"),
    [
        ([(b"host", b"example.com:8443")], "https", ("10.0.0.1", 8443)),
        ([(b"host", b"labels.example.com")], "http", ("127.0.0.1", 80)),
        ([], "http", ("127.0.0.1", 80)),
        ([], "https", ("::1", 9000)),
        ([(b"host", b"bad host:x")], "http", ("127.0.0.1", 8080)),
    ],
)
def test_origin_is_what_starlette_makes_of_the_request(
    headers: list[tuple[bytes, bytes]], scheme: str, server: tuple[str, int]
) -> None:
    scope = {**_scope("GET", "/v2/apps", headers), "scheme": scheme, "server": server}
    origins = Origins()
    assert origins(scope) == origin_of(Request(scope)) == origins(scope)


def test_origins_remembered_are_bounded() -> None:
    origins = Origins()
    for n in range(ORIGINS_KEPT * 3):
        host = f"h{n}.example.com".encode()
        assert origins(_scope("GET", "/v2/apps", [(b"host", host)])) == f"http://{host.decode()}"
    assert len(origins._known) <= ORIGINS_KEPT
