"""The ``clarifai`` SDK's dataset version calls, unchanged, against labeldesk's gRPC port:
``create_version()``, ``list_versions()``, ``archive_zip()``, its archive reader and
``Dataset.export()`` (which downloads every image from its hosted URL)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from labeldesk.app import RunningServer
from tests.api.test_import_export import import_, make_coco
from tests.helpers import AppFixture

dataset_client = pytest.importorskip("clarifai.client.dataset")
export_reader = pytest.importorskip("clarifai.datasets.export.inputs_annotations")


def test_sdk_creates_lists_and_reads_a_version_archive(
    tmp_path: Path, app: AppFixture, database_url: str, server: RunningServer
) -> None:
    res = import_(app, database_url, "coco", make_coco(tmp_path / "src"), "--dataset", "ds")
    assert res.exit_code == 0, res.output
    dataset = dataset_client.Dataset(
        dataset_id="ds",
        user_id=app.user_id,
        app_id=app.app_id,
        base_url=f"http://127.0.0.1:{server.grpc_port}",
        pat=app.pat,
    )
    version = dataset.create_version(description="for training")
    assert version.version.id and version.version.description == "for training"
    listed = list(dataset.list_versions())
    assert [v.version.id for v in listed] == [version.version.id]

    url = version.archive_zip()
    with export_reader.DatasetExportReader(archive_url=url) as reader:
        inputs = {i.id: i for i in reader}
        assert len(reader) == 3
    assert sorted(inputs) == ["blue", "green", "red"]
    # the SDK's own export: the archive, then every image through its signed hosted URL
    out = tmp_path / "export.zip"
    version.export(save_path=str(out), archive_url=url)
    with zipfile.ZipFile(out) as z:
        names = sorted(z.namelist())
        annotations = json.loads(z.read("all/annotations/red.json"))
    assert [n for n in names if "/inputs/" in n] == [
        "all/inputs/blue.png",
        "all/inputs/green.png",
        "all/inputs/red.png",
    ]
    assert len([a for a in annotations if "regionInfo" in a]) == 3
    boxes = [
        g.region_info.bounding_box
        for g in inputs["green"].data.regions
        if g.region_info.HasField("bounding_box")
    ]
    assert len(boxes) == 2 and abs(boxes[0].left_col - 2 / 80) < 1e-6
