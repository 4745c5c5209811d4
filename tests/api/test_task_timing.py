"""The server records when each item was handed out (LABEL_START) and submitted (LABEL_SUBMIT);
GetTask ``additional_fields: ["timing"]`` answers time per item per worker and throughput."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from google.protobuf import json_format
from sqlalchemy import select

from labeldesk.storage import tables as t
from tests.helpers import IMG, AppFixture, ok


def test_time_per_item_is_recorded_by_the_server(stub: Any, app: AppFixture) -> None:
    worker, wmeta = app.new_user("timer")
    uai = app.uai
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=uai, concepts=[r.Concept(id="cat")]), metadata=app.meta
        )
    )
    inputs = [r.Input(id=f"tm-{i}", data=r.Data(image=r.Image(url=IMG))) for i in range(3)]
    ok(stub.PostInputs(s.PostInputsRequest(user_app_id=uai, inputs=inputs), metadata=app.meta))
    task = r.Task(
        type=r.Task.CONCEPTS_CLASSIFICATION,
        concept_ids=["cat"],
        worker=r.TaskWorker(strategy=r.TaskWorker.FULL, user_ids=[worker]),
        input_source=r.TaskInputSource(type=r.TaskInputSource.ALL_INPUTS),
    )
    task_id = (
        ok(stub.PostTasks(s.PostTasksRequest(user_app_id=uai, tasks=[task]), metadata=app.meta)).tasks[0].id
    )

    def timing() -> dict[str, Any]:
        got = ok(
            stub.GetTask(
                s.GetTaskRequest(user_app_id=uai, task_id=task_id, additional_fields=["timing"]),
                metadata=app.meta,
            )
        )
        return dict(json_format.MessageToDict(got.task.metadata)["timing"])

    assert timing()["workers"] == {} and timing()["throughput"] == []
    started = ok(
        stub.PutTaskAssignments(
            s.PutTaskAssignmentsRequest(user_app_id=uai, task_id=task_id, action=s.LABEL_START),
            metadata=wmeta,
        )
    )
    handed = [a.input.id for a in started.task_assignments]
    assert len(handed) == 3
    for input_id in handed[:2]:
        ok(
            stub.PutTaskAssignments(
                s.PutTaskAssignmentsRequest(
                    user_app_id=uai, task_id=task_id, input_id=input_id, action=s.LABEL_SUBMIT
                ),
                metadata=wmeta,
            )
        )
    got = timing()
    mine = got["workers"][worker]
    assert mine["items"] == 2
    assert 0 <= mine["median_seconds"] < 30
    assert sum(p["count"] for p in got["throughput"]) == 2
    assert got["bucket_seconds"] == 60
    # stored: both submitted seats have a start before their submission; the third is started only
    with app.server.app.db.read() as conn:
        ta = t.task_assignments.c
        task_pk = select(t.tasks.c.pk).where(t.tasks.c.id == task_id).scalar_subquery()
        rows = list(conn.execute(select(ta.started_at, ta.submitted_at).where(ta.task_pk == task_pk)))
    assert all(a is not None for a, _ in rows)
    assert sorted(b is not None for _, b in rows) == [False, True, True]
    assert all(b is None or b >= a for a, b in rows)
