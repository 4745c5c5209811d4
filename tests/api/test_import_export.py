"""``labeldesk import`` / ``export`` against the test server's database: round trips per format
on small Pillow-generated datasets, re-runs without duplicates, stop vs --skip-errors, and the
imported annotations as the API shows them."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from click.testing import CliRunner, Result
from PIL import Image
from sqlalchemy import select

from labeldesk.cli import main
from labeldesk.datasets_io.records import Record
from labeldesk.services import dataset_export as exp
from labeldesk.services.dataset_import import resolve_app
from labeldesk.storage import tables as t
from labeldesk.storage.engine import Database
from tests.helpers import AppFixture, ok, rest_listing_matches_grpc, unique

SIZES = {"red": (64, 48), "green": (80, 60), "blue": (50, 50)}


def make_coco(root: Path, with_polygons: bool = True) -> Path:
    (root / "images").mkdir(parents=True)
    images, annotations = [], []
    for n, (name, (w, h)) in enumerate(SIZES.items(), start=1):
        Image.new("RGB", (w, h), name).save(root / "images" / f"{name}.png")
        images.append({"id": n, "file_name": f"{name}.png", "width": w, "height": h, "site": "lab"})
        annotations.append({"id": 10 * n, "image_id": n, "category_id": 1, "bbox": [2, 4, w / 2, h / 3]})
        annotations.append({"id": 10 * n + 1, "image_id": n, "category_id": 2, "bbox": [w / 2, h / 2, 10, 8]})
        if with_polygons:
            ring = [1, 1, w - 2, 1, w / 2, h - 3]
            annotations.append({"id": 10 * n + 2, "image_id": n, "category_id": 2, "segmentation": [ring]})
    categories = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    (root / "annotations.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return root


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def blob_dir(app: AppFixture) -> str:
    """The test server's blob store, where the CLI must store (and find) imported images."""
    return str(app.server.app.hosting.store.root)  # type: ignore[attr-defined]


def import_(app: AppFixture, db_url: str, fmt: str, path: Path, *extra: str) -> Result:
    return cli(
        "import",
        "--blob-dir",
        blob_dir(app),
        "--app",
        f"{app.user_id}/{app.app_id}",
        "--format",
        fmt,
        str(path),
        "--database-url",
        db_url,
        *extra,
    )


def other_app(app: AppFixture) -> AppFixture:
    from labeldesk.services import admin

    app_id = unique("app")
    admin.create_app(app.server.app.db, app.user_id, app_id)
    return AppFixture(app.user_id, app_id, app.pat, app.app_key, app.server)


def exported(db_url: str, app: AppFixture) -> dict[str, Record]:
    db = Database(db_url)
    try:
        store = app.server.app.hosting.store
        sel = exp.Selection(resolve_app(db, f"{app.user_id}/{app.app_id}"))
        return {r.input_id: r for r in exp.records(db, sel, lambda a, key: store.local_path(str(a), key))}
    finally:
        db.dispose()


def shape(r: Record, with_polygons: bool) -> list[tuple[Any, ...]]:
    """A record's regions, rounded (boxes are float32 on the wire) and ordered."""
    out = []
    for g in r.regions:
        box = tuple(round(v, 3) for v in g.box) if g.box else None
        poly = tuple((round(x, 3), round(y, 3)) for x, y in g.polygon) if with_polygons else ()
        out.append((g.concepts, None if poly else box, poly))
    return sorted(out, key=repr)


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc", "jsonl", "csv"])
def test_import_export_import_gives_the_same_inputs_and_annotations(
    tmp_path: Path, app: AppFixture, database_url: str, fmt: str
) -> None:
    polygons = fmt not in ("voc",)  # VOC has boxes only: a polygon is exported as its box
    src = make_coco(tmp_path / "src", with_polygons=polygons)
    res = import_(app, database_url, "coco", src)
    assert res.exit_code == 0, res.output
    first = exported(database_url, app)
    assert set(first) == set(SIZES)
    assert len(first["red"].regions) == (3 if polygons else 2)

    res = cli(
        "export",
        "--app",
        f"{app.user_id}/{app.app_id}",
        "--format",
        fmt,
        str(tmp_path / "out"),
        "--database-url",
        database_url,
        "--copy-files",
        "--blob-dir",
        blob_dir(app),
    )
    assert res.exit_code == 0, res.output
    again = other_app(app)
    res = import_(again, database_url, fmt, tmp_path / "out")
    assert res.exit_code == 0, res.output
    second = exported(database_url, again)
    assert set(second) == set(first)
    for input_id, r in first.items():
        assert shape(second[input_id], polygons) == shape(r, polygons), input_id
        if fmt in ("coco", "voc", "jsonl", "csv"):
            assert (second[input_id].width, second[input_id].height) == SIZES[input_id]
        if fmt in ("jsonl", "csv"):
            assert second[input_id].metadata == r.metadata


