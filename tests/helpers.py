"""Assertions and constants the API tests share."""

from __future__ import annotations

import functools
import json
from typing import Any

import requests
from clarifai_grpc.grpc.api import service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.wire.printer import message_to_json

IMG = "https://samples.clarifai.com/metro-north.jpg"
#: a real 1x1 PNG: bytes posted as data.image.base64 must be an image
PNG_1PX = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS"
    b"\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)
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


def rest_listing_matches_grpc(base_url: str, grpc_stub: Any, meta: Meta, uai: Any, **fields: Any) -> int:
    """ListAnnotations as raw REST JSON (served by the JSON view) equals the gRPC answer rendered
    by the REST printer, status ``req_id`` aside; answers how many annotations were compared."""
    url = f"{base_url}/v2/users/{uai.user_id}/apps/{uai.app_id}/annotations"
    params = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
    rest = requests.get(url, params=params, headers=dict(meta), timeout=30).json()
    req = service_pb2.ListAnnotationsRequest(user_app_id=uai, **fields)
    printed = message_to_json(ok(grpc_stub.ListAnnotations(req, metadata=meta)))
    for body in (rest, printed):
        body["status"].pop("req_id")
    canonical = functools.partial(json.dumps, sort_keys=True)  # true is not 1, 1.0 is not 1
    assert canonical(rest) == canonical(printed)
    return len(rest["annotations"])
