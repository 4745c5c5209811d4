"""Uploads and archive imports over the API, on both transports: an archive sent in parts (out of
order, one part retried) is imported by a background job polled with GetInputsAddJob; every bad
input gets its own message; jobs are cancelled queued and running; uploads are deleted and expire."""

from __future__ import annotations

import io
import os
import tarfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import struct_pb2
from PIL import Image
from sqlalchemy import insert, select, update

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings
from labeldesk.files.store import LocalDirStore
from labeldesk.jobs import imports
from labeldesk.jobs.worker import Worker
from labeldesk.services import admin, uploads
from labeldesk.services.import_jobs import IMPORT_KIND
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate
from labeldesk.storage.repos import jobs as jobs_repo
from labeldesk.storage.repos import uploads as uploads_repo
from tests.api.test_import_export import make_coco
from tests.helpers import beside_a_writer, fails, ok, sqlite_plans, worker_database

MAX_ARCHIVE = 2_000_000
MAX_EXTRACTED = 300_000
SETTINGS = Settings(max_archive_bytes=MAX_ARCHIVE, max_extracted_bytes=MAX_EXTRACTED)
ENDED = (sc.JOB_COMPLETED, sc.JOB_FAILED, sc.JOB_CANCELLED)


def make_yolo(root: Path, broken: bool = False) -> Path:
    """A YOLO dataset of three images (boxes), one label line of ``broken`` with a wrong column count."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("cat\ndog\n")
    for n, colour in enumerate(("red", "green", "blue")):
        Image.new("RGB", (40, 30), colour).save(root / "images" / f"{colour}.png")
        line = f"{n % 2} 0.5 0.5 0.25 0.25\n"
        (root / "labels" / f"{colour}.txt").write_text("0 0.5 0.5\n" if broken and n == 2 else line)
    return root


def zipped(folder: Path, top: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path in sorted(folder.rglob("*")):
            z.write(path, f"{top}/{path.relative_to(folder)}")
    return buf.getvalue()


def tar_gz(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        t.add(folder, arcname=".")
    return buf.getvalue()


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for info, data in members:
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


@contextmanager
def _server(tmp: Path, worker: bool) -> Iterator[RunningServer]:
    """A server of its own over a database of its own (PostgreSQL when the suite runs on it)."""
    url = os.environ.get("LABELDESK_TEST_DATABASE_URL", "")
    with ExitStack() as stack:
        if url.startswith("postgresql"):
            url = stack.enter_context(worker_database(url, f"up_{uuid.uuid4().hex[:10]}"))
        else:
            url = f"sqlite:///{tmp / 'uploads.db'}"
        app = build(url, settings=replace(SETTINGS, blob_dir=str(tmp / "blobs")))
        if not worker:  # jobs stay queued until a test runs them (cancel tests)
            app.exports = None
        server = RunningServer(app, "127.0.0.1", 0, 0).start()
        try:
            yield server
        finally:
            server.stop()
            app.db.dispose()


@pytest.fixture(scope="module")
def uploads_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with _server(tmp_path_factory.mktemp("uploads"), worker=True) as server:
        yield server


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with _server(tmp_path_factory.mktemp("idle"), worker=False) as server:
        yield server


class Client:
    """One user's app on one server over one transport."""

    def __init__(self, server: RunningServer, transport: str) -> None:
        if transport == "rest":
            channel = ClarifaiChannel.get_json_channel(base_url=server.base_url)
        else:
            channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
        self.server = server
        self.stub = service_pb2_grpc.V2Stub(channel)
        user = f"up{transport}{time.monotonic_ns()}"
        self.meta = (("authorization", f"Key {admin.create_user(server.app.db, user)}"),)
        admin.create_app(server.app.db, user, "app")
        self.uai = resources_pb2.UserAppIDSet(user_id=user, app_id="app")

    def __call__(self, rpc: str, **fields: Any) -> Any:
        request = getattr(service_pb2, f"{rpc}Request")(user_app_id=self.uai, **fields)
        return getattr(self.stub, rpc)(request, metadata=self.meta)

    def new_upload(self, name: str, length: int) -> str:
        up = resources_pb2.Upload(content_name=name, content_length=length)
        (made,) = ok(self("PostUploads", uploads=[up])).uploads
        assert made.status.code == sc.UPLOAD_IN_PROGRESS, made
        return str(made.id)

    def put(self, upload_id: str, *parts: tuple[int, int, bytes]) -> Any:
        content = [resources_pb2.UploadContentPart(part_number=n, range_start=s, data=d) for n, s, d in parts]
        return self("PutUploadContentParts", upload_id=upload_id, content_parts=content)

    def upload(self, data: bytes, name: str) -> str:
        upload_id = self.new_upload(name, len(data))
        ok(self.put(upload_id, (1, 0, data)))
        return upload_id

    def import_upload(self, upload_id: str, fmt: str = "", dataset: str = "") -> Any:
        template = resources_pb2.Input(dataset_ids=[dataset] if dataset else [])
        if fmt:
            template.data.metadata.CopyFrom(
                struct_pb2.Struct(fields={"format": struct_pb2.Value(string_value=fmt)})
            )
        item = resources_pb2.InputsUpload(upload=resources_pb2.Upload(id=upload_id), input_template=template)
        return self("PostInputsUploads", inputs_uploads=[item])

    def started(self, upload_id: str, fmt: str = "", dataset: str = "") -> str:
        (job,) = ok(self.import_upload(upload_id, fmt, dataset)).inputs_add_jobs
        assert job.status.code in (sc.JOB_QUEUED, sc.JOB_RUNNING), job
        return str(job.id)

    def job(self, job_id: str) -> Any:
        return ok(self("GetInputsAddJob", id=job_id)).inputs_add_job

    def wait(self, job_id: str) -> Any:
        deadline = time.monotonic() + 60
        while (job := self.job(job_id)).status.code not in ENDED:
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        return job


