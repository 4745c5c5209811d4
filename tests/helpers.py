"""Assertions and constants the API tests share."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

IMG = "https://samples.clarifai.com/metro-north.jpg"
Meta = tuple[tuple[str, str]]


def ok(resp: Any) -> Any:
    """The response, after checking it succeeded (the status is shown when it did not)."""
    assert resp.status.code == sc.SUCCESS, resp.status
    return resp


def fails(resp: Any, code: int, *texts: str) -> Any:
    """The response, after checking it failed with ``code`` and a description naming ``texts``."""
    assert resp.status.code == code, resp.status
    for text in texts:
        assert text in resp.status.description + resp.status.details, resp.status
    return resp
