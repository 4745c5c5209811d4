"""SIGKILL ``labeldesk serve`` while a background job runs, start it again, and prove the job resumes
from the checkpoint in its job row instead of starting over, and that its result is whole: a
dataset version archive (every input once, in batches of 1,000) and a server-side import (every
record imported once). On SQLite, and on PostgreSQL when LABELDESK_TEST_DATABASE_URL names one."""

from __future__ import annotations

import io
import json
import os
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from sqlalchemy import select

from labeldesk.datasets_io.records import Box, Record, Region
from labeldesk.services import admin
from labeldesk.services import dataset_import as imp
from labeldesk.services.dataset_versions import EXPORT_KIND
from labeldesk.services.import_jobs import IMPORT_KIND
from labeldesk.storage import tables as t
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate
from tests.helpers import ok
from tests.ops.proc import ServerProcess, start

INPUTS = 8_000  # 8 parts of 1,000


def _databases() -> list[Any]:
    url = os.environ.get("LABELDESK_TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        return [pytest.param("sqlite", id="sqlite"), pytest.param(url, id="postgres")]
    skip = pytest.mark.skip(reason="LABELDESK_TEST_DATABASE_URL not set")
    return [pytest.param("sqlite", id="sqlite"), pytest.param("", id="postgres", marks=skip)]


def _stub(server: ServerProcess) -> Any:
    channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
    return service_pb2_grpc.V2Stub(channel)


def _job(db: Database, app_pk: int, kind: str = EXPORT_KIND) -> Any:
    with db.read() as conn:
        q = select(t.jobs.c.state, t.jobs.c.progress, t.jobs.c.attempts).where(
            t.jobs.c.app_pk == app_pk, t.jobs.c.kind == kind
        )
        return conn.execute(q).one_or_none()


def _kill_midway(server: ServerProcess, db: Database, app_pk: int, kind: str, key: str, total: int) -> int:
    """SIGKILL the server once the job's checkpoint ``key`` is past 0 and short of ``total``;
    answer the checkpoint then."""
    deadline = time.monotonic() + 300
    while True:
        job = _job(db, app_pk, kind)
        if job is not None and 1 <= int((job.progress or {}).get(key, 0)) < total:
            break
        assert job is None or job.state != "done", "the job finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    server.kill()
    return int(_job(db, app_pk, kind).progress[key])


def _owner_and_app(url: str) -> tuple[str, Database, str, str, int]:
    """A migrated database at ``url`` with a new owner (and their PAT) and the app ``resume``."""
    db = Database(url)
    migrate(db)
    owner = f"resume-{uuid.uuid4().hex[:8]}"
    pat = admin.create_user(db, owner, f"{owner}@example.com")
    return url, db, owner, pat, admin.create_app(db, owner, "resume")


@pytest.mark.parametrize("database", _databases())
def test_a_killed_archive_job_resumes_after_its_last_stored_part(
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    private_database: Callable[[str, str], str],
) -> None:
    url, db, owner, pat, app_pk = _owner_and_app(private_database(database, "resume.db"))
    box = Box(0.1, 0.2, 0.5, 0.6)
    records = (
        Record(f"i{n:05d}", f"https://example.com/{n}.jpg", regions=(Region(("cat",), box=box),))
        for n in range(INPUTS)
    )
    imp.import_records(db, imp.Target(imp.resolve_app(db, f"{owner}/resume"), "ds"), records)
    monkeypatch.setenv("LABELDESK_JOB_LEASE_SECONDS", "2")
    command = ["serve", "--database-url", url, "--blob-dir", str(tmp_path / "blobs")]
    server = start(command, tmp_path)
    meta = (("authorization", f"Key {pat}"),)
    uai = r.UserAppIDSet(user_id=owner, app_id="resume")
    version = r.DatasetVersion(id="v1")
    ok(
        _stub(server).PostDatasetVersions(
            s.PostDatasetVersionsRequest(user_app_id=uai, dataset_id="ds", dataset_versions=[version]),
            metadata=meta,
        )
    )
    export = s.PutDatasetVersionExportsRequest(
        user_app_id=uai,
        dataset_id="ds",
        dataset_version_id="v1",
        exports=[r.DatasetVersionExport(format=r.CLARIFAI_DATA_JSON)],
    )
    ok(_stub(server).PutDatasetVersionExports(export, metadata=meta))
    stored = _kill_midway(server, db, app_pk, EXPORT_KIND, "parts", 8)
    deadline = time.monotonic() + 300

    server = start(command, tmp_path)
    try:
        while True:
            (got,) = ok(_stub(server).PutDatasetVersionExports(export, metadata=meta)).exports
            if got.status.code == sc.DATASET_VERSION_EXPORT_SUCCESS:
                break
            assert got.status.code in (
                sc.DATASET_VERSION_EXPORT_PENDING,
                sc.DATASET_VERSION_EXPORT_IN_PROGRESS,
            )
            assert time.monotonic() < deadline, got
            time.sleep(0.2)
        job = _job(db, app_pk)
        assert job.state == "done" and job.attempts == 2
        (resumed,) = job.progress["resumed_from_parts"]
        assert resumed >= stored >= 1  # it went on after the stored parts, not from zero
        archive = zipfile.ZipFile(io.BytesIO(requests.get(got.url, timeout=60).content))
        names = archive.namelist()
        assert names[0] == "mimetype"
        batches = sorted(n for n in names if n.startswith("all/"))
        assert len(batches) == 8 and all(n.endswith("_n1000") for n in batches)
        ids = [i["id"] for n in batches for i in json.loads(archive.read(n))["inputs"]]
        assert sorted(ids) == [f"i{n:05d}" for n in range(INPUTS)]
        # the parts are gone from the blob store once assembled
        assert not [p for p in (tmp_path / "blobs").rglob("*.part*")]
    finally:
        server.kill()
        db.dispose()


@pytest.mark.parametrize("database", _databases())
def test_a_killed_import_job_resumes_after_its_last_checkpoint(
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    private_database: Callable[[str, str], str],
) -> None:
    url, db, owner, pat, app_pk = _owner_and_app(private_database(database, "resume.db"))
    root = tmp_path / "datasets"
    root.mkdir()
    total = 20_000  # 10 chunks of 2,000
    lines = (
        json.dumps({"id": f"i{n:05d}", "image": f"https://example.com/{n}.jpg", "concepts": ["cat"]})
        for n in range(total)
    )
    (root / "data.jsonl").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("LABELDESK_JOB_LEASE_SECONDS", "2")
    monkeypatch.setenv("LABELDESK_IMPORT_ROOT", str(root))
    command = ["serve", "--database-url", url, "--blob-dir", str(tmp_path / "blobs")]
    server = start(command, tmp_path)
    meta = (("authorization", f"Key {pat}"),)
    uai = r.UserAppIDSet(user_id=owner, app_id="resume")
    source = r.InputsDataSource(
        url=r.DataSourceURL(url=f"file://{root}/data.jsonl?format=jsonl"),
        input_template=r.Input(dataset_ids=["ds"]),
    )
    req = s.PostInputsDataSourcesRequest(user_app_id=uai, data_sources=[source])
    (job,) = ok(_stub(server).PostInputsDataSources(req, metadata=meta)).inputs_add_jobs
    done = _kill_midway(server, db, app_pk, IMPORT_KIND, "done", total)

    server = start(command, tmp_path)
    deadline = time.monotonic() + 300
    try:
        while True:
            got = ok(
                _stub(server).GetInputsAddJob(
                    s.GetInputsAddJobRequest(user_app_id=uai, id=job.id), metadata=meta
                )
            ).inputs_add_job
            if got.status.code in (sc.JOB_COMPLETED, sc.JOB_FAILED):
                break
            assert time.monotonic() < deadline, got
            time.sleep(0.2)
        assert got.status.code == sc.JOB_COMPLETED, got
        assert (got.progress.success_count, got.progress.failed_count) == (total, 0)
        row = _job(db, app_pk, IMPORT_KIND)
        (resumed,) = row.progress["resumed_from"]
        assert resumed >= done >= 2_000  # went on from its checkpoint, not from zero
        with db.read() as conn:
            ids = conn.execute(select(t.inputs.c.id).where(t.inputs.c.app_pk == app_pk)).scalars().all()
            levels = (
                conn.execute(
                    select(t.annotations.c.input_pk).where(
                        t.annotations.c.app_pk == app_pk, t.annotations.c.input_level.is_(True)
                    )
                )
                .scalars()
                .all()
            )
        assert sorted(ids) == [f"i{n:05d}" for n in range(total)]
        assert len(levels) == len(set(levels)) == total  # one input-level annotation each, no duplicate
    finally:
        server.kill()
        db.dispose()
