"""A task whose only worker is a model: inputs that join its dataset after the job finished -- new
ones (PostInputs into the dataset, above the job's mark) and older ones (PostDatasetInputs, below
it) -- are predicted by the job the server queues again (its sweep of late inputs, every
``source_rescan_seconds``), each asked of the model once, and get annotations with their range's
status. Over both transports' public API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from sqlalchemy import text, update

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings
from labeldesk.services import admin
from labeldesk.storage import tables as t
from tests.api.test_auto_annotation import oip_scores, pixel_png, seed_task_body, setup_app
from tests.api.test_queue_stragglers import held_dataset, waiting_on_lock
from tests.helpers import TRANSPORTS, AppFixture, ok
from tests.model_servers import ModelServer, model_server
from tests.models.test_task_models import newest_job, post_task
from tests.ops.test_crash import _databases

SUCCESS, PENDING, NOTHING = 30, 5, 1  # pixel values: cat 0.75 (SUCCESS), dog 0.5 (PENDING), neither


@pytest.fixture
def oip() -> Iterator[ModelServer]:
    with model_server(oip_scores) as s:
        yield s


@pytest.fixture
def own_server(
    request: pytest.FixtureRequest, private_database: Callable[[str, str], str], tmp_path: Path
) -> Iterator[RunningServer]:
    """A server on a database of its own that sweeps for late inputs every 0.2 s."""
    url = private_database(request.param, "late.db")
    settings = replace(Settings.from_env(), blob_dir=str(tmp_path / "blobs"), source_rescan_seconds=0.2)
    running = RunningServer(build(url, settings=settings), "127.0.0.1", 0, 0).start()
    yield running
    running.stop()


def image(input_id: str, v: int, datasets: list[str] | None = None) -> resources_pb2.Input:
    data = resources_pb2.Data(image=resources_pb2.Image(base64=pixel_png(v)))
    return resources_pb2.Input(id=input_id, data=data, dataset_ids=datasets or [])


def _app_on(server: RunningServer, app_id: str) -> tuple[AppFixture, Any]:
    """A new user's app ``app_id`` on ``server``, and a gRPC stub."""
    user_id = f"u{uuid.uuid4().hex[:8]}"
    pat = admin.create_user(server.app.db, user_id, f"{user_id}@example.com")
    admin.create_app(server.app.db, user_id, app_id)
    channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
    return AppFixture(user_id, app_id, pat, "", server), service_pb2_grpc.V2Stub(channel)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("own_server", _databases(), indirect=True)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_inputs_joining_a_model_only_task_after_its_job_finished_get_annotated(
    own_server: RunningServer, transport: str, oip: ModelServer
) -> None:
    user_id, app_id = f"u{uuid.uuid4().hex[:8]}", "late"
    pat = admin.create_user(own_server.app.db, user_id, f"{user_id}@example.com")
    admin.create_app(own_server.app.db, user_id, app_id)
    app = AppFixture(user_id, app_id, pat, "", own_server)
    stub: Any = service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_json_channel(base_url=own_server.base_url)
        if transport == "rest"
        else ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=own_server.grpc_port)
    )
    old = [image("old-s", SUCCESS), image("old-n", NOTHING)]  # older than the task's inputs
    ok(stub.PostInputs(service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=old), metadata=app.meta))
    version = setup_app(stub, app, oip.url)  # 40 inputs in the dataset "pets"
    task_id = post_task(app, seed_task_body("pets-clf", version, "pets"))["id"]  # the model: its only worker
    wait_for("the job", lambda: newest_job(app, task_id).state == "done")
    first = newest_job(app, task_id)
    asked = len(oip.requests)

    def run_after(before: Any) -> Callable[[], bool]:
        def done_again() -> bool:
            job = newest_job(app, task_id)
            return job.modified_at != before.modified_at and job.state == "done"

        return done_again

    def asked_since(n: int) -> list[Any]:
        return [d for _, _, _, body in oip.requests[n:] for d in body["inputs"][0]["data"]]

    # older inputs join the dataset below the job's mark (nothing above it: the sweep's look
    # below the mark finds them), then new ones above it
    add = service_pb2.PostDatasetInputsRequest(
        user_app_id=app.uai,
        dataset_id="pets",
        dataset_inputs=[resources_pb2.DatasetInput(input=resources_pb2.Input(id=i.id)) for i in old],
    )
    ok(stub.PostDatasetInputs(add, metadata=app.meta))
    wait_for("the job queued again for the older inputs", run_after(first))
    assert len(asked_since(asked)) == 2
    below, asked_below = newest_job(app, task_id), len(oip.requests)
    new = [image("new-p", PENDING, ["pets"]), image("new-n", NOTHING, ["pets"])]
    ok(stub.PostInputs(service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=new), metadata=app.meta))
    wait_for("the job queued again for the new inputs", run_after(below))
    assert len(asked_since(asked_below)) == 2  # each late input asked about once, nothing else again
    # the same job each time: one job per model worker however often the source grows
    again = newest_job(app, task_id)
    assert again.pk == first.pk and again.progress["done"] == first.progress["done"] + 4

    req = service_pb2.ListAnnotationsRequest(user_app_id=app.uai, model_version_ids=[version], per_page=100)
    made = {
        (a.input_id, a.status.code)
        for a in ok(stub.ListAnnotations(req, metadata=app.meta)).annotations
        if a.input_id in {"old-s", "old-n", "new-p", "new-n"}
    }
    assert made == {("old-s", sc.ANNOTATION_SUCCESS), ("new-p", sc.ANNOTATION_PENDING)}

    # nothing joined since: the sweeps of the next moments queue it no more
    calls = len(oip.requests)
    time.sleep(1.0)  # five sweeps
    last = newest_job(app, task_id)
    assert (last.pk, last.modified_at, last.state, len(oip.requests)) == (
        first.pk,
        again.modified_at,
        "done",
        calls,
    )


