"""PostInputs answers an inputs add job (polled by Clarifai clients) and per-input duplicate
statuses; 128 inputs into a large dataset cost the same as into an empty one."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from tests.helpers import IMG, AppFixture, fails, ok


def image(input_id: str, *concepts: str) -> r.Input:
    cs = [r.Concept(id=c, value=1) for c in concepts]
    return r.Input(id=input_id, data=r.Data(image=r.Image(url=f"{IMG}?{input_id}"), concepts=cs))


def post(stub: Any, app: AppFixture, *inputs: r.Input, job: str = "") -> Any:
    req = s.PostInputsRequest(user_app_id=app.uai, inputs=list(inputs), inputs_add_job_id=job)
    return stub.PostInputs(req, metadata=app.meta)


def test_post_inputs_answers_a_completed_job_that_can_be_polled(stub: Any, app: AppFixture) -> None:
    resp = ok(post(stub, app, image("a"), image("b"), job="job-1"))
    job = resp.inputs_add_job
    assert job.id == "job-1" and job.status.code == sc.JOB_COMPLETED
    assert (job.progress.success_count, job.progress.pending_count, job.progress.in_progress_count) == (
        2,
        0,
        0,
    )
    got = ok(
        stub.GetInputsAddJob(s.GetInputsAddJobRequest(user_app_id=app.uai, id="job-1"), metadata=app.meta)
    )
    assert got.inputs_add_job.progress.success_count == 2
    generated = ok(post(stub, app, image("c"))).inputs_add_job.id
    assert generated and generated != "job-1"
    listed = ok(stub.ListInputsAddJobs(s.ListInputsAddJobsRequest(user_app_id=app.uai), metadata=app.meta))
    assert [j.id for j in listed.inputs_add_jobs] == [generated, "job-1"]
    cancel = stub.CancelInputsAddJob(
        s.CancelInputsAddJobRequest(user_app_id=app.uai, id="job-1"), metadata=app.meta
    )
    fails(cancel, sc.CONN_INVALID_REQUEST, "already completed")
    missing = stub.GetInputsAddJob(
        s.GetInputsAddJobRequest(user_app_id=app.uai, id="nope"), metadata=app.meta
    )
    fails(missing, sc.CONN_DOES_NOT_EXIST, "nope")


def test_a_duplicate_id_is_answered_per_input_and_the_others_are_added(stub: Any, app: AppFixture) -> None:
    ok(post(stub, app, image("old", "cat")))
    resp = post(stub, app, image("new-1", "dog"), image("old", "dog"), image("new-2"), job="mixed")
    assert resp.status.code == sc.MIXED_STATUS, resp.status
    statuses = [(i.id, i.status.code, i.status.details) for i in resp.inputs]
    assert statuses[1] == ("old", sc.INPUT_DUPLICATE, "Input has a duplicate ID.")
    assert [st[1] for st in statuses[::2]] == [sc.INPUT_DOWNLOAD_SUCCESS] * 2
    progress = resp.inputs_add_job.progress
    assert (progress.success_count, progress.failed_count) == (2, 1)
    listed = ok(stub.ListInputs(s.ListInputsRequest(user_app_id=app.uai), metadata=app.meta))
    assert sorted(i.id for i in listed.inputs) == ["new-1", "new-2", "old"]
    old = ok(stub.GetInput(s.GetInputRequest(user_app_id=app.uai, input_id="old"), metadata=app.meta)).input
    assert [c.id for c in old.data.concepts] == ["cat"], "the duplicate changed nothing"
    again = post(stub, app, image("old"), image("new-1"))
    assert (
        again.status.code == sc.FAILURE and [i.status.code for i in again.inputs] == [sc.INPUT_DUPLICATE] * 2
    )


def test_many_inputs_into_one_dataset_are_added_once(stub: Any, app: AppFixture) -> None:
    ok(
        stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=app.uai, datasets=[r.Dataset(id="d")]), metadata=app.meta
        )
    )
    batch = [r.Input(id=f"i{n}", dataset_ids=["d", "d"], data=image(f"i{n}").data) for n in range(128)]
    ok(post(stub, app, *batch))
    listed = ok(
        stub.ListDatasetInputs(
            s.ListDatasetInputsRequest(user_app_id=app.uai, dataset_id="d", per_page=1000), metadata=app.meta
        )
    )
    assert sorted(d.input.id for d in listed.dataset_inputs) == sorted(f"i{n}" for n in range(128))
