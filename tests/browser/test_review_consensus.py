"""Review of a CONSENSUS task in Chromium: two labelers disagree on one input, the reviewer sees both
versions side by side in their own colours, is told why the input is in review, and approves one
version — that labeler's work succeeds and the other's is denied."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import struct_pb2

from labeldesk.app import RunningServer
from tests.browser.scenario import Scenario, ok
from tests.browser.workbench import assert_controls_labelled, open_page, screenshot, sign_in

A = s.PutTaskAssignmentsRequestAction
BOXES = {"ana": (0.20, 0.25, 0.55, 0.75), "ben": (0.58, 0.15, 0.92, 0.52)}  # far apart: no agreement
SHARED = (0.60, 0.60, 0.90, 0.90)  # both drew this one: agreed


def box(b: tuple[float, float, float, float], concept: str) -> r.Region:
    bb = r.BoundingBox(left_col=b[0], top_row=b[1], right_col=b[2], bottom_row=b[3])
    return r.Region(
        region_info=r.RegionInfo(bounding_box=bb), data=r.Data(concepts=[r.Concept(id=concept, value=1)])
    )


def label_through_api(stub: Any, sn: Scenario, uid: str, regions: list[r.Region]) -> None:
    meta = sn.meta(sn.labelers[uid])
    put = s.PutTaskAssignmentsRequest
    ok(stub.PutTaskAssignments(put(user_app_id=sn.uai, task_id="vote", action=A.LABEL_START), metadata=meta))
    info = struct_pb2.Struct()
    info.update({"task_id": "vote"})
    ann = r.Annotation(
        input_id="photo-1",
        data=r.Data(regions=regions),
        annotation_info=info,
        status=status_pb2.Status(code=sc.ANNOTATION_PENDING),
    )
    ok(stub.PostAnnotations(s.PostAnnotationsRequest(user_app_id=sn.uai, annotations=[ann]), metadata=meta))
    submit = put(user_app_id=sn.uai, task_id="vote", input_id="photo-1", action=A.LABEL_SUBMIT)
    ok(stub.PutTaskAssignments(submit, metadata=meta))


def test_consensus_review_approves_one_version(
    browser: Any, server: RunningServer, rest_stub: Any, make_scenario: Callable[[int], Scenario]
) -> None:
    sn = make_scenario(1)
    task = r.Task(
        id="vote",
        type=r.Task.TaskType.Value("BOUNDING_BOX_DETECTION"),
        name="Two opinions",
        worker=r.TaskWorker(
            strategy=r.TaskWorker.TaskWorkerStrategy.Value("FULL"), user_ids=list(sn.labelers)
        ),
        concept_ids=["cat", "dog"],
        input_source=r.TaskInputSource(type=r.TaskInputSource.TaskInputSourceType.Value("ALL_INPUTS")),
        review=r.TaskReview(
            strategy=r.TaskReview.TaskReviewStrategy.Value("CONSENSUS"),
            consensus_strategy_info=r.TaskReviewConsensusStrategyInfo(approval_threshold_labelers=2),
            user_ids=[sn.reviewer[0]],
        ),
    )
    ok(rest_stub.PostTasks(s.PostTasksRequest(user_app_id=sn.uai, tasks=[task]), metadata=sn.meta()))
    for uid in sn.labelers:
        mine = BOXES[uid.split("-")[0]]
        label_through_api(rest_stub, sn, uid, [box(mine, "cat"), box(SHARED, "dog")])

    page = open_page(browser, server.base_url)
    sign_in(page, *sn.reviewer)
    page.get_by_role("link", name="Review Two opinions").click()
    page.get_by_test_id("input-id").wait_for()
    assert "did not agree" in page.get_by_role("note", name="Why this input is in review").inner_text()
    versions = page.locator(".version")
    assert versions.count() == 2
    colours = {versions.nth(i).evaluate("e => getComputedStyle(e).borderColor") for i in range(2)}
    assert len(colours) == 2, "one colour per labeler"
    page.locator(".version .surface[data-image-rect]").nth(1).wait_for()
    assert page.get_by_text("✓ marks regions every labeler drew").count() == 1
    assert_controls_labelled(page)
    screenshot(page, "11-review-consensus")
    ben = next(u for u in sn.labelers if u.startswith("ben"))
    page.locator(f".version[data-worker='{ben}']").get_by_role("button", name="Approve this version").click()
    page.get_by_role("heading", name="Nothing to review").wait_for()
    req = s.ListAnnotationsRequest(user_app_id=sn.uai, task_id="vote")
    got = ok(rest_stub.ListAnnotations(req, metadata=sn.meta())).annotations
    assert {a.user_id.split("-")[0]: a.status.code for a in got} == {
        "ana": sc.ANNOTATION_REVIEW_DENIED,
        "ben": sc.ANNOTATION_SUCCESS,
    }
    assert page.js_errors == []
    page.context.close()