@pytest.mark.parametrize("own_server", _databases()[1:], indirect=True)  # PostgreSQL only
def test_an_input_committed_after_a_later_one_is_predicted_by_an_all_inputs_model_worker(
    own_server: RunningServer, oip: ModelServer
) -> None:
    """PostgreSQL: a PostInputs that has its pks and commits after a later one's did. The model's
    job walks ALL_INPUTS in pk order and passes the later input first; the sweep's look below its
    mark must still find the slow one, and the model is asked about it once."""
    app, stub = _app_on(own_server, "strag")
    version = setup_app(stub, app, oip.url)
    body = seed_task_body("pets-clf", version, "pets")
    body["tasks"][0]["input_source"] = {"type": "ALL_INPUTS"}
    task_id = post_task(app, body)["id"]
    wait_for("the job", lambda: newest_job(app, task_id).state == "done")

    with held_dataset(own_server, app, stub) as release:
        answers: list[Any] = []
        req = service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=[image("slow", SUCCESS, ["slow"])])
        slow = threading.Thread(target=lambda: answers.append(stub.PostInputs(req, metadata=app.meta)))
        slow.start()
        wait_for("the slow PostInputs waits for the dataset", lambda: waiting_on_lock(own_server))
        before = newest_job(app, task_id)
        later = service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=[image("later", SUCCESS)])
        ok(stub.PostInputs(later, metadata=app.meta))
        wait_for(
            "the job queued again for the later input",
            lambda: (j := newest_job(app, task_id)).modified_at != before.modified_at and j.state == "done",
        )
        release()
        slow.join(10)
        ok(answers[0])
    with own_server.app.db.read() as conn:
        slow_pk = conn.execute(text("SELECT pk FROM inputs WHERE id = 'slow'")).scalar_one()
        later_pk = conn.execute(text("SELECT pk FROM inputs WHERE id = 'later'")).scalar_one()
    assert slow_pk < later_pk <= newest_job(app, task_id).progress["after_pk"]  # the job passed it

    def annotated() -> bool:
        req = service_pb2.ListAnnotationsRequest(
            user_app_id=app.uai, model_version_ids=[version], per_page=200
        )
        return any(a.input_id == "slow" for a in ok(stub.ListAnnotations(req, metadata=app.meta)).annotations)

    wait_for("the slow input predicted", annotated)