@pytest.fixture(params=["rest", "grpc"])
def client(request: pytest.FixtureRequest, uploads_server: RunningServer) -> Client:
    return Client(uploads_server, request.param)


@pytest.fixture(params=["rest", "grpc"])
def idle(request: pytest.FixtureRequest, idle_server: RunningServer) -> Client:
    return Client(idle_server, request.param)


def test_a_zipped_coco_sent_in_parts_out_of_order_is_imported_in_the_background(
    client: Client, tmp_path: Path
) -> None:
    data = zipped(make_coco(tmp_path / "coco"), "coco")
    upload_id = client.new_upload("coco.zip", len(data))
    third = len(data) // 3
    parts = [(1, 0, data[:third]), (2, third, data[third : 2 * third]), (3, 2 * third, data[2 * third :])]
    got = ok(client.put(upload_id, parts[2], parts[0])).upload
    assert got.status.code == sc.UPLOAD_IN_PROGRESS
    assert f"{len(data) - third:,} of {len(data):,} bytes received" in got.status.details
    assert ok(client.put(upload_id, parts[0])).upload.status.code == sc.UPLOAD_IN_PROGRESS  # a retry
    assert ok(client.put(upload_id, parts[1])).upload.status.code == sc.UPLOAD_DONE
    got = ok(client("GetUpload", upload_id=upload_id)).upload
    assert (got.id, got.content_name, got.content_length, got.status.code) == (
        upload_id,
        "coco.zip",
        len(data),
        sc.UPLOAD_DONE,
    )
    assert got.expires_at.seconds - got.created_at.seconds == 24 * 3600
    assert [u.id for u in ok(client("ListUploads")).uploads] == [upload_id]

    job = client.wait(client.started(upload_id, dataset="ds"))
    assert job.status.code == sc.JOB_COMPLETED, job.status
    assert job.status.description == "Job completed"
    assert (
        job.status.details == "3 inputs added (0 already there), 3 annotations, 2 concepts, 0 records skipped"
    )
    assert job.status.percent_completed == 100
    p = job.progress
    assert (p.success_count, p.failed_count, p.pending_count, p.in_progress_count) == (3, 0, 0, 0)
    assert [u.id for u in job.uploads] == [upload_id]
    (extraction,) = job.extraction_jobs
    assert extraction.url == f"upload://{upload_id}"
    assert (extraction.progress.completed_archives_count, extraction.progress.image_inputs_count) == (1, 3)
    listed = ok(client("ListDatasetInputs", dataset_id="ds")).dataset_inputs
    assert sorted(d.input.id for d in listed) == ["blue", "green", "red"]
    boxes = ok(client("ListAnnotations", input_ids=["red"], list_all_annotations=True)).annotations
    assert sum(len(a.data.regions) for a in boxes) == 3

    again = client.wait(client.started(upload_id, dataset="ds"))  # the same archive again: no duplicates
    assert again.status.details.startswith("0 inputs added (3 already there)"), again.status
    assert len(ok(client("ListInputs")).inputs) == 3


