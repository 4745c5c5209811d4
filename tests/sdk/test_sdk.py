"""What a new user of the high-level ``clarifai`` SDK does, against the test server's gRPC port.

The SDK is pointed at labeldesk exactly as its docs say for a private deployment
(``base_url="http://HOST:GRPC_PORT"``, ``pat=...``); every test asserts the data that comes back,
not only that nothing raised (the SDK logs many failures instead of raising them).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labeldesk.app import RunningServer
from labeldesk.services import admin

clarifai_user = pytest.importorskip("clarifai.client.user")
upload_base = pytest.importorskip("clarifai.datasets.upload.base")
features = pytest.importorskip("clarifai.datasets.upload.features")

IMG = "https://samples.clarifai.com/metro-north.jpg"


def png(shade: int) -> bytes:
    """A 1x1 grey PNG (distinct bytes per shade), made without an imaging library."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes([0, shade])))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def sdk_user(server: RunningServer) -> Any:
    """A fresh user (made by the admin CLI's code), as the SDK sees them."""
    user_id = f"sdk-{uuid.uuid4().hex[:8]}"
    pat = admin.create_user(server.app.db, user_id, f"{user_id}@example.com")
    return clarifai_user.User(user_id=user_id, base_url=f"http://127.0.0.1:{server.grpc_port}", pat=pat)


@pytest.fixture
def sdk_app(sdk_user: Any) -> Iterator[Any]:
    """An app created through the SDK."""
    yield sdk_user.create_app(app_id="sdk-app")


def ids(items: Any) -> list[str]:
    return sorted(i.id for i in items)


def concepts_of(inp: Any) -> list[str]:
    return sorted(c.id for c in inp.data.concepts)


def test_upload_from_url_and_bytes_with_labels_creates_the_concepts(sdk_app: Any) -> None:
    sdk_app.create_dataset(dataset_id="photos")
    inputs = sdk_app.inputs()
    inputs.upload_from_url(input_id="url-1", image_url=IMG, labels=["train"], dataset_id="photos")
    inputs.upload_from_bytes(input_id="bytes-1", image_bytes=png(10), labels=["train", "night"])
    inputs.upload_text(input_id="text-1", raw_text="a caption", labels=["caption"])
    assert ids(sdk_app.list_concepts()) == ["caption", "night", "train"]
    listed = {i.id: i for i in inputs.list_inputs()}
    assert sorted(listed) == ["bytes-1", "text-1", "url-1"]
    assert listed["url-1"].data.image.url == IMG and list(listed["url-1"].dataset_ids) == ["photos"]
    assert concepts_of(listed["bytes-1"]) == ["night", "train"]
    assert ids(inputs.list_inputs(input_type="image")) == ["bytes-1", "url-1"]
    assert ids(inputs.list_inputs(input_type="text")) == ["text-1"]
    assert ids(inputs.list_inputs(dataset_id="photos")) == ["url-1"]
    labelled = {a.input_id: sorted(c.id for c in a.data.concepts) for a in inputs.list_annotations()}
    assert labelled == {"url-1": ["train"], "bytes-1": ["night", "train"], "text-1": ["caption"]}


# the SDK reads each image with open(...).read() and never closes the file
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_upload_from_folder_with_labels(sdk_app: Any, tmp_path: Path) -> None:
    dataset = sdk_app.create_dataset(dataset_id="pets")
    for label, names in {"cats": ["c1", "c2"], "dogs": ["d1"]}.items():
        (tmp_path / label).mkdir()
        for n, name in enumerate(names):
            (tmp_path / label / f"{name}.png").write_bytes(png(n + 1))
        dataset.upload_from_folder(folder_path=str(tmp_path / label), input_type="image", labels=True)
    listed = {i.id: concepts_of(i) for i in sdk_app.inputs().list_inputs(dataset_id="pets")}
    assert listed == {"c1": ["cats"], "c2": ["cats"], "d1": ["dogs"]}


def hits(responses: Any) -> list[str]:
    return sorted(h.input.id for resp in responses for h in resp.hits)


def test_search_by_concept_metadata_type_and_dataset(sdk_app: Any) -> None:
    from google.protobuf.struct_pb2 import Struct

    sdk_app.create_dataset(dataset_id="street")
    inputs = sdk_app.inputs()
    meta = Struct()
    meta.update({"camera": "north", "tags": ["wet"]})
    protos = [
        inputs.get_input_from_url("m1", image_url=IMG, labels=["train"], metadata=meta, dataset_id="street"),
        inputs.get_input_from_url("m2", image_url=IMG + "?2", labels=["bus"]),
        inputs.get_text_input("m3", raw_text="a train at night", labels=["train"]),
    ]
    inputs.upload_inputs(protos)
    search = sdk_app.search()
    assert hits(search.query(filters=[{"concepts": [{"id": "train", "value": 1}]}])) == ["m1", "m3"]
    assert hits(search.query(filters=[{"concepts": [{"name": "bus", "value": 1}]}])) == ["m2"]
    assert hits(search.query(filters=[{"metadata": {"camera": "north"}}])) == ["m1"]
    assert hits(search.query(filters=[{"input_types": ["text"]}])) == ["m3"]
    assert hits(search.query(filters=[{"input_dataset_ids": ["street"]}])) == ["m1"]
    paged = sdk_app.search(pagination=True)
    assert hits(paged.query(filters=[{"input_types": ["image"]}], page_no=1, per_page=1)) == ["m1"]
    with pytest.raises(Exception, match="similarity"):
        list(search.query(ranks=[{"image_url": IMG}]))


