"""The Python examples of Clarifai's "Tasks: Create, Get, Update, Delete" page (seeds/002, whose code
is Clarifai/docs ``code_snippets/api-guide/annotate/tasks/*.py``), as written -- ``TaskConcept``,
``worker.workers`` / ``worker.users``, ``review.users``, enum values as names, a ``Struct`` of weights,
``status=Status(code='TASK_DONE')`` -- through the official client on both channels. Only the
placeholders (ids, key) are filled in. The cURL and JavaScript examples are ``test_tasks_seed.py``'s."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf.struct_pb2 import Struct

from tests.helpers import IMG, AppFixture, ok

CONCEPT_ID = "water"


class Example:
    """An app with concept 'water', a dataset with one input, and four collaborators."""

    def __init__(self, stub: Any, app: AppFixture) -> None:
        self.stub, self.app = stub, app
        self.userDataObject, self.metadata = app.uai, app.meta
        self.users = [app.new_user(f"u{i}") for i in range(1, 5)]
        ok(
            stub.PostConcepts(
                service_pb2.PostConceptsRequest(
                    user_app_id=app.uai, concepts=[resources_pb2.Concept(id=CONCEPT_ID)]
                ),
                metadata=app.meta,
            )
        )
        ok(
            stub.PostDatasets(
                service_pb2.PostDatasetsRequest(
                    user_app_id=app.uai, datasets=[resources_pb2.Dataset(id="ds")]
                ),
                metadata=app.meta,
            )
        )
        inp = resources_pb2.Input(
            id="in-1", data=resources_pb2.Data(image=resources_pb2.Image(url=IMG)), dataset_ids=["ds"]
        )
        ok(
            stub.PostInputs(
                service_pb2.PostInputsRequest(user_app_id=app.uai, inputs=[inp]), metadata=app.meta
            )
        )

    def uid(self, n: int) -> str:
        return self.users[n - 1][0]

    def get(self, task_id: str) -> resources_pb2.Task:
        req = service_pb2.GetTaskRequest(user_app_id=self.userDataObject, task_id=task_id)
        return ok(self.stub.GetTask(req, metadata=self.metadata)).task


@pytest.fixture
def ex(stub: Any, app: AppFixture) -> Example:
    return Example(stub, app)


def _weights(**w: float) -> Struct:
    params = Struct()
    params.update(w)
    return params


def test_non_assigned_task(ex: Example) -> None:
    post_tasks_response = ex.stub.PostTasks(
        service_pb2.PostTasksRequest(
            user_app_id=ex.userDataObject,
            tasks=[
                resources_pb2.Task(
                    type="CONCEPTS_CLASSIFICATION",
                    name="Annotate " + CONCEPT_ID,
                    worker=resources_pb2.TaskWorker(strategy="FULL"),
                    concepts=[resources_pb2.TaskConcept(concept=resources_pb2.Concept(id=CONCEPT_ID))],
                    input_source=resources_pb2.TaskInputSource(type="ALL_INPUTS"),
                    sample_ms=1000,
                    review=resources_pb2.TaskReview(strategy="NONE"),
                )
            ],
        ),
        metadata=ex.metadata,
    )
    assert post_tasks_response.status.code == status_code_pb2.SUCCESS, post_tasks_response.status
    task = ex.get(post_tasks_response.tasks[0].id)
    assert (task.name, list(task.concept_ids), task.sample_ms) == ("Annotate water", ["water"], 1000)
    assert [c.concept.id for c in task.concepts] == ["water"]
    assert task.worker.strategy == resources_pb2.TaskWorker.FULL and not task.worker.user_ids


def test_assigned_task_hands_out_work(ex: Example) -> None:
    WORKER_USER_ID, REVIEWER_USER_ID, DATASET_ID = ex.uid(1), ex.uid(2), "ds"
    post_tasks_response = ex.stub.PostTasks(
        service_pb2.PostTasksRequest(
            user_app_id=ex.userDataObject,
            tasks=[
                resources_pb2.Task(
                    type="CONCEPTS_CLASSIFICATION",
                    name="Annotate " + CONCEPT_ID,
                    worker=resources_pb2.TaskWorker(
                        strategy="DYNAMIC",
                        workers=[resources_pb2.Worker(user=resources_pb2.User(id=WORKER_USER_ID))],
                    ),
                    concepts=[resources_pb2.TaskConcept(concept=resources_pb2.Concept(id=CONCEPT_ID))],
                    input_source=resources_pb2.TaskInputSource(type="DATASET", id=DATASET_ID),
                    sample_ms=1000,
                    review=resources_pb2.TaskReview(
                        strategy="MANUAL",
                        manual_strategy_info=resources_pb2.TaskReviewManualStrategyInfo(
                            sample_percentage=0.5
                        ),
                        users=[resources_pb2.User(id=REVIEWER_USER_ID)],
                    ),
                )
            ],
        ),
        metadata=ex.metadata,
    )
    assert post_tasks_response.status.code == status_code_pb2.SUCCESS, post_tasks_response.status
    task = ex.get(post_tasks_response.tasks[0].id)
    assert list(task.worker.user_ids) == [WORKER_USER_ID] and list(task.review.user_ids) == [REVIEWER_USER_ID]
    assert task.review.manual_strategy_info.sample_percentage == pytest.approx(0.5)
    start = service_pb2.PutTaskAssignmentsRequest(
        user_app_id=ex.userDataObject,
        task_id=task.id,
        action=service_pb2.PutTaskAssignmentsRequestAction.LABEL_START,
    )
    got = ok(ex.stub.PutTaskAssignments(start, metadata=ex.users[0][1])).task_assignments
    assert [a.input.id for a in got] == ["in-1"]


def test_partitioned_worker_strategy(ex: Example) -> None:
    USER_ID_1, USER_ID_2 = ex.uid(1), ex.uid(2)
    params = _weights(**{USER_ID_1: 90, USER_ID_2: 10})
    post_tasks_response = ex.stub.PostTasks(
        service_pb2.PostTasksRequest(
            user_app_id=ex.userDataObject,
            tasks=[
                resources_pb2.Task(
                    type="CONCEPTS_CLASSIFICATION",
                    name="Annotate " + CONCEPT_ID,
                    worker=resources_pb2.TaskWorker(
                        strategy="PARTITIONED",
                        users=[resources_pb2.User(id=USER_ID_1), resources_pb2.User(id=USER_ID_2)],
                        partitioned_strategy_info=resources_pb2.TaskWorkerPartitionedStrategyInfo(
                            type="WEIGHTED", workers_per_input=1, weights=params
                        ),
                    ),
                    concepts=[resources_pb2.TaskConcept(concept=resources_pb2.Concept(id=CONCEPT_ID))],
                    input_source=resources_pb2.TaskInputSource(type="ALL_INPUTS"),
                    sample_ms=1000,
                    review=resources_pb2.TaskReview(strategy="NONE"),
                )
            ],
        ),
        metadata=ex.metadata,
    )
    assert post_tasks_response.status.code == status_code_pb2.SUCCESS, post_tasks_response.status
    info = ex.get(post_tasks_response.tasks[0].id).worker.partitioned_strategy_info
    assert dict(info.weights) == {USER_ID_1: 90, USER_ID_2: 10} and info.workers_per_input == 1


def _consensus_task(ex: Example, **extra: Any) -> resources_pb2.Task:
    """The task of the consensus-review and update examples (``extra``: the update's id and status)."""
    USER_ID_1, USER_ID_2, USER_ID_3, USER_ID_4 = (ex.uid(n) for n in range(1, 5))
    params = _weights(**{USER_ID_1: 1, USER_ID_2: 1, USER_ID_3: 1})
    return resources_pb2.Task(
        type="CONCEPTS_CLASSIFICATION",
        name="Annotate " + CONCEPT_ID,
        worker=resources_pb2.TaskWorker(
            strategy="PARTITIONED",
            users=[
                resources_pb2.User(id=USER_ID_1),
                resources_pb2.User(id=USER_ID_2),
                resources_pb2.User(id=USER_ID_3),
            ],
            partitioned_strategy_info=resources_pb2.TaskWorkerPartitionedStrategyInfo(
                type="WEIGHTED", workers_per_input=3, weights=params
            ),
        ),
        concepts=[resources_pb2.TaskConcept(concept=resources_pb2.Concept(id=CONCEPT_ID))],
        input_source=resources_pb2.TaskInputSource(type="ALL_INPUTS"),
        sample_ms=1000,
        review=resources_pb2.TaskReview(
            strategy="CONSENSUS",
            consensus_strategy_info=resources_pb2.TaskReviewConsensusStrategyInfo(approval_threshold=2),
            users=[resources_pb2.User(id=USER_ID_4)],
        ),
        **extra,
    )


def test_consensus_review_get_list_update_delete(ex: Example) -> None:
    made = []
    for _ in range(2):
        post_tasks_response = ex.stub.PostTasks(
            service_pb2.PostTasksRequest(user_app_id=ex.userDataObject, tasks=[_consensus_task(ex)]),
            metadata=ex.metadata,
        )
        assert post_tasks_response.status.code == status_code_pb2.SUCCESS, post_tasks_response.status
        made.append(post_tasks_response.tasks[0].id)
    TASK_ID, TASK_ID_1, TASK_ID_2 = made[0], made[0], made[1]
    task = ex.get(TASK_ID)  # get_task_by_id.py
    assert task.review.strategy == resources_pb2.TaskReview.CONSENSUS
    assert task.review.consensus_strategy_info.approval_threshold == 2 and list(task.review.user_ids) == [
        ex.uid(4)
    ]

    def listed(**filters: Any) -> list[str]:
        list_tasks_response = ex.stub.ListTasks(
            service_pb2.ListTasksRequest(user_app_id=ex.userDataObject, **filters), metadata=ex.metadata
        )
        assert list_tasks_response.status.code == status_code_pb2.SUCCESS, list_tasks_response.status
        return [t.id for t in list_tasks_response.tasks]

    assert listed() == made  # list_all_tasks.py
    assert listed(worker_user_ids=[ex.uid(2)]) == made  # list_tasks_assigned_user.py
    assert listed(review_user_ids=[ex.uid(4)]) == made  # list_tasks_assigned_user_review.py
    assert listed(review_user_ids=[ex.uid(1)]) == []

    patch_tasks_response = ex.stub.PatchTasks(  # update_task.py
        service_pb2.PatchTasksRequest(
            user_app_id=ex.userDataObject,
            action="overwrite",
            tasks=[_consensus_task(ex, id=TASK_ID, status=status_pb2.Status(code="TASK_DONE"))],
        ),
        metadata=ex.metadata,
    )
    assert patch_tasks_response.status.code == status_code_pb2.SUCCESS, patch_tasks_response.status
    assert ex.get(TASK_ID).status.code == status_code_pb2.TASK_DONE

    delete_tasks_response = ex.stub.DeleteTasks(  # delete_multiple_tasks.py
        service_pb2.DeleteTasksRequest(user_app_id=ex.userDataObject, ids=[TASK_ID_1, TASK_ID_2]),
        metadata=ex.metadata,
    )
    assert delete_tasks_response.status.code == status_code_pb2.SUCCESS, delete_tasks_response.status
    assert listed() == []
