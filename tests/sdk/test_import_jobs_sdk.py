"""Background imports polled by the ``clarifai`` SDK's own ``Inputs._wait_for_inputs(job_id)``:
an archive uploaded and imported through the SDK client's stub (the SDK has no helper for
PostInputsUploads), and a server-side folder import (PostInputsDataSources)."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from labeldesk.app import RunningServer
from labeldesk.services import admin
from tests.api.test_import_export import make_coco

input_client = pytest.importorskip("clarifai.client.input")


@pytest.fixture
def inputs(jobs_server: RunningServer) -> Any:
    """The SDK's Inputs client of a fresh user's app."""
    user_id = f"sdk-{uuid.uuid4().hex[:8]}"
    pat = admin.create_user(jobs_server.app.db, user_id)
    admin.create_app(jobs_server.app.db, user_id, "app")
    base_url = f"http://127.0.0.1:{jobs_server.grpc_port}"
    return input_client.Inputs(user_id=user_id, app_id="app", base_url=base_url, pat=pat)


def _call(inputs: Any, rpc: str, **fields: Any) -> Any:
    """``rpc`` through the SDK client's own stub and auth metadata; the response, checked."""
    request = getattr(service_pb2, f"{rpc}Request")(user_app_id=inputs.user_app_id, **fields)
    response = inputs._grpc_request(getattr(inputs.STUB, rpc), request)
    assert response.status.code == status_code_pb2.SUCCESS, response.status
    return response


def _zipped(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path in sorted(folder.rglob("*")):
            z.write(path, f"coco/{path.relative_to(folder)}")
    return buf.getvalue()


def _job_done(inputs: Any, job_id: str) -> resources_pb2.InputsAddJob:
    assert inputs._wait_for_inputs(job_id) is True
    job = _call(inputs, "GetInputsAddJob", id=job_id).inputs_add_job
    assert job.status.code == status_code_pb2.JOB_COMPLETED, job.status
    return job


def test_the_sdk_polls_an_archive_import_to_its_end(inputs: Any, tmp_path: Path) -> None:
    data = _zipped(make_coco(tmp_path / "coco"))
    (upload,) = _call(
        inputs,
        "PostUploads",
        uploads=[resources_pb2.Upload(content_name="coco.zip", content_length=len(data))],
    ).uploads
    half = len(data) // 2
    parts = [
        resources_pb2.UploadContentPart(part_number=2, range_start=half, data=data[half:]),
        resources_pb2.UploadContentPart(part_number=1, range_start=0, data=data[:half]),
    ]
    put = _call(inputs, "PutUploadContentParts", upload_id=upload.id, content_parts=parts)
    assert put.upload.status.code == status_code_pb2.UPLOAD_DONE
    item = resources_pb2.InputsUpload(
        upload=resources_pb2.Upload(id=upload.id), input_template=resources_pb2.Input(dataset_ids=["ds"])
    )
    (job,) = _call(inputs, "PostInputsUploads", inputs_uploads=[item]).inputs_add_jobs
    done = _job_done(inputs, job.id)
    assert done.status.details.startswith("3 inputs added"), done.status
    assert sorted(i.id for i in inputs.list_inputs()) == ["blue", "green", "red"]
    assert sorted(i.id for i in inputs.list_inputs(dataset_id="ds")) == ["blue", "green", "red"]


def test_the_sdk_polls_a_server_side_import_to_its_end(inputs: Any, import_root: Path) -> None:
    source = resources_pb2.InputsDataSource(url=resources_pb2.DataSourceURL(url=f"file://{import_root}/coco"))
    (job,) = _call(inputs, "PostInputsDataSources", data_sources=[source]).inputs_add_jobs
    done = _job_done(inputs, job.id)
    assert (done.progress.success_count, done.progress.failed_count) == (3, 0)
    assert sorted(i.id for i in inputs.list_inputs()) == ["blue", "green", "red"]
