"""Background jobs: an import from a server-side folder through PostInputsDataSources, polled with
GetInputsAddJob on both transports while ``labeldesk serve``'s worker runs it; a job whose worker
died is resumed from its last progress by another worker; failures are retried, then failed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2
from sqlalchemy import text

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings
from labeldesk.files.store import LocalDirStore
from labeldesk.jobs import imports
from labeldesk.jobs.kinds import export_links, job_worker
from labeldesk.jobs.worker import Worker
from labeldesk.services import admin
from labeldesk.services.import_jobs import IMPORT_KIND
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate
from labeldesk.storage.repos import jobs as repo
from labeldesk.storage.repos import models as models_repo
from labeldesk.storage.tables import JOB_ACTIVE_STATES
from tests.api.test_import_export import make_coco
from tests.helpers import beside_a_writer, fails, ok, sqlite_plans


@pytest.fixture(scope="module")
def import_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("import-root")
    make_coco(root / "coco")
    return root


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory: pytest.TempPathFactory, import_root: Path) -> Iterator[RunningServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('jobs') / 'jobs.db'}"
    server = RunningServer(
        build(url, settings=Settings(import_root=str(import_root))), "127.0.0.1", 0, 0
    ).start()
    yield server
    server.stop()


@pytest.fixture(params=["rest", "grpc"])
def client(request: pytest.FixtureRequest, jobs_server: RunningServer) -> tuple[Any, Any, Any]:
    if request.param == "rest":
        channel = ClarifaiChannel.get_json_channel(base_url=jobs_server.base_url)
    else:
        channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=jobs_server.grpc_port)
    stub = service_pb2_grpc.V2Stub(channel)
    user = f"u{request.param}{time.monotonic_ns()}"
    pat = admin.create_user(jobs_server.app.db, user)
    admin.create_app(jobs_server.app.db, user, "app")
    return stub, resources_pb2.UserAppIDSet(user_id=user, app_id="app"), (("authorization", f"Key {pat}"),)


def _source(url: str, dataset: str = "") -> resources_pb2.InputsDataSource:
    return resources_pb2.InputsDataSource(
        url=resources_pb2.DataSourceURL(url=url),
        input_template=resources_pb2.Input(dataset_ids=[dataset] if dataset else []),
    )


def test_a_server_side_import_runs_in_the_background_and_is_polled(client: Any, import_root: Path) -> None:
    stub, uai, meta = client
    req = service_pb2.PostInputsDataSourcesRequest(
        user_app_id=uai, data_sources=[_source(f"file://{import_root}/coco", "bg")]
    )
    (job,) = ok(stub.PostInputsDataSources(req, metadata=meta)).inputs_add_jobs
    assert job.status.code in (status_code_pb2.JOB_QUEUED, status_code_pb2.JOB_RUNNING)
    deadline = time.monotonic() + 60
    while True:
        got = ok(
            stub.GetInputsAddJob(
                service_pb2.GetInputsAddJobRequest(user_app_id=uai, id=job.id), metadata=meta
            )
        )
        if got.inputs_add_job.status.code in (status_code_pb2.JOB_COMPLETED, status_code_pb2.JOB_FAILED):
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.1)
    assert got.inputs_add_job.status.code == status_code_pb2.JOB_COMPLETED, got
    p = got.inputs_add_job.progress
    assert (p.success_count, p.failed_count, p.pending_count, p.in_progress_count) == (3, 0, 0, 0)
    # what it read: the folder, in place (a per-request PostInputs job has no extraction job)
    (read,) = got.inputs_add_job.extraction_jobs
    assert read.url == (import_root / "coco").resolve().as_uri() and not got.inputs_add_job.uploads
    assert (read.status.code, read.status.description) == (
        status_code_pb2.JOB_COMPLETED,
        "Folder read where it is on the server",
    )
    assert (read.progress.image_inputs_count, read.progress.completed_archives_count) == (3, 1)
    listed = ok(
        stub.ListDatasetInputs(
            service_pb2.ListDatasetInputsRequest(user_app_id=uai, dataset_id="bg"), metadata=meta
        )
    )
    assert sorted(d.input.id for d in listed.dataset_inputs) == ["blue", "green", "red"]
    jobs = ok(stub.ListInputsAddJobs(service_pb2.ListInputsAddJobsRequest(user_app_id=uai), metadata=meta))
    assert [j.id for j in jobs.inputs_add_jobs] == [job.id]


def test_paths_outside_the_import_root_are_refused(client: Any, import_root: Path) -> None:
    stub, uai, meta = client
    for url, words in [
        (f"file://{import_root}/../etc", "is not below the import root"),
        (f"file://{import_root}/missing", "does not exist on the server"),
        ("https://example.com/data.zip", "only file:// URLs"),
    ]:
        req = service_pb2.PostInputsDataSourcesRequest(user_app_id=uai, data_sources=[_source(url)])
        fails(stub.PostInputsDataSources(req, metadata=meta), status_code_pb2.CONN_INVALID_REQUEST, words)
    fails(
        stub.GetInputsAddJob(service_pb2.GetInputsAddJobRequest(user_app_id=uai, id="nope"), metadata=meta),
        status_code_pb2.CONN_DOES_NOT_EXIST,
        "nope",
    )


def _new_job(server: RunningServer, import_root: Path, job_id: str) -> None:
    db = server.app.db
    user = f"resume{time.monotonic_ns()}"
    admin.create_user(db, user)
    app_pk = admin.create_app(db, user, "app")
    payload = {
        "path": str(import_root / "coco"),
        "format": "coco",
        "dataset_id": "",
        "app_id": "app",
        "owner_id": user,
    }
    with db.write() as conn:
        repo.insert_job(conn, job_id, "test_" + IMPORT_KIND, payload, app_pk)


def test_a_job_whose_worker_died_is_resumed_from_its_progress(
    jobs_server: RunningServer, import_root: Path
) -> None:
    db = jobs_server.app.db
    seen: list[int] = []

    def handler(db: Any, job: Any, report: Any) -> Any:
        seen.append(int((job.progress or {}).get("done", 0)))
        return imports.run(db, job, report)

    job_id = f"resume-{time.monotonic_ns()}"
    _new_job(jobs_server, import_root, job_id)
    with db.write() as conn:  # a worker claims it, reports 2 records done, and dies
        job = repo.claim(conn, ["test_" + IMPORT_KIND], timedelta(seconds=-1))
        assert job is not None and job.id == job_id
        assert repo.heartbeat(
            conn, job.pk, {"done": 2, "total": 3, "success": 2, "failed": 0}, timedelta(seconds=-1)
        )
    assert Worker(db, {"test_" + IMPORT_KIND: handler}).run_until_idle() == 1
    with db.read() as conn:
        row = repo.get(conn, job_id)
    assert row is not None
    assert (row.state, row.attempts, seen) == (repo.DONE, 2, [2])
    assert (row.progress["done"], row.progress["success"]) == (3, 3)
    assert row.result["inputs"] == 1  # only the third record was left to do


def test_a_failing_job_is_retried_then_failed(jobs_server: RunningServer, import_root: Path) -> None:
    db = jobs_server.app.db
    job_id = f"fail-{time.monotonic_ns()}"
    _new_job(jobs_server, import_root, job_id)
    calls: list[str] = []

    def broken(db: Any, job: Any, report: Any) -> Any:
        calls.append(job.id)
        raise RuntimeError("disk on fire")

    assert Worker(db, {"test_" + IMPORT_KIND: broken}, max_attempts=2).run_until_idle() == 2
    with db.read() as conn:
        row = repo.get(conn, job_id)
    assert row is not None
    assert (row.state, row.attempts, row.error, len(calls)) == (repo.FAILED, 2, "disk on fire", 2)
    links = export_links(db, LocalDirStore(import_root / "blobs"))
    assert job_worker(db, links).handlers.keys() >= {IMPORT_KIND}


@pytest.fixture
def idle_db(tmp_path: Path) -> Iterator[Database]:
    """A database of its own, with no server and so no other worker polling it."""
    db = Database(f"sqlite:///{tmp_path / 'idle.db'}")
    migrate(db)
    yield db
    db.dispose()


def test_an_idle_poll_reads_and_never_waits_for_the_write_lock(idle_db: Database) -> None:
    """A worker with nothing to do finds that out in a read transaction: it answers at once while
    another process writes (was: ``BEGIN IMMEDIATE`` every 0.5 s, waiting for every writer), and
    it still claims a job that is there."""
    ran: list[str] = []
    worker = Worker(idle_db, {"probe": lambda db, job, report: ran.append(job.id)})
    done, answers = beside_a_writer(idle_db, worker.run_one)
    assert (done, answers) == (True, [False])
    with idle_db.write() as conn:
        repo.insert_job(conn, "probe-1", "probe", {}, None)
        repo.insert_job(conn, "other-1", "other", {}, None)  # a kind this worker does not run
    done, answers = beside_a_writer(idle_db, worker.run_one)
    assert (done, answers) == (False, [True])  # there is work: it waits for the writer, then runs it
    assert ran == ["probe-1"]
    assert worker.run_one() is False  # "other-1" is not its kind
    with idle_db.read() as conn:
        row = repo.get(conn, "other-1")
    assert row is not None and row.state == repo.QUEUED


def test_a_poll_of_other_kinds_still_ends_an_orphaned_cancellation(idle_db: Database) -> None:
    """A running job cancelled after its worker died is ended by any worker's next poll, whatever
    kinds that worker runs: the read that finds nothing to do must count it as something."""
    with idle_db.write() as conn:
        repo.insert_job(conn, "orphan", "gone", {}, None)
        job = repo.claim(conn, ["gone"], timedelta(seconds=-1))  # its worker died: lease over
        assert job is not None
        assert repo.cancel(conn, job.pk) == repo.CANCELLING
    assert Worker(idle_db, {"probe": lambda db, job, report: None}).run_one() is False
    with idle_db.read() as conn:
        row = repo.get(conn, "orphan")
    assert row is not None and row.state == repo.CANCELLED


def test_the_polls_read_only_the_jobs_not_ended_however_many_finished(idle_db: Database) -> None:
    """Every job ever run stays in the table. Once the planner's statistics have seen it full of
    finished jobs (``PRAGMA optimize``, every 5 minutes in ``serve``), a whole-table index on the
    state looked useless and SQLite scanned the table at every poll (8 ms at 30,000 jobs, twice a
    second in every process). Every statement of a poll and of a claim goes through the index of
    the jobs not yet ended (``ix_jobs_active``) or a primary key, and a task's jobs are read
    through ``ix_jobs_task``."""
    assert set(JOB_ACTIVE_STATES) == {repo.QUEUED, repo.RUNNING, repo.CANCELLING}
    with idle_db.write() as conn:
        for i in range(3000):
            repo.insert_job(conn, f"old-{i}", "probe", {"task_pk": i % 300}, None)
        conn.execute(text("UPDATE jobs SET state = 'done'"))
        conn.execute(text("ANALYZE"))
        repo.insert_job(conn, "new", "probe", {}, None)
    ran: list[str] = []
    worker = Worker(idle_db, {"probe": lambda db, job, report: ran.append(job.id)})

    def poll_twice_and_read_a_tasks_jobs() -> None:
        assert worker.run_one() is True and worker.run_one() is False
        with idle_db.read() as conn:  # a task's jobs (its queue, with model workers or pre-labels)
            assert len(models_repo.jobs_of_task(conn, 0, "probe", 7)) == 0  # (another app's)

    plans = sqlite_plans(idle_db, "jobs", poll_twice_and_read_a_tasks_jobs)
    assert ran == ["new"]
    assert len(plans) >= 5  # two probes, the orphans' update, the free job's look-up, its claim, ...
    for statement, plan in plans.items():
        indexed = "SCAN jobs" not in plan and ("ix_jobs_" in plan or "PRIMARY KEY" in plan)
        assert indexed, (statement, plan)
    (of_task,) = [plan for statement, plan in plans.items() if "jobs.task_pk =" in statement]
    assert "ix_jobs_task" in of_task
