"""OPTIONS requests answer in the Clarifai error shape: a preflight while CORS is off, a refused
preflight while it is on, a plain OPTIONS probe on any route (Clarifai, staged API, web UI, ops).
An allowed preflight still gets the bare CORS answer browsers expect."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings

ORIGIN = "https://labels.example.test"


@pytest.fixture(scope="module")
def cors_server(database_url: str, server: RunningServer) -> Iterator[RunningServer]:
    """A second server over the same database with one allowed browser origin."""
    settings = Settings(cors_origins=(ORIGIN,))
    running = RunningServer(build(database_url, settings=settings), "127.0.0.1", 0, 0).start()
    yield running
    running.stop()


def options(server: RunningServer, path: str, **headers: str) -> requests.Response:
    return requests.options(server.base_url + path, headers=headers, timeout=10)


def preflight_headers(
    origin: str, method: str = "POST", wanted: str = "authorization,content-type"
) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": wanted,
    }


def clarifai_error(resp: requests.Response, http: int, code: int, *texts: str) -> dict[str, Any]:
    assert resp.status_code == http, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    status: dict[str, Any] = resp.json()["status"]
    assert status["code"] == code and status["req_id"]
    for text in texts:
        assert text in status["description"] + status["details"], status
    return status


def test_preflight_while_cors_is_off(server: RunningServer) -> None:
    resp = requests.options(
        server.base_url + "/v2/inputs", headers=preflight_headers("http://x.test"), timeout=10
    )
    clarifai_error(
        resp,
        405,
        sc.CONN_METHOD_NOT_ALLOWED,
        "cross-origin requests are off",
        "--cors-origin",
        "'http://x.test'",
    )
    assert "access-control-allow-origin" not in resp.headers
    assert set(resp.headers["allow"].split(", ")) == {"GET", "POST", "PATCH", "DELETE"}


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/v2/inputs", "DELETE, GET, PATCH, POST"),
        ("/v2/users/me/apps/a/tasks/t1", "call it with one of: GET"),
        ("/v2/no/such/thing", "none (no route at this path)"),
        ("/healthz", "call it with one of: GET"),
    ],
)
def test_plain_options_on_any_route(server: RunningServer, path: str, methods: str) -> None:
    resp = options(server, path)
    clarifai_error(resp, 405, sc.CONN_METHOD_NOT_ALLOWED, f"OPTIONS is not an API method on {path}", methods)


def test_allowed_preflight_is_the_bare_cors_answer(cors_server: RunningServer) -> None:
    resp = options(cors_server, "/v2/inputs", **preflight_headers(ORIGIN))
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        (preflight_headers("https://evil.example.test"), "origin not allowed"),
        (preflight_headers(ORIGIN, method="TRACE"), "method not allowed"),
        (preflight_headers(ORIGIN, wanted="x-secret"), "headers not allowed"),
    ],
)
def test_refused_preflight_in_the_clarifai_shape(
    cors_server: RunningServer, headers: dict[str, str], refused: str
) -> None:
    resp = options(cors_server, "/v2/inputs", **headers)
    clarifai_error(
        resp, 400, sc.CONN_INVALID_REQUEST, "cross-origin preflight refused", refused, "allowed methods"
    )


def test_plain_options_with_cors_on(cors_server: RunningServer) -> None:
    clarifai_error(
        options(cors_server, "/v2/concepts"), 405, sc.CONN_METHOD_NOT_ALLOWED, "OPTIONS is not an API method"
    )