def test_a_tar_gz_yolo_with_a_bad_record_is_imported_and_the_record_is_listed(
    client: Client, tmp_path: Path
) -> None:
    upload_id = client.upload(tar_gz(make_yolo(tmp_path / "yolo", broken=True)), "yolo.tar.gz")
    job = client.wait(client.started(upload_id, fmt="yolo"))
    assert job.status.code == sc.JOB_COMPLETED, job.status
    assert (
        job.status.details == "2 inputs added (0 already there), 2 annotations, 2 concepts, 1 record skipped"
    )
    assert (job.progress.success_count, job.progress.failed_count) == (2, 1)
    (skipped,) = job.status.stack_trace
    assert "blue.txt" in skipped and "line 1" in skipped, skipped
    assert sorted(i.id for i in ok(client("ListInputs")).inputs) == ["green", "red"]


def test_bad_uploads_and_parts_are_refused_with_what_to_fix(client: Client) -> None:
    upload_id = client.new_upload("data.zip", 20)
    ok(client.put(upload_id, (1, 0, b"0123456789")))
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        (
            "PutUploadContentParts",
            {"upload_id": "nope"},
            sc.CONN_DOES_NOT_EXIST,
            "upload 'nope' does not exist",
        ),
        ("GetUpload", {"upload_id": "nope"}, sc.CONN_DOES_NOT_EXIST, "upload 'nope' does not exist"),
        ("DeleteUploads", {"ids": ["nope"]}, sc.CONN_DOES_NOT_EXIST, "ids[0]: upload 'nope' does not exist"),
        (
            "PostUploads",
            {"uploads": [resources_pb2.Upload(content_name="a.zip", content_length=0)]},
            sc.CONN_INVALID_REQUEST,
            f"uploads[0].content_length: must be between 1 and {MAX_ARCHIVE:,} bytes, got 0",
        ),
        (
            "PostUploads",
            {"uploads": [resources_pb2.Upload(content_name="a.zip", content_length=MAX_ARCHIVE + 1)]},
            sc.CONN_INVALID_REQUEST,
            f"got {MAX_ARCHIVE + 1:,}",
        ),
        (
            "PostUploads",
            {"uploads": [resources_pb2.Upload(content_name="a.rar", content_length=5)]},
            sc.CONN_INVALID_REQUEST,
            "uploads[0].content_name: 'a.rar' must end in .zip, .tar, .tar.gz or .tgz",
        ),
        (
            "PostUploads",
            {"uploads": [resources_pb2.Upload(id=upload_id, content_name="a.zip", content_length=5)]},
            sc.DATABASE_DUPLICATE_KEY,
            f"upload '{upload_id}' already exists",
        ),
    ]
    for rpc, fields, code, text in cases:
        fails(client(rpc, **fields), code, text)
    for part, text in [
        ((2, 15, b"0123456789"), "content_parts[0]: bytes 15..24 go beyond the upload's content_length 20"),
        ((2, 5, b"abcdefghij"), "bytes 5..14 overlap part 1 (bytes 0..9) with different bytes"),
        ((1, 0, b"ABCDEFGHIJ"), "bytes 0..9 overlap part 1 (bytes 0..9) with different bytes"),
        ((2, 10, b""), "content_parts[0].data: a part needs at least one byte"),
    ]:
        fails(client.put(upload_id, part), sc.CONN_INVALID_REQUEST, text)
    fails(
        client.import_upload(upload_id),
        sc.CONN_INVALID_REQUEST,
        f"inputs_uploads[0].upload.id: upload '{upload_id}' is not complete: bytes 10..19 have not arrived",
    )
    fails(client.import_upload("nope"), sc.CONN_DOES_NOT_EXIST, "inputs_uploads[0].upload.id: upload 'nope'")
    ok(client.put(upload_id, (2, 10, b"abcdefghij")))
    fails(
        client.import_upload(upload_id, fmt="xml"),
        sc.CONN_INVALID_REQUEST,
        "inputs_uploads[0].input_template.data.metadata.format: unknown format 'xml'",
    )


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b""


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("notes.zip", b"just some text, not an archive", "notes.zip is not a zip or tar archive"),
        ("slip.zip", zip_of("../x.jpg", b"x"), "archive member '../x.jpg' leaves the archive's folder"),
        ("abs.tar", tar_of((tarfile.TarInfo("/etc/x.jpg"), b"x")), "'/etc/x.jpg' has an absolute path"),
        ("link.tar", tar_of(_link("a/pw", "/etc/passwd")), "'a/pw' is a link to '/etc/passwd', outside"),
        ("up.tar", tar_of(_link("a/pw", "../../pw", tarfile.LNKTYPE)), "'a/pw' is a link to '../../pw'"),
        (
            "dev.tar",
            tar_of(_link("a/null", "", tarfile.CHRTYPE)),
            "archive member 'a/null' is a device, pipe or socket",
        ),
        (
            "bomb.zip",
            zip_of("big.bin", bytes(MAX_EXTRACTED + 1)),
            f"the archive unpacks to more than {MAX_EXTRACTED:,} bytes",
        ),
    ],
)
def test_unsafe_or_broken_archives_fail_their_job_with_the_reason(
    client: Client, name: str, data: bytes, words: str
) -> None:
    job = client.wait(client.started(client.upload(data, name)))
    assert job.status.code == sc.JOB_FAILED, job.status
    assert words in job.status.details, job.status
    assert job.extraction_jobs[0].progress.failed_archives_count == 1
    assert (job.progress.pending_count, job.progress.in_progress_count) == (0, 0)
    assert not ok(client("ListInputs")).inputs


