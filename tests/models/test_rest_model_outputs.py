"""REST PostModelOutputs' fast path (transport/rest/model_outputs.py): the client's base64 text
reaches an Open Inference Protocol backend exactly as sent (not decoded and encoded again), the
answer is the one the generic path gives for the same request, and bodies the fast path does not
read (URL-safe or unpadded base64, other fields, bad base64, NUL characters) get the generic
path's answer, refusals included."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2 as SC

from tests.api.test_models import PNG_1PX, post_model
from tests.helpers import AppFixture, ok
from tests.model_servers import ModelServer, model_server

IMG = PNG_1PX + b"\0"  # a length that base64 pads (labeldesk and this backend never decode it)


def scores(_path: str, body: Any) -> tuple[int, bytes]:
    n = len(body["inputs"][0]["data"])
    out = {"outputs": [{"name": "scores", "datatype": "FP32", "shape": [n, 2], "data": [0.75, 0.25] * n}]}
    return 200, json.dumps(out).encode()


@pytest.fixture
def oip() -> Iterator[ModelServer]:
    with model_server(scores) as s:
        yield s


@pytest.fixture
def model(grpc_stub: Any, app: AppFixture, oip: ModelServer) -> str:
    ok(post_model(grpc_stub, app, "clf", ["cat", "dog"], backend="oip", url=oip.url, model_name="clf"))
    return "clf"


def post(app: AppFixture, body: Any) -> dict[str, Any]:
    url = f"{app.server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/models/clf/outputs"
    res = requests.post(url, json=body, headers={"Authorization": f"Key {app.pat}"}, timeout=30)
    answer: dict[str, Any] = res.json()
    answer["http"] = res.status_code
    return answer


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without what differs per call (ids, request id, creation time)."""
    outs = [{k: v for k, v in o.items() if k not in ("id", "created_at")} for o in answer.get("outputs", [])]
    return {"status": {k: v for k, v in answer["status"].items() if k != "req_id"}, "outputs": outs}


def sent_images(oip: ModelServer) -> list[str]:
    return [d for _, _, _, body in oip.requests for d in body["inputs"][0]["data"]]


def test_the_clients_base64_reaches_the_backend_as_sent(
    app: AppFixture, oip: ModelServer, model: str
) -> None:
    canonical = base64.b64encode(IMG).decode()
    assert canonical.endswith("=")  # so a second spelling of the same bytes exists
    # the last character before the padding carries bits the bytes do not use: set one of them
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = canonical.rstrip("=")[-1]
    other = alphabet[alphabet.index(last) + 1]
    spelled = canonical.rstrip("=")[:-1] + other + "=" * (len(canonical) - len(canonical.rstrip("=")))
    assert base64.b64decode(spelled) == IMG and spelled != canonical
    fast = post(app, {"inputs": [{"id": "a", "data": {"image": {"base64": spelled}}}]})
    assert fast["status"]["code"] == SC.SUCCESS, fast
    assert sent_images(oip) == [spelled]  # handed through, not decoded and encoded again
    # unpadded: the generic path reads it, and the backend gets the bytes encoded again
    generic = post(app, {"inputs": [{"id": "a", "data": {"image": {"base64": canonical.rstrip("=")}}}]})
    assert sent_images(oip) == [spelled, canonical]
    assert comparable(fast) == comparable(generic)
    concepts = fast["outputs"][0]["data"]["concepts"]
    assert [(c["id"], round(c["value"], 2)) for c in concepts] == [("cat", 0.75), ("dog", 0.25)]
    assert fast["outputs"][0]["input"]["id"] == "a" and fast["outputs"][0]["model"]["id"] == "clf"


def test_the_fast_path_answers_as_the_grpc_path(
    app: AppFixture, grpc_stub: Any, oip: ModelServer, model: str
) -> None:
    from labeldesk.wire.printer import message_to_json

    inputs = [
        resources_pb2.Input(id=f"i{n}", data=resources_pb2.Data(image=resources_pb2.Image(base64=IMG)))
        for n in range(3)
    ]
    req = service_pb2.PostModelOutputsRequest(user_app_id=app.uai, model_id="clf", inputs=inputs)
    via_grpc = message_to_json(ok(grpc_stub.PostModelOutputs(req, metadata=app.meta)))
    b64 = base64.b64encode(IMG).decode()
    fast = post(app, {"inputs": [{"id": f"i{n}", "data": {"image": {"base64": b64}}} for n in range(3)]})
    assert comparable(fast) == comparable(via_grpc)
    assert sent_images(oip) == [b64] * 6


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({"inputs": [{"data": {"image": {"base64": "!!!!"}}}]}, SC.CONN_INVALID_REQUEST, "base64"),
        (
            {"inputs": [{"id": "a\u0000", "data": {"image": {"base64": "AAAA"}}}]},
            SC.CONN_INVALID_REQUEST,
            "NUL",
        ),
        ({"inputs": [{"data": {}}]}, SC.CONN_INVALID_REQUEST, "inputs[0]: give an input id"),
        ({"inputs": [{"id": "nope"}]}, SC.CONN_DOES_NOT_EXIST, "nope"),
        ({"inputs": []}, SC.CONN_INVALID_REQUEST, "inputs: give the inputs"),
        ({"inputs": [{"data": {"image": {"base64": "AAAA"}}}], "model": {"id": "clf"}}, SC.SUCCESS, "Ok"),
    ],
)
def test_bodies_the_fast_path_does_not_take_get_the_generic_answer(
    app: AppFixture, model: str, body: Any, code: int, says: str
) -> None:
    answer = post(app, body)
    if code is not None:
        assert answer["status"]["code"] == code, answer
    else:
        assert answer["status"]["code"] != SC.SUCCESS, answer
    assert says in answer["status"]["description"] + answer["status"].get("details", ""), answer
    assert answer["http"] != 500


