"""Limits and hostile input: bodies are read only from callers with a key and only up to the limit,
over-long lists and NUL characters are bad input naming the field, broken protobuf bytes answer a
Clarifai status, and browsers may call cross-origin only from named origins."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import requests
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import struct_pb2

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings
from labeldesk.domain.request_limits import MAX_POLYGON_POINTS, MAX_REGIONS
from tests.helpers import IMG, AppFixture, fails, ok

SMALL = 64 * 1024
ORIGIN = "https://labels.example.test"


@pytest.fixture(scope="module")
def small(database_url: str, server: RunningServer) -> Iterator[RunningServer]:
    """A second server over the same database: 64 KiB bodies, one allowed browser origin."""
    settings = Settings(max_body_bytes=SMALL, cors_origins=(ORIGIN,))
    running = RunningServer(build(database_url, settings=settings), "127.0.0.1", 0, 0).start()
    yield running
    running.stop()


def _raw_http(server: RunningServer, head: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """Send a request by hand and read the answer without sending more (10 s at most)."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.split(b"\r\n\r\n", 1)[1])


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def _post_head(length: int, key: str | None = None) -> str:
    auth = f"Authorization: Key {key}\r\n" if key else ""
    return (
        f"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}"
        f"Content-Length: {length}\r\n"
    )


def test_an_anonymous_body_is_not_read(server: RunningServer) -> None:
    """The server answers 401 while the 10 MB body is still unsent: it never waits for it."""
    code, body = _raw_http(server, _post_head(10 * 1024 * 1024))
    assert (code, body["status"]["code"]) == (401, sc.CONN_KEY_INVALID)
    code, body = _raw_http(server, _post_head(10 * 1024 * 1024, key="not-a-key"))
    assert (code, body["status"]["code"]) == (401, sc.CONN_KEY_INVALID)


def test_an_unread_body_never_becomes_the_next_request(server: RunningServer, app: AppFixture) -> None:
    """The refused body is not parsed as a second request on the same connection: it is closed."""
    smuggled = f"GET /v2/inputs HTTP/1.1\r\nHost: x\r\nAuthorization: Key {app.app_key}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(_post_head(len(smuggled)).encode() + b"\r\n" + smuggled)
        answers = b""
        while chunk := sock.recv(65536):
            answers += chunk
    assert answers.startswith(b"HTTP/1.1 401") and answers.count(b"HTTP/1.1 ") == 1, answers


def test_a_declared_oversized_body_is_refused_unread(server: RunningServer, app: AppFixture) -> None:
    for key in (None, app.app_key):
        code, body = _raw_http(server, _post_head(300 * 1024 * 1024, key))
        assert (code, body["status"]["code"]) == (413, sc.RPC_MAX_MESSAGE_SIZE_EXCEEDED), body
        assert "32 MiB" in body["status"]["description"]


def test_the_limit_is_configurable_and_chunked_bodies_count(small: RunningServer, app: AppFixture) -> None:
    headers = {"Authorization": f"Key {app.app_key}", "Content-Type": "application/json"}
    url = small.base_url + "/v2/inputs"
    fits = json.dumps({"inputs": [{"id": "fits", "data": {"image": {"url": IMG}}}]}).encode()
    assert requests.post(url, data=fits, headers=headers, timeout=10).status_code == 200
    big = json.dumps({"inputs": [{"id": "big", "data": {"text": {"raw": "x" * SMALL}}}]}).encode()
    resp = requests.post(url, data=big, headers=headers, timeout=10)
    assert resp.status_code == 413 and resp.json()["status"]["code"] == sc.RPC_MAX_MESSAGE_SIZE_EXCEEDED
    chunked = requests.post(url, data=iter([big[:1000], big[1000:]]), headers=headers, timeout=10)
    assert chunked.status_code == 413, chunked.text
    got = requests.get(url, headers=headers, timeout=10).json()
    assert [i["id"] for i in got["inputs"] if i["id"] in ("fits", "big")] == ["fits"]


def test_grpc_messages_over_the_limit_are_refused(small: RunningServer, app: AppFixture) -> None:
    stub = service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=small.grpc_port)
    )
    fine = r.Input(id="grpc-fits", data=r.Data(image=r.Image(url=IMG)))
    ok(stub.PostInputs(s.PostInputsRequest(inputs=[fine]), metadata=app.key_meta))
    big = r.Input(id="grpc-big", data=r.Data(text=r.Text(raw="x" * SMALL)))
    with pytest.raises(grpc.RpcError) as raised:
        stub.PostInputs(s.PostInputsRequest(inputs=[big]), metadata=app.key_meta)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def _annotation(regions: int = 1, points: int = 3) -> r.Annotation:
    turn = [2 * math.pi * i / points for i in range(points)]
    polygon = r.Polygon(
        points=[r.Point(row=0.5 + 0.4 * math.sin(a), col=0.5 + 0.4 * math.cos(a)) for a in turn]
    )
    region = r.Region(
        region_info=r.RegionInfo(polygon=polygon), data=r.Data(concepts=[r.Concept(id="c", value=1)])
    )
    return r.Annotation(input_id="in-1", data=r.Data(regions=[region] * regions))