def test_a_server_side_import_takes_its_format_from_the_template(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path / "root"
    make_coco(root / "coco")
    base = tmp_path_factory.mktemp("ds")
    app = build(f"sqlite:///{base / 'ds.db'}", settings=replace(SETTINGS, import_root=str(root)))
    server = RunningServer(app, "127.0.0.1", 0, 0).start()
    try:
        c = Client(server, "grpc")
        meta = struct_pb2.Struct(fields={"format": struct_pb2.Value(string_value="folder")})
        source = resources_pb2.InputsDataSource(
            url=resources_pb2.DataSourceURL(url=f"file://{root}/coco"),
            input_template=resources_pb2.Input(data=resources_pb2.Data(metadata=meta)),
        )
        (job,) = ok(c("PostInputsDataSources", data_sources=[source])).inputs_add_jobs
        done = c.wait(job.id)  # a COCO folder read as a plain folder of images: no annotations
        assert (
            done.status.details
            == "3 inputs added (0 already there), 0 annotations, 1 concept, 0 records skipped"
        )
        source.input_template.data.metadata["format"] = "pdf"
        fails(
            c("PostInputsDataSources", data_sources=[source]), sc.CONN_INVALID_REQUEST, "unknown format 'pdf'"
        )
    finally:
        server.stop()


def test_a_queued_job_is_cancelled_at_once(idle: Client, tmp_path: Path) -> None:
    job_id = idle.started(idle.upload(zipped(make_coco(tmp_path / "coco"), "coco"), "coco.zip"))
    queued = idle.job(job_id)  # its records are not counted yet: still one pending, so pollers wait
    assert (queued.status.code, queued.progress.pending_count, queued.status.percent_completed) == (
        sc.JOB_QUEUED,
        1,
        0,
    )
    assert queued.extraction_jobs[0].progress.pending_archives_count == 1
    got = ok(idle("CancelInputsAddJob", id=job_id)).inputs_add_job
    assert got.status.code == sc.JOB_CANCELLED, got.status
    assert (got.progress.pending_count, got.progress.in_progress_count) == (0, 0)
    assert idle.job(job_id).status.code == sc.JOB_CANCELLED
    assert got.extraction_jobs[0].status.code == sc.JOB_CANCELLED
    assert (
        Worker(idle.server.app.db, {IMPORT_KIND: imports.handler(idle.server.app.hosting)}).run_until_idle()
        == 0
    )
    fails(
        idle("CancelInputsAddJob", id=job_id),
        sc.CONN_INVALID_REQUEST,
        "has already completed (JOB_CANCELLED)",
    )


def test_a_running_job_stops_after_its_current_chunk(
    idle: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "CHUNK", 1)
    job_id = idle.started(idle.upload(zipped(make_coco(tmp_path / "coco"), "coco"), "coco.zip"))
    run = imports.handler(idle.server.app.hosting)
    states: list[int] = []

    def cancelling(db: Any, job: Any, report: Any) -> Any:
        def reported(p: dict[str, Any]) -> None:
            report(p)
            if p.get("done") == 1:  # the first chunk is written: cancel through the API
                states.append(ok(idle("CancelInputsAddJob", id=job_id)).inputs_add_job.status.code)

        return run(db, job, reported)

    assert Worker(idle.server.app.db, {IMPORT_KIND: cancelling}).run_until_idle() == 1
    job = idle.job(job_id)
    assert states == [sc.JOB_RUNNING]
    assert job.status.code == sc.JOB_CANCELLED, job.status
    p = job.progress
    # the chunk under way when the cancel came is written, the third record is not
    assert (p.success_count, p.pending_count, p.in_progress_count) == (2, 0, 0)
    assert len(ok(idle("ListInputs")).inputs) == 2  # what was written stays
    fails(idle("CancelInputsAddJob", id=job_id), sc.CONN_INVALID_REQUEST, "has already completed")


def _blob_keys(server: RunningServer) -> list[str]:
    store = server.app.hosting.store
    return [k for a in store.apps() for k in store.keys(a, "up") if k.startswith("upload.")]  # type: ignore[attr-defined]


def test_a_deleted_upload_takes_its_bytes_and_one_in_use_is_kept(idle: Client) -> None:
    upload_id = idle.upload(zip_of("a.jpg", b"x"), "a.zip")
    before = len(_blob_keys(idle.server))
    job_id = idle.started(upload_id)
    fails(
        idle("DeleteUploads", ids=[upload_id]),
        sc.CONN_INVALID_REQUEST,
        f"is being imported by job '{job_id}'",
    )
    ok(idle("CancelInputsAddJob", id=job_id))
    # a part whose bytes were stored by a server that died before recording it goes too
    with idle.server.app.db.read() as conn:
        row = conn.execute(select(t.uploads).where(t.uploads.c.id == upload_id)).one()
    orphan = uploads.part_key(row.pk, 1, "f" * 64)
    idle.server.app.hosting.store.put(str(row.app_pk), orphan, b"x", "application/octet-stream")
    assert len(_blob_keys(idle.server)) == before + 1
    ok(idle("DeleteUploads", ids=[upload_id]))
    fails(idle("GetUpload", upload_id=upload_id), sc.CONN_DOES_NOT_EXIST, upload_id)
    assert len(_blob_keys(idle.server)) == before - 1


def test_a_sweep_with_nothing_due_is_a_read(idle: Client) -> None:
    """The server sweeps every minute; a round with no upload due must not wait for SQLite's
    write lock (every labeler's submission takes it)."""
    app = idle.server.app
    assert beside_a_writer(app.db, lambda: uploads.sweep(app.db, app.hosting.store)) == (True, [0])


def test_the_expiry_sweep_reads_only_the_uploads_past_their_time(tmp_path: Path) -> None:
    """Expired uploads stay (UPLOAD_EXPIRED); the sweep's look-up goes through
    ``ix_uploads_state_expires_at`` to the ones still to expire, not through all of them."""
    db = Database(f"sqlite:///{tmp_path / 'uploads.db'}")
    try:
        migrate(db)
        admin.create_user(db, "u", "u@example.com")
        app_pk, now = admin.create_app(db, "u", "a"), utcnow()
        gone = dict(content_name="a.zip", content_length=1, received=1, state=uploads_repo.EXPIRED)
        with db.write() as conn:
            conn.execute(
                insert(t.uploads),
                [
                    dict(gone, app_pk=app_pk, id=f"u{i}", created_at=now, modified_at=now, expires_at=now)
                    for i in range(2000)
                ],
            )
            conn.exec_driver_sql("ANALYZE")
        plans = sqlite_plans(db, "uploads", lambda: uploads.sweep(db, LocalDirStore(tmp_path / "blobs")))
        assert plans and all("USING INDEX ix_uploads_state_expires_at" in p for p in plans.values()), plans
    finally:
        db.dispose()


def test_an_upload_left_unimported_for_a_day_expires(idle: Client) -> None:
    unused = idle.upload(zip_of("a.jpg", b"x"), "a.zip")
    in_use = idle.upload(zip_of("b.jpg", b"y"), "b.zip")
    in_use_job = idle.started(in_use)  # queued: its upload must stay
    app = idle.server.app
    assert uploads.sweep(app.db, app.hosting.store) == 0
    assert uploads.sweep(app.db, app.hosting.store, now=utcnow() + uploads.TTL + uploads.TTL / 24) >= 1
    got = ok(idle("GetUpload", upload_id=unused)).upload
    assert got.status.code == sc.UPLOAD_EXPIRED, got.status
    assert ok(idle("GetUpload", upload_id=in_use)).upload.status.code == sc.UPLOAD_DONE
    fails(idle.put(unused, (1, 0, b"x")), sc.CONN_INVALID_REQUEST, f"upload '{unused}' has expired")
    fails(idle.import_upload(unused), sc.CONN_INVALID_REQUEST, f"upload '{unused}' has expired")
    ok(idle("CancelInputsAddJob", id=in_use_job))  # leaves no queued job to the other tests' workers


def test_uploads_need_the_scopes_of_adding_and_reading_inputs(client: Client) -> None:
    db = client.server.app.db
    reader = (
        ("authorization", f"Key {admin.create_app_key(db, client.uai.user_id, 'app', ['Inputs:Get'])}"),
    )
    adder = (("authorization", f"Key {admin.create_app_key(db, client.uai.user_id, 'app', ['Inputs:Add'])}"),)
    new = service_pb2.PostUploadsRequest(
        uploads=[resources_pb2.Upload(content_name="a.zip", content_length=3)]
    )
    fails(client.stub.PostUploads(new, metadata=reader), sc.CONN_INSUFFICIENT_SCOPES, "Inputs:Add")
    (made,) = ok(client.stub.PostUploads(new, metadata=adder)).uploads
    got = ok(client.stub.GetUpload(service_pb2.GetUploadRequest(upload_id=made.id), metadata=reader))
    assert got.upload.id == made.id
    assert [
        u.id for u in ok(client.stub.ListUploads(service_pb2.ListUploadsRequest(), metadata=reader)).uploads
    ] == [made.id]
    gone = service_pb2.DeleteUploadsRequest(ids=[made.id])
    fails(client.stub.DeleteUploads(gone, metadata=reader), sc.CONN_INSUFFICIENT_SCOPES, "Inputs:Add")
    ok(client.stub.DeleteUploads(gone, metadata=adder))


def test_a_job_cancelled_after_its_worker_died_ends_cancelled(idle: Client) -> None:
    upload_id = idle.upload(zip_of("a.jpg", b"x"), "a.zip")
    job_id = idle.started(upload_id)
    db = idle.server.app.db
    with db.write() as conn:  # a worker took it and died (its lease is over)
        over = utcnow() - timedelta(seconds=1)
        conn.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(state="running", lease_until=over))
    got = ok(idle("CancelInputsAddJob", id=job_id)).inputs_add_job
    assert got.status.code == sc.JOB_CANCELLED, got.status
    with db.write() as conn:  # the next claim of any worker ends it
        assert jobs_repo.claim(conn, ["no-such-kind"], timedelta(seconds=60)) is None
    with db.read() as conn:
        row = jobs_repo.get(conn, job_id)
        assert row is not None and row.state == jobs_repo.CANCELLED
    ok(idle("DeleteUploads", ids=[upload_id]))  # no job reads it any more