def test_a_second_run_creates_no_duplicates_and_the_api_shows_the_boxes(
    tmp_path: Path, app: AppFixture, database_url: str, stub: Any
) -> None:
    src = make_coco(tmp_path / "src")
    res = import_(app, database_url, "coco", src, "--dataset", "imported")
    assert res.exit_code == 0, res.output
    assert (
        "inputs: 3 new, 0 already there; annotations: 3 (9 regions); concepts: 2 new; skipped: 0"
        in res.output
    )
    res = import_(app, database_url, "coco", src, "--dataset", "imported")
    assert "inputs: 0 new, 3 already there; annotations: 0 (0 regions); concepts: 0 new" in res.output
    inputs = ok(
        stub.ListDatasetInputs(
            service_pb2.ListDatasetInputsRequest(user_app_id=app.uai, dataset_id="imported"),
            metadata=app.meta,
        )
    )
    assert sorted(di.input.id for di in inputs.dataset_inputs) == ["blue", "green", "red"]
    anns = ok(
        stub.ListAnnotations(
            service_pb2.ListAnnotationsRequest(user_app_id=app.uai, input_ids=["red"]), metadata=app.meta
        )
    )
    (ann,) = anns.annotations
    box = ann.data.regions[0].region_info.bounding_box
    assert math.isclose(box.left_col, 2 / 64, rel_tol=1e-5) and math.isclose(
        box.bottom_row, (4 + 16) / 48, rel_tol=1e-5
    )
    assert [c.id for c in ann.data.regions[0].data.concepts] == ["cat"]
    assert len(ann.data.regions[2].region_info.polygon.points) == 3


def test_a_bad_record_stops_the_import_and_nothing_of_its_chunk_stays(
    tmp_path: Path, app: AppFixture, database_url: str
) -> None:
    src = make_coco(tmp_path / "src")
    doc = json.loads((src / "annotations.json").read_text())
    doc["annotations"][4]["bbox"] = [70, 0, 20, 10]  # green is 80 wide
    (src / "annotations.json").write_text(json.dumps(doc))
    res = import_(app, database_url, "coco", src)
    assert res.exit_code == 1
    assert "annotations.json: annotations[4]: bbox [70, 0, 20, 10]: box" in res.output
    assert "outside the image of 80x60" in res.output
    assert exported(database_url, app) == {}

    res = import_(app, database_url, "coco", src, "--skip-errors")
    assert res.exit_code == 0, res.output
    assert "skipped: 1" in res.output and "skipped " in res.output
    assert set(exported(database_url, app)) == {"red", "blue"}


def test_imported_images_are_hosted_unless_referenced(
    tmp_path: Path, app: AppFixture, database_url: str, stub: Any
) -> None:
    src = make_coco(tmp_path / "src")
    assert import_(app, database_url, "coco", src).exit_code == 0
    image = ok(
        stub.GetInput(service_pb2.GetInputRequest(user_app_id=app.uai, input_id="red"), metadata=app.meta)
    ).input.data.image
    (red,) = image.url.split("?")[:1]
    assert red.startswith(app.server.base_url + "/files/orig/")
    # thumbnails are made on first request (not at import), at the sizes the input lists
    orig = Image.open(src / "images" / "red.png")
    for size in ("small", "tiny"):
        url = f"{image.hosted.prefix}/{size}/{image.hosted.suffix}"
        got = requests.get(url, timeout=30)
        assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
        info = image.hosted_image_info[size]
        thumb = Image.open(io.BytesIO(got.content))
        assert thumb.size == (info.width, info.height) and max(thumb.size) <= max(orig.size)
        again = requests.get(url, timeout=30)
        assert again.content == got.content  # stored once made
    referenced = other_app(app)
    assert import_(referenced, database_url, "coco", src, "--reference-files").exit_code == 0
    uai = service_pb2.GetInputRequest(user_app_id=referenced.uai, input_id="red")
    url = ok(stub.GetInput(uai, metadata=referenced.meta)).input.data.image.url
    assert url == (src / "images" / "red.png").resolve().as_uri()


def test_an_imported_annotation_lists_as_one_made_over_the_api(
    tmp_path: Path, app: AppFixture, database_url: str, stub: Any
) -> None:
    """Imported region annotations store the JSON rendering PostAnnotations stores: listed over
    REST they are the same bytes as an API-made annotation with the same regions."""
    assert import_(app, database_url, "coco", make_coco(tmp_path / "src")).exit_code == 0
    req = service_pb2.ListAnnotationsRequest(user_app_id=app.uai, input_ids=["red"])
    (imported,) = ok(stub.ListAnnotations(req, metadata=app.meta)).annotations
    made = ok(
        stub.PostAnnotations(
            service_pb2.PostAnnotationsRequest(
                user_app_id=app.uai,
                annotations=[resources_pb2.Annotation(input_id="red", data=imported.data)],
            ),
            metadata=app.meta,
        )
    ).annotations[0]
    db = Database(database_url)
    try:
        with db.read() as conn:
            rows = conn.execute(
                select(t.annotations.c.id, t.annotations.c.data, t.annotations.c.data_json).where(
                    t.annotations.c.id.in_([imported.id, made.id])
                )
            ).all()
    finally:
        db.dispose()
    stored = {r.id: (bytes(r.data), bytes(r.data_json)) for r in rows}
    assert stored[imported.id] == stored[made.id]  # the same bytes and the same rendering, not NULL
    url = f"{app.server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/annotations"
    listed = requests.get(url, params={"input_ids": "red"}, headers=dict(app.meta), timeout=30).json()
    data = {a["id"]: a["data"] for a in listed["annotations"]}
    assert data[imported.id] == data[made.id]
    assert data[imported.id]["regions"][0]["region_info"]["bounding_box"]["left_col"] == 0.03125
    assert rest_listing_matches_grpc(app.server.base_url, stub, app.meta, app.uai) == 4