class Boxes(upload_base.ClarifaiDataLoader):  # type: ignore[misc]
    """A three-image detection dataset, as a user's own loader would be."""

    def __init__(self) -> None:
        self.items = [
            features.VisualDetectionFeatures(
                image_path=f"img{n}.png",
                labels=["red car", "person"][: n + 1],
                bboxes=[[0.1, 0.1, 0.5, 0.5], [0.2, 0.3, 0.9, 0.8]][: n + 1],
                id=n,
                image_bytes=png(n + 20),
            )
            for n in range(3)
        ]

    @property
    def task(self) -> str:
        return "visual_detection"

    def load_data(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]


def boxes_by_input(inputs: Any) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    out: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
    for a in inputs.list_annotations():
        for region in a.data.regions:
            b = region.region_info.bounding_box
            box = tuple(round(v, 3) for v in (b.top_row, b.left_col, b.bottom_row, b.right_col))
            out.setdefault(a.input_id, []).append((region.data.concepts[0].name, box))
    return {k: sorted(v) for k, v in out.items()}


def test_detection_dataset_uploaded_twice_keeps_one_copy_of_each_box(sdk_app: Any) -> None:
    dataset = sdk_app.create_dataset(dataset_id="cars")
    dataset.upload_dataset(dataloader=Boxes())
    inputs = sdk_app.inputs()
    first = boxes_by_input(inputs)
    assert first == {
        "cars-0": [("red car", (0.1, 0.1, 0.5, 0.5))],
        "cars-1": [("person", (0.3, 0.2, 0.8, 0.9)), ("red car", (0.1, 0.1, 0.5, 0.5))],
        "cars-2": [("person", (0.3, 0.2, 0.8, 0.9)), ("red car", (0.1, 0.1, 0.5, 0.5))],
    }
    assert {c.id: c.name for c in sdk_app.list_concepts()} == {"red car": "red car", "person": "person"}
    dataset.upload_dataset(dataloader=Boxes())
    assert boxes_by_input(inputs) == first
    assert ids(inputs.list_inputs(dataset_id="cars")) == ["cars-0", "cars-1", "cars-2"]


def test_merge_datasets_patch_app_and_user_calls(sdk_user: Any, sdk_app: Any) -> None:
    first, second = sdk_app.create_dataset(dataset_id="first"), sdk_app.create_dataset(dataset_id="second")
    inputs = sdk_app.inputs()
    inputs.upload_from_url(input_id="f1", image_url=IMG, dataset_id="first")
    inputs.upload_from_url(input_id="s1", image_url=IMG + "?s", dataset_id="second")
    second.merge_dataset(merge_dataset_id="first")
    assert ids(inputs.list_inputs(dataset_id="second")) == ["f1", "s1"]
    assert ids(inputs.list_inputs(dataset_id="first")) == ["f1"]
    assert {d.id for d in sdk_app.list_datasets()} == {"first", "second"}
    sdk_user.patch_app(app_id="sdk-app", action="overwrite", description="made with the SDK")
    assert sdk_user.app(app_id="sdk-app").app_info.description == "made with the SDK"
    assert [a.id for a in sdk_user.list_apps()] == ["sdk-app"]
    assert sdk_user.get_user_info().user.id == sdk_user.user_app_id.user_id
    assert first.id == "first"


def test_list_inputs_shows_the_concepts_real_name(sdk_app: Any) -> None:
    """Labels given at upload name concepts by id; list_inputs answers each concept's name."""
    sdk_app.create_concepts(concept_ids=["c-1", "c-2"], concepts=["Golden retriever", "Tabby cat"])
    inputs = sdk_app.inputs()
    inputs.upload_from_bytes(input_id="pet", image_bytes=png(40), labels=["c-1", "c-2"])
    inputs.upload_from_bytes(input_id="new", image_bytes=png(41), labels=["made-on-the-fly"])
    named = {i.id: sorted((c.id, c.name) for c in i.data.concepts) for i in inputs.list_inputs()}
    assert named == {
        "pet": [("c-1", "Golden retriever"), ("c-2", "Tabby cat")],
        "new": [("made-on-the-fly", "made-on-the-fly")],
    }