class _WritesWhileStoring:
    """The server's own blob store, which while it stores a part's bytes has another thread write
    to the database and wait for it: if the bytes were stored inside a write transaction, that
    write would wait for the transaction, which waits for the store, until the timeout."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.inner = server.app.hosting.store
        self.writes_seen: list[bool] = []

    def put(self, app: str, key: str, data: bytes, content_type: str) -> None:
        def write() -> None:
            with self.server.app.db.write() as conn:
                conn.execute(update(t.apps).where(t.apps.c.pk == -1).values(id="none"))

        other = threading.Thread(target=write)
        other.start()
        other.join(timeout=5)
        self.writes_seen.append(not other.is_alive())
        self.inner.put(app, key, data, content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_parts_bytes_are_stored_outside_the_write_transaction_and_a_refused_part_leaves_none(
    tmp_path: Path,
) -> None:
    with _server(tmp_path, worker=False) as server:
        hosting = server.app.hosting
        store = _WritesWhileStoring(server)
        hosting.store = store  # type: ignore[misc]
        try:
            client = Client(server, "grpc")
            upload_id = client.new_upload("a.zip", 10)
            ok(client.put(upload_id, (1, 0, b"01234")))
            assert store.writes_seen == [True], "other writers waited while the bytes were stored"
            fails(client.put(upload_id, (2, 0, b"abcde")), sc.CONN_INVALID_REQUEST, "different bytes")
            assert len(store.writes_seen) == 2  # stored, then refused: its bytes went again
            with server.app.db.read() as conn:
                (part,) = conn.execute(select(t.upload_parts)).all()
                app_pk = conn.execute(select(t.uploads.c.app_pk)).scalar_one()
            assert store.inner.keys(str(app_pk), "upload.") == [part.blob_key]
        finally:
            hosting.store = store.inner  # type: ignore[misc]


def test_the_bytes_of_an_upload_deleted_by_a_server_that_died_are_collected(idle: Client) -> None:
    kept = idle.upload(zip_of("a.jpg", b"x"), "a.zip")
    gone = idle.upload(zip_of("b.jpg", b"y"), "b.zip")
    server = idle.server
    db, store = server.app.db, server.app.hosting.store
    with db.read() as conn:
        rows = {r.id: r for r in conn.execute(select(t.uploads).where(t.uploads.c.id.in_([kept, gone])))}
    app = str(rows[gone].app_pk)
    owned = {u: store.keys(app, f"upload.{rows[u].pk}.") for u in (kept, gone)}
    assert owned[kept] and owned[gone]
    # DeleteUploads committed, and the server died before its effect deleted the bytes
    with db.write() as conn:
        uploads_repo.delete_uploads(conn, [rows[gone].pk])
    uploads.collect_orphans(db, store)  # (or the server's own round, which runs it every minute)
    assert store.keys(app, f"upload.{rows[gone].pk}.") == []
    assert store.keys(app, f"upload.{rows[kept].pk}.") == owned[kept]  # a live upload's parts stay
    assert uploads.collect_orphans(db, store) == 0
    assert ok(idle("GetUpload", upload_id=kept)).upload.status.code == sc.UPLOAD_DONE


def test_a_deleted_apps_uploads_leave_the_blob_store(client: Client) -> None:
    upload_id = client.upload(zip_of("a.jpg", b"x"), "a.zip")
    server = client.server
    with server.app.db.read() as conn:
        row = conn.execute(select(t.uploads).where(t.uploads.c.id == upload_id)).one()
    store, app = server.app.hosting.store, str(row.app_pk)
    assert store.keys(app, f"upload.{row.pk}.")
    ok(client("DeleteApp"))
    uploads.collect_orphans(server.app.db, store)
    assert store.keys(app, f"upload.{row.pk}.") == []


@pytest.mark.parametrize(
    ("key", "pk"),
    [
        ("upload.12.0.0123456789abcdef", 12),
        ("upload.7.", 7),
        ("upload..0.x", None),
        ("upload.x.0.y", None),
        ("uploads.1.0.y", None),
        ("version-1.zip", None),
        ("upload.", None),
    ],
)
def test_a_part_blob_names_its_upload(key: str, pk: int | None) -> None:
    assert uploads._upload_pk(key) == pk


def test_an_expired_uploads_bytes_go_after_the_sweep_and_after_a_crash_too(idle: Client) -> None:
    swept = idle.upload(zip_of("a.jpg", b"x"), "a.zip")
    crashed = idle.upload(zip_of("b.jpg", b"y"), "b.zip")
    db, store = idle.server.app.db, idle.server.app.hosting.store
    with db.read() as conn:
        rows = {r.id: r for r in conn.execute(select(t.uploads).where(t.uploads.c.id.in_([swept, crashed])))}
    app = str(rows[swept].app_pk)
    with db.write() as conn:  # the crash: expired, and the server died before deleting the bytes
        uploads_repo.expire(conn, rows[crashed].pk)
    assert store.keys(app, f"upload.{rows[crashed].pk}.")
    assert uploads.sweep(db, store, now=utcnow() + uploads.TTL + uploads.TTL / 24) >= 1
    assert store.keys(app, f"upload.{rows[swept].pk}.") == []
    uploads.collect_orphans(db, store)  # (or the server's own round)
    assert store.keys(app, f"upload.{rows[crashed].pk}.") == []
    for upload_id in (swept, crashed):
        assert ok(idle("GetUpload", upload_id=upload_id)).upload.status.code == sc.UPLOAD_EXPIRED