@pytest.mark.parametrize("own_server", _databases(), indirect=True)
def test_the_sweep_looks_below_a_finished_jobs_mark_only_when_inputs_joined_late(
    own_server: RunningServer, oip: ModelServer
) -> None:
    """The job's last rescan began with no write of inputs in flight, so the sweep skips its look
    below the job's mark while the dataset's count of late joins stands still: a membership
    written behind the server's back is not found. An older input joining through
    PostDatasetInputs moves the count; the job is queued again and predicts both."""
    app, stub = _app_on(own_server, "stamp")
    old = [image("old-a", SUCCESS), image("old-b", SUCCESS)]  # older than the dataset's inputs
    ok(stub.PostInputs(service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=old), metadata=app.meta))
    version = setup_app(stub, app, oip.url)
    task_id = post_task(app, seed_task_body("pets-clf", version, "pets"))["id"]
    wait_for("the job", lambda: newest_job(app, task_id).state == "done")
    first = newest_job(app, task_id)
    assert first.result["below_stamp"] == 0  # no input joined the dataset late yet
    _join_behind_the_servers_back(own_server, app, "old-a")
    time.sleep(1.0)  # five sweeps: none looks below the mark
    assert newest_job(app, task_id).modified_at == first.modified_at
    back = [resources_pb2.DatasetInput(input=resources_pb2.Input(id="old-b"))]
    req = service_pb2.PostDatasetInputsRequest(user_app_id=app.uai, dataset_id="pets", dataset_inputs=back)
    ok(stub.PostDatasetInputs(req, metadata=app.meta))
    wait_for(
        "the job queued again",
        lambda: (j := newest_job(app, task_id)).modified_at != first.modified_at and j.state == "done",
    )
    assert newest_job(app, task_id).progress["done"] == first.progress["done"] + 2
    assert newest_job(app, task_id).result["below_stamp"] == 1


def _join_behind_the_servers_back(server: RunningServer, app: AppFixture, input_id: str) -> None:
    """Add the app's ``input_id`` to its dataset 'pets' in the database itself: no count of late
    joins moves, so only a look below a job's mark can find it."""
    with server.app.db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO dataset_inputs (dataset_pk, input_pk, created_at) "
                "SELECT d.pk, i.pk, d.created_at "
                "FROM datasets d JOIN inputs i ON i.app_pk = d.app_pk AND i.id = :i "
                "JOIN apps a ON a.pk = d.app_pk WHERE d.id = 'pets' AND a.user_id = :u"
            ),
            {"u": app.user_id, "i": input_id},
        )


@pytest.mark.parametrize("own_server", _databases(), indirect=True)
def test_the_sweep_notes_the_stamp_of_a_finished_job_that_has_none(
    own_server: RunningServer, oip: ModelServer
) -> None:
    """A job whose last look below its mark began while a write of inputs was in flight
    (PostgreSQL) notes no stamp -- here it is taken out of the job's result. The sweep's own look
    finds nothing and notes the stamp, leaving the job as it was, and from then on skips the look:
    a membership written behind the server's back is not found."""
    app, stub = _app_on(own_server, "unstamped")
    old = [image("old-a", SUCCESS)]  # older than the dataset's inputs
    ok(stub.PostInputs(service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=old), metadata=app.meta))
    version = setup_app(stub, app, oip.url)
    task_id = post_task(app, seed_task_body("pets-clf", version, "pets"))["id"]
    wait_for("the job", lambda: newest_job(app, task_id).state == "done")
    first = newest_job(app, task_id)
    unstamped = {k: v for k, v in first.result.items() if k != "below_stamp"}
    with own_server.app.db.write() as conn:
        conn.execute(update(t.jobs).where(t.jobs.c.pk == first.pk).values(result=unstamped))
    wait_for("the sweep notes the stamp", lambda: "below_stamp" in newest_job(app, task_id).result)
    noted = newest_job(app, task_id)
    assert noted.result == {**unstamped, "below_stamp": 0}
    assert (noted.state, noted.modified_at) == ("done", first.modified_at), "the job is left as it was"
    _join_behind_the_servers_back(own_server, app, "old-a")
    time.sleep(1.0)  # five sweeps: none looks below the mark
    assert newest_job(app, task_id).modified_at == first.modified_at
