"""The REST transport as curl sees it: raw HTTP, the Clarifai error shape for every failure,
tolerant parsing of what real clients send."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.app import RunningServer
from tests.helpers import AppFixture


def call(
    server: RunningServer,
    method: str,
    path: str,
    key: str | None,
    body: Any = None,
    raw: bytes | None = None,
    params: Any = None,
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Key {key}"
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return requests.request(
        method, server.base_url + path, headers=headers, data=data, params=params, timeout=10
    )


def assert_clarifai_error(resp: requests.Response, http: int, code: int, text: str = "") -> dict[str, Any]:
    assert resp.status_code == http, resp.text
    body = resp.json()
    assert body["status"]["code"] == code, body
    assert body["status"]["description"], body
    assert body["status"]["req_id"]
    assert text in body["status"]["description"] + body["status"].get("details", "")
    return body


def test_malformed_json_is_400_with_position(server: RunningServer, app: AppFixture) -> None:
    resp = call(server, "POST", "/v2/concepts", app.app_key, raw=b'{"concepts": [{"id": "a",}]}')
    body = assert_clarifai_error(resp, 400, sc.CONN_BAD_REQUEST_FORMAT)
    assert "line" in body["status"]["description"] + body["status"].get("details", "")


def test_wrong_type_names_the_field(server: RunningServer, app: AppFixture) -> None:
    resp = call(server, "POST", "/v2/concepts", app.app_key, body={"concepts": "cat"})
    assert_clarifai_error(resp, 400, sc.CONN_INVALID_REQUEST, "concepts")


def test_bad_query_value(server: RunningServer, app: AppFixture) -> None:
    resp = call(server, "GET", "/v2/inputs", app.app_key, params={"per_page": "lots"})
    assert_clarifai_error(resp, 400, sc.CONN_INVALID_REQUEST, "per_page")


def test_unknown_route_and_wrong_method(server: RunningServer, app: AppFixture) -> None:
    assert_clarifai_error(
        call(server, "GET", "/v2/no/such/thing/here", app.app_key), 404, sc.CONN_DOES_NOT_EXIST
    )
    assert_clarifai_error(call(server, "PUT", "/v2/concepts", app.app_key), 405, sc.CONN_METHOD_NOT_ALLOWED)


def test_missing_key_is_401(server: RunningServer) -> None:
    assert_clarifai_error(call(server, "GET", "/v2/inputs", None), 401, sc.CONN_KEY_INVALID)


def test_unimplemented_is_clarifai_shape(server: RunningServer, app: AppFixture) -> None:
    assert_clarifai_error(
        call(server, "GET", "/v2/models/types", app.app_key), 501, sc.NOT_IMPLEMENTED, "ListModelTypes"
    )


def test_lists_emit_empty_lists_and_success(server: RunningServer, app: AppFixture) -> None:
    resp = call(server, "GET", "/v2/inputs", app.app_key)
    assert resp.status_code == 200
    assert resp.json()["inputs"] == []
    assert resp.json()["status"]["code"] == sc.SUCCESS


def test_long_and_short_routes_and_me_alias(server: RunningServer, app: AppFixture) -> None:
    post = call(
        server,
        "POST",
        f"/v2/users/me/apps/{app.app_id}/concepts",
        app.pat,
        body={"concepts": [{"id": "c1", "name": "C1"}]},
    )
    assert post.status_code == 200, post.text
    assert post.json()["concepts"][0]["value"] == 1
    short = call(
        server,
        "GET",
        "/v2/concepts",
        app.pat,
        params={"user_app_id.user_id": app.user_id, "user_app_id.app_id": app.app_id},
    )
    assert [c["id"] for c in short.json()["concepts"]] == ["c1"]


def test_delete_with_json_body_and_string_booleans(server: RunningServer, app: AppFixture) -> None:
    call(
        server,
        "POST",
        "/v2/inputs",
        app.app_key,
        body={
            "inputs": [
                {
                    "id": "x1",
                    "data": {
                        "image": {
                            "url": "https://samples.clarifai.com/puppy.jpeg",
                            "allow_duplicate_url": "True",
                        }
                    },
                }
            ]
        },
    )
    resp = call(server, "DELETE", "/v2/inputs", app.app_key, body={"ids": ["x1"]})
    assert resp.status_code == 200, resp.text
    assert call(server, "GET", "/v2/inputs/x1", app.app_key).status_code == 404


@pytest.mark.parametrize("status_value", ["INPUT_DOWNLOAD_SUCCESS", 30000])
def test_enum_by_name_or_number(server: RunningServer, app: AppFixture, status_value: Any) -> None:
    resp = call(server, "GET", "/v2/inputs", app.app_key, params={"status.code": status_value})
    assert resp.status_code == 200, resp.text


def test_no_cross_origin_access_by_default(server: RunningServer, app: AppFixture) -> None:
    """Same-origin only unless the operator names origins (tests/api/test_limits.py)."""
    resp = requests.options(
        server.base_url + "/v2/inputs",
        headers={
            "Origin": "http://example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert "access-control-allow-origin" not in resp.headers
    got = requests.get(
        server.base_url + "/v2/inputs",
        headers={"Origin": "http://example.test", "Authorization": f"Key {app.app_key}"},
        timeout=10,
    )
    assert got.status_code == 200 and "access-control-allow-origin" not in got.headers