TRICKY = [
    b'{"inputs": [ {"data": {"image": {"base64" :  "QUJD"}}} ,{"id":"x"}]}',
    b'{"inputs":[{"id":"\\"base64\\": \\"QUJD\\"","data":{"image":{"base64":"QUJD"}}}]}',
    b'{"inputs":[{"id":"base64","data":{"image":{"base64":"QUJD"}}}]}',
    b'{"inputs":[{"data":{"image":{"base64":"QU\\/D"}}}]}',
    b'{"inputs":[{"data":{"image":{"base64":"QUJD"}}},{"data":{"image":{"url":"http://x/a.png"}}}]}',
    b'{"base64":"QUJD","inputs":[{"data":{"image":{"base64":"QUJD"}}}]}',
    b'{"inputs":[{"data":{"image":{"base64":"QUJD","url":"http://x"}}}]}',
    b'{"inputs":[{"data":{"image":{"base64":"QUJ"}}}]}',
]


@pytest.mark.parametrize("body", TRICKY)
def test_what_the_fast_path_reads_is_what_the_json_says(body: bytes) -> None:
    """Whenever the fast path takes a body, its inputs are exactly those a JSON parser reads;
    otherwise (None) the generic path answers."""
    from labeldesk.transport.rest.model_outputs import read_body, split_images

    skeleton, images = split_images(body)
    read = read_body(orjson.loads(skeleton), {"model_id": "clf"}, images)
    truth = orjson.loads(body)["inputs"]
    if read is None:
        return
    _, given = read
    assert [g.id for g in given] == [i.get("id", "") for i in truth]
    for g, i in zip(given, truth):
        image = i.get("data", {}).get("image", {})
        got = bytes(g.image.b64).decode() if g.image else (g.data.image.url if g.data else "")
        assert got == image.get("base64", image.get("url", ""))


def test_plain_and_pretty_bodies_take_the_fast_path() -> None:
    from labeldesk.transport.rest.model_outputs import read_body, split_images

    taken = []
    for body in TRICKY:
        skeleton, images = split_images(body)
        taken.append(read_body(orjson.loads(skeleton), {}, images) is not None)
    assert taken == [True, True, False, False, True, False, False, False]


def test_the_model_rendered_once_reads_as_every_outputs_own(
    app: AppFixture, grpc_stub: Any, oip: ModelServer, model: str
) -> None:
    """The fast path renders the outputs' model once per cached model and puts it back in every
    output, in its place (between ``status`` and ``input``), failures included; a PatchModels is
    in the very next answer."""
    b64 = base64.b64encode(IMG).decode()
    body = {"inputs": [{"id": "a", "data": {"image": {"base64": b64}}}, {"id": "nope-url", "data": {}}]}
    body["inputs"][1]["data"] = {"image": {"url": "http://127.0.0.1:9/none.png"}}  # unreadable
    fast = post(app, body)
    generic = post(app, {**body, "model": {"id": "clf"}})  # "model" in the body: the generic path
    assert fast["status"]["code"] == SC.MIXED_STATUS, fast
    assert comparable(fast) == comparable(generic)
    for f, g in zip(fast["outputs"], generic["outputs"]):
        assert list(f) == list(g) == ["id", "status", "model", "input", *(["data"] if "data" in g else [])]
    patch = resources_pb2.Model(id="clf", name="renamed")
    ok(
        grpc_stub.PatchModels(
            service_pb2.PatchModelsRequest(user_app_id=app.uai, models=[patch], action="merge"),
            metadata=app.meta,
        )
    )
    again = post(app, body)
    assert [o["model"]["name"] for o in again["outputs"]] == ["renamed", "renamed"]