def _with_input(stub: Any, app: AppFixture) -> None:
    inputs = [r.Input(id="in-1", data=r.Data(image=r.Image(url=IMG)))]
    ok(stub.PostInputs(s.PostInputsRequest(user_app_id=app.uai, inputs=inputs), metadata=app.meta))
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="c")]), metadata=app.meta
        )
    )


def test_regions_and_polygon_points_are_capped(stub: Any, app: AppFixture) -> None:
    _with_input(stub, app)
    cases = [
        (_annotation(regions=MAX_REGIONS + 1), "annotations[0].data.regions", "regions per annotation"),
        (
            _annotation(points=MAX_POLYGON_POINTS + 1),
            "annotations[0].data.regions[0].region_info.polygon.points",
            "points per polygon",
        ),
    ]
    for annotation, field, what in cases:
        resp = stub.PostAnnotations(
            s.PostAnnotationsRequest(user_app_id=app.uai, annotations=[annotation]), metadata=app.meta
        )
        fails(resp, sc.CONN_INVALID_REQUEST, field, what)
    listed = ok(stub.ListAnnotations(s.ListAnnotationsRequest(user_app_id=app.uai), metadata=app.meta))
    assert list(listed.annotations) == []
    ok(
        stub.PostAnnotations(
            s.PostAnnotationsRequest(
                user_app_id=app.uai, annotations=[_annotation(regions=2, points=MAX_POLYGON_POINTS)]
            ),
            metadata=app.meta,
        )
    )


def _metadata(**values: str) -> struct_pb2.Struct:
    md = struct_pb2.Struct()
    md.update(values)
    return md


def test_nul_characters_are_bad_input_naming_the_field(stub: Any, app: AppFixture) -> None:
    cases = [
        (r.Input(id="a\x00b", data=r.Data(image=r.Image(url=IMG))), "inputs[0].id"),
        (
            r.Input(data=r.Data(image=r.Image(url=IMG), metadata=_metadata(k="v\x00"))),
            "inputs[0].data.metadata",
        ),
        (r.Input(data=r.Data(image=r.Image(url=IMG), metadata=_metadata(**{"k\x00": "v"}))), "a key"),
        (r.Input(data=r.Data(text=r.Text(raw="x\x00"))), "inputs[0].data.text.raw"),
    ]
    for item, field in cases:
        resp = stub.PostInputs(s.PostInputsRequest(user_app_id=app.uai, inputs=[item]), metadata=app.meta)
        fails(resp, sc.CONN_INVALID_REQUEST, field, "NUL")
    concept = r.Concept(id="ok", name="Na\x00me")
    resp = stub.PostConcepts(
        s.PostConceptsRequest(user_app_id=app.uai, concepts=[concept]), metadata=app.meta
    )
    fails(resp, sc.CONN_INVALID_REQUEST, "concepts[0].name", "NUL")
    resp = stub.GetInput(s.GetInputRequest(user_app_id=app.uai, input_id="x\x00"), metadata=app.meta)
    fails(resp, sc.CONN_INVALID_REQUEST, "input_id", "NUL")
    assert list(ok(stub.ListInputs(s.ListInputsRequest(user_app_id=app.uai), metadata=app.meta)).inputs) == []
    assert (
        list(ok(stub.ListConcepts(s.ListConceptsRequest(user_app_id=app.uai), metadata=app.meta)).concepts)
        == []
    )


def test_nul_characters_in_the_staged_api(server: RunningServer, app: AppFixture) -> None:
    resp = requests.post(
        server.base_url + "/api/v2/tasks/t1/submit",
        data=json.dumps({"comment": "a\x00b"}),
        headers={"Authorization": f"Key {app.pat}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["clarifai_code"] == sc.CONN_INVALID_REQUEST
    assert "body.comment" in resp.json()["error"]["message"]
    resp = requests.get(
        server.base_url + "/api/v2/tasks/t%001", headers={"Authorization": f"Key {app.pat}"}, timeout=10
    )
    assert resp.status_code == 400 and "path.taskId" in resp.json()["error"]["message"]


def test_broken_protobuf_bytes_answer_a_clarifai_status(server: RunningServer, app: AppFixture) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    call = channel.unary_unary(
        "/clarifai.api.V2/ListInputs",
        request_serializer=None,
        response_deserializer=s.MultiInputResponse.FromString,
    )
    for garbage in (b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x12\xff\x01"):
        resp = call(garbage, metadata=app.key_meta, timeout=10)
        fails(resp, sc.CONN_INVALID_REQUEST, "clarifai.api.ListInputsRequest")
    channel.close()


def _preflight(server: RunningServer, origin: str) -> requests.Response:
    return requests.options(
        server.base_url + "/v2/inputs",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )


def test_cors_only_for_named_origins(small: RunningServer, app: AppFixture) -> None:
    allowed = _preflight(small, ORIGIN)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in _preflight(small, "https://evil.example.test").headers
    for origin, expected in ((ORIGIN, ORIGIN), ("https://evil.example.test", None)):
        got = requests.get(
            small.base_url + "/v2/inputs",
            headers={"Origin": origin, "Authorization": f"Key {app.app_key}"},
            timeout=10,
        )
        assert got.status_code == 200
        assert got.headers.get("access-control-allow-origin") == expected
