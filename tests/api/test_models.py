"""Models over both transports: the Clarifai model RPCs with a backend binding whose token is
never answered; PostModelOutputs against model servers the test runs (Open Inference Protocol and
Label Studio ML backend, real HTTP), the built-in face detector on a real photo, and backends that
are down, slow or answer garbage."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import struct_pb2

from tests.helpers import PNG_1PX, AppFixture, fails, ok
from tests.model_servers import ModelServer, model_server

SC = status_code_pb2


def binding(**fields: Any) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update({"labeldesk": fields})
    return s


def post_model(stub: Any, app: AppFixture, model_id: str, concepts: list[str] = (), **bind: Any) -> Any:  # type: ignore[assignment]
    m = resources_pb2.Model(id=model_id, metadata=binding(**bind))
    for c in concepts:
        m.output_info.data.concepts.add(id=c)
    return stub.PostModels(service_pb2.PostModelsRequest(user_app_id=app.uai, models=[m]), metadata=app.meta)


def predict(stub: Any, app: AppFixture, model_id: str, *inputs: resources_pb2.Input) -> Any:
    req = service_pb2.PostModelOutputsRequest(user_app_id=app.uai, model_id=model_id, inputs=list(inputs))
    return stub.PostModelOutputs(req, metadata=app.meta)


def png_input(data: bytes = PNG_1PX) -> resources_pb2.Input:
    return resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(base64=data)))


@pytest.fixture
def oip() -> Iterator[ModelServer]:
    with model_server() as s:
        yield s


lsml = oip


def test_model_crud_keeps_the_token_secret(stub: Any, app: AppFixture) -> None:
    url = "http://127.0.0.1:9"
    m = ok(
        post_model(
            stub, app, "clf", ["cat", "dog"], backend="oip", url=url, model_name="resnet", token="s3cret"
        )
    ).model
    block = dict(m.metadata["labeldesk"])
    assert block == {"backend": "oip", "url": url, "model_name": "resnet", "token_set": True}
    assert m.model_version.id and [c.id for c in m.output_info.data.concepts] == ["cat", "dog"]
    raw = requests.get(
        f"{app.server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/models/clf",
        headers={"Authorization": f"Key {app.pat}"},
        timeout=10,
    )
    assert raw.status_code == 200 and "s3cret" not in raw.text
    got = ok(
        stub.GetModel(service_pb2.GetModelRequest(user_app_id=app.uai, model_id="clf"), metadata=app.meta)
    )
    assert got.model.model_version.id == m.model_version.id
    listed = ok(stub.ListModels(service_pb2.ListModelsRequest(user_app_id=app.uai), metadata=app.meta))
    assert [x.id for x in listed.models] == ["clf"]
    concepts = ok(
        stub.ListModelConcepts(
            service_pb2.ListModelConceptsRequest(user_app_id=app.uai, model_id="clf"), metadata=app.meta
        )
    )
    assert [c.id for c in concepts.concepts] == ["cat", "dog"]
    # a new binding (another model name) is a new version; the token is kept when not sent again
    patch = resources_pb2.Model(
        id="clf", name="Classifier", metadata=binding(backend="oip", url=url, model_name="vit")
    )
    (p,) = ok(
        stub.PatchModels(
            service_pb2.PatchModelsRequest(user_app_id=app.uai, models=[patch], action="merge"),
            metadata=app.meta,
        )
    ).models
    assert p.name == "Classifier" and p.model_version.id != m.model_version.id
    assert p.metadata["labeldesk"]["token_set"] is True and "token" not in p.metadata["labeldesk"]
    versions = ok(
        stub.ListModelVersions(
            service_pb2.ListModelVersionsRequest(user_app_id=app.uai, model_id="clf"), metadata=app.meta
        )
    )
    assert [v.id for v in versions.model_versions] == [p.model_version.id]
    req = service_pb2.GetModelVersionRequest(
        user_app_id=app.uai, model_id="clf", version_id=m.model_version.id
    )
    fails(stub.GetModelVersion(req, metadata=app.meta), SC.CONN_DOES_NOT_EXIST, "no version")
    ok(
        stub.DeleteModel(
            service_pb2.DeleteModelRequest(user_app_id=app.uai, model_id="clf"), metadata=app.meta
        )
    )
    fails(
        stub.GetModel(service_pb2.GetModelRequest(user_app_id=app.uai, model_id="clf"), metadata=app.meta),
        SC.CONN_DOES_NOT_EXIST,
    )


@pytest.mark.parametrize(
    ("bind", "text"),
    [
        ({"backend": "torch"}, "labeldesk.backend"),
        ({"backend": "oip", "url": "ftp://x", "model_name": "m"}, "labeldesk.url"),
        ({"backend": "oip", "url": "http://x"}, "labeldesk.model_name"),
        ({"backend": "builtin", "timeout_s": 0}, "labeldesk.timeout_s"),
        ({"backend": "builtin", "tokn": "x"}, "unknown field"),
    ],
)
def test_a_bad_binding_is_refused_naming_the_field(
    stub: Any, app: AppFixture, bind: dict[str, Any], text: str
) -> None:
    fails(post_model(stub, app, "bad", **bind), SC.CONN_INVALID_REQUEST, text)


def test_oip_predictions_become_concepts_and_regions(stub: Any, app: AppFixture, oip: ModelServer) -> None:
    oip.json_answer(
        {
            "model_name": "det",
            "outputs": [
                {"name": "scores", "datatype": "FP32", "shape": [1, 2], "data": [0.9, 0.1]},
                {"name": "boxes", "datatype": "FP32", "shape": [1, 1, 4], "data": [0.1, 0.2, 0.5, 0.6]},
                {"name": "box_scores", "datatype": "FP32", "shape": [1, 1], "data": [0.75]},
                {"name": "box_labels", "datatype": "INT64", "shape": [1, 1], "data": [1]},
            ],
        }
    )
    ok(post_model(stub, app, "det", ["cat", "dog"], backend="oip", url=oip.url, model_name="det", token="tk"))
    (out,) = ok(predict(stub, app, "det", png_input())).outputs
    assert [(c.id, round(c.value, 3)) for c in out.data.concepts] == [("cat", 0.9), ("dog", 0.1)]
    (region,) = out.data.regions
    box = region.region_info.bounding_box
    assert [round(v, 3) for v in (box.top_row, box.left_col, box.bottom_row, box.right_col)] == [
        0.1,
        0.2,
        0.5,
        0.6,
    ]
    assert [(c.id, round(c.value, 3)) for c in region.data.concepts] == [("dog", 0.75)]
    ((method, path, headers, body),) = oip.requests
    assert (method, path) == ("POST", "/v2/models/det/infer")
    assert headers["Authorization"] == "Bearer tk"
    (tensor,) = body["inputs"]
    assert tensor["datatype"] == "BYTES" and tensor["shape"] == [1]
    assert base64.b64decode(tensor["data"][0]) == PNG_1PX


def test_oip_runs_on_stored_inputs_by_id(stub: Any, app: AppFixture, oip: ModelServer) -> None:
    oip.json_answer(
        {"outputs": [{"name": "scores", "shape": [2, 1], "data": [0.3, 0.8], "datatype": "FP32"}]}
    )
    ok(post_model(stub, app, "c", ["cat"], backend="oip", url=oip.url, model_name="c"))
    inputs = [resources_pb2.Input(id=f"in{i}", data=png_input().data) for i in range(2)]
    ok(stub.PostInputs(service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=inputs), metadata=app.meta))
    outs = ok(predict(stub, app, "c", resources_pb2.Input(id="in0"), resources_pb2.Input(id="in1"))).outputs
    assert [(o.input.id, round(o.data.concepts[0].value, 3)) for o in outs] == [("in0", 0.3), ("in1", 0.8)]
    assert [base64.b64decode(d) for d in oip.requests[0][3]["inputs"][0]["data"]] == [PNG_1PX, PNG_1PX]
    fails(predict(stub, app, "c", resources_pb2.Input(id="nope")), SC.CONN_DOES_NOT_EXIST, "nope")


def test_label_studio_results_in_percent_become_relative_regions(
    stub: Any, app: AppFixture, lsml: ModelServer
) -> None:
    result = [
        {
            "type": "rectanglelabels",
            "from_name": "label",
            "to_name": "image",
            "score": 0.8,
            "value": {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["car"]},
        },
        {
            "type": "polygonlabels",
            "from_name": "polygon",
            "to_name": "image",
            "value": {"points": [[10, 10], [50, 10], [50, 60]], "polygonlabels": ["road"]},
        },
        {"type": "choices", "from_name": "choice", "to_name": "image", "value": {"choices": ["street"]}},
    ]
    lsml.json_answer({"results": [{"result": result, "score": 0.6, "model_version": "yolo-1"}]})
    ok(post_model(stub, app, "ls", ["car", "road", "street"], backend="ls-ml", url=lsml.url))
    (out,) = ok(predict(stub, app, "ls", png_input())).outputs
    assert [(c.id, round(c.value, 3)) for c in out.data.concepts] == [("street", 0.6)]
    rect, poly = out.data.regions
    b = rect.region_info.bounding_box
    assert [round(v, 3) for v in (b.top_row, b.left_col, b.bottom_row, b.right_col)] == [0.2, 0.1, 0.6, 0.4]
    assert [(c.id, round(c.value, 3)) for c in rect.data.concepts] == [("car", 0.8)]
    pts = [(round(p.col, 3), round(p.row, 3)) for p in poly.region_info.polygon.points]
    assert pts == [(0.1, 0.1), (0.5, 0.1), (0.5, 0.6)] and poly.data.concepts[0].id == "road"
    ((method, path, _, body),) = lsml.requests
    assert (method, path) == ("POST", "/predict")
    image = body["tasks"][0]["data"]["image"]
    assert image.startswith("data:image/png;base64,") and base64.b64decode(image.split(",", 1)[1]) == PNG_1PX
    assert '<Label value="car"/>' in body["label_config"]


def astronaut_png() -> bytes:
    skimage_data = pytest.importorskip("skimage.data")
    import cv2

    rgb = skimage_data.astronaut()
    good, png = cv2.imencode(".png", rgb[:, :, ::-1])
    assert good
    return bytes(png)


def test_the_builtin_face_model_finds_the_astronauts_face(stub: Any, app: AppFixture) -> None:
    ok(post_model(stub, app, "faces", ["face"], backend="builtin", model_name="face-detection"))
    (out,) = ok(predict(stub, app, "faces", png_input(astronaut_png()))).outputs
    assert len(out.data.regions) == 1, out.data.regions
    b = out.data.regions[0].region_info.bounding_box
    # Eileen Collins' face: about x 170-260, y 40-140 of the 512 x 512 picture
    assert 0.05 < b.top_row < 0.15 and 0.28 < b.left_col < 0.38 and 0.22 < b.bottom_row < 0.32
    assert (
        out.data.regions[0].data.concepts[0].id == "face"
        and 0 < out.data.regions[0].data.concepts[0].value <= 1
    )
    (nothing,) = ok(predict(stub, app, "faces", png_input())).outputs
    assert list(nothing.data.regions) == []


def test_backend_down_slow_or_garbage_gets_a_clear_status(
    stub: Any, app: AppFixture, oip: ModelServer
) -> None:
    with model_server() as gone:
        dead = gone.url
    ok(post_model(stub, app, "down", ["x"], backend="oip", url=dead, model_name="m", timeout_s=2))
    (out,) = fails(predict(stub, app, "down", png_input()), SC.FAILURE).outputs
    assert out.status.code == SC.MODEL_PREDICTION_FAILED and "unreachable" in out.status.description

    oip.delay_s = 1.5
    oip.json_answer({"outputs": [{"name": "scores", "data": [0.5], "shape": [1, 1], "datatype": "FP32"}]})
    ok(post_model(stub, app, "slow", ["x"], backend="oip", url=oip.url, model_name="m", timeout_s=0.3))
    (out,) = fails(predict(stub, app, "slow", png_input()), SC.FAILURE).outputs
    assert "did not answer within 0.3 s" in out.status.description
    assert len(oip.requests) == 3  # the first attempt and two retries

    oip.delay_s = 0
    oip.requests.clear()
    oip.answer = lambda path, body: (200, b"<html>oops</html>")
    ok(post_model(stub, app, "junk", ["x"], backend="oip", url=oip.url, model_name="m"))
    (out,) = fails(predict(stub, app, "junk", png_input()), SC.FAILURE).outputs
    assert "not JSON" in out.status.description and len(oip.requests) == 1
    oip.json_answer({"outputs": [{"name": "scores", "data": ["high"], "shape": [1, 1], "datatype": "FP32"}]})
    (out,) = fails(predict(stub, app, "junk", png_input()), SC.FAILURE).outputs
    assert "expected a number" in out.status.description


def test_one_unreadable_input_does_not_hide_the_others_and_server_files_stay_unread(
    stub: Any, app: AppFixture
) -> None:
    ok(post_model(stub, app, "faces", ["face"], backend="builtin"))
    bad = resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(url="file:///etc/hostname")))
    resp = fails(predict(stub, app, "faces", png_input(), bad), SC.MIXED_STATUS)
    assert [o.status.code for o in resp.outputs] == [SC.SUCCESS, SC.INPUT_DOWNLOAD_FAILED]
    assert "http(s)" in resp.outputs[1].status.description  # never a file of the server


def test_label_studio_health_and_setup_speak_the_protocol(lsml: ModelServer) -> None:
    from labeldesk.models.lsml import LsMlAdapter

    lsml.answer = lambda path, body: (200, b'{"status": "UP", "model_class": "YOLO"}')
    adapter = LsMlAdapter(lsml.url, ["car"], token="tk", timeout_s=2)
    assert adapter.health()["status"] == "UP"
    adapter.setup()
    (health, setup) = lsml.requests
    assert health[:2] == ("GET", "/health") and health[2]["Authorization"] == "Bearer tk"
    assert setup[:2] == ("POST", "/setup") and setup[3]["project"] == "labeldesk"
    assert '<Label value="car"/>' in setup[3]["schema"]
