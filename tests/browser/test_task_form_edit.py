"""Editing an existing task through the console's task form (PatchTasks ``overwrite``) in Chromium: the
owner changes concepts, workers and the review (MANUAL → CONSENSUS with thresholds) and the server's
task says so afterwards; a value the API refuses lands beside the field it concerns and changes
nothing on the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s

from labeldesk.services import admin
from tests.browser.scenario import Scenario, ok
from tests.browser.workbench import assert_controls_labelled, open_page, screenshot, sign_in

TASK_NAME = "Animals on the north cameras"


def _get_task(sn: Scenario) -> Any:
    got = ok(sn.stub.GetTask(s.GetTaskRequest(user_app_id=sn.uai, task_id=sn.task_id), metadata=sn.meta()))
    return got.task


def _open_editor(browser: Any, sn: Scenario) -> tuple[Any, Any]:
    page = open_page(browser, sn.server.base_url)
    sign_in(page, sn.owner, sn.owner_pat)
    page.goto(f"/console/{sn.owner}/{sn.app_id}/tasks")
    row = page.locator("tr", has=page.get_by_role("link", name=TASK_NAME))
    row.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Edit task")
    form.wait_for()
    # the form starts from the server's task
    assert form.locator("input[name=concept][value=bird]").is_checked()
    assert form.locator("select[name=review]").input_value() == "MANUAL"
    return page, form


def test_owner_edits_concepts_workers_and_review_of_a_task(
    browser: Any, make_scenario: Callable[[int], Scenario]
) -> None:
    sn = make_scenario(1)
    ana, ben = list(sn.labelers)
    rita = sn.reviewer[0]
    carl = f"carl-{sn.app_id}"
    admin.create_user(sn.server.app.db, carl, f"{carl}@example.com")
    admin.add_collaborator(sn.server.app.db, sn.owner, sn.app_id, carl)
    before = _get_task(sn)
    assert set(before.concept_ids) == {"cat", "dog", "bird"} and set(before.worker.user_ids) == {ana, ben}

    page, form = _open_editor(browser, sn)
    form.locator("input[name=name]").fill("North cameras, two labelers agree")
    form.locator("input[name=concept][value=bird]").uncheck()
    form.locator("input[name=workers]").fill(f"{ana}, {carl}")
    form.locator("select[name=review]").select_option("CONSENSUS")
    form.locator("input[name=reviewers]").fill(rita)
    form.locator("input[name=threshold]").fill("2")
    form.locator("input[name=thresholdReviewers]").fill("1")
    assert_controls_labelled(page)
    screenshot(page, "console-task-edit")
    form.get_by_role("button", name="Save changes").click()
    page.get_by_role("link", name="North cameras, two labelers agree").wait_for()

    task = _get_task(sn)
    assert task.name == "North cameras, two labelers agree"
    assert sorted(task.concept_ids) == ["cat", "dog"]
    assert sorted(task.worker.user_ids) == sorted([ana, carl])
    assert task.worker.strategy == r.TaskWorker.FULL
    assert task.review.strategy == r.TaskReview.CONSENSUS
    assert list(task.review.user_ids) == [rita]
    info = task.review.consensus_strategy_info
    assert (info.approval_threshold_labelers, info.approval_threshold_reviewers) == (2, 1)
    assert task.type == before.type and task.input_source.type == before.input_source.type
    assert page.js_errors == []
    page.context.close()


def test_a_refused_edit_shows_beside_its_field_and_changes_nothing(
    browser: Any, make_scenario: Callable[[int], Scenario]
) -> None:
    sn = make_scenario(1)
    before = _get_task(sn)
    page, form = _open_editor(browser, sn)
    form.locator("input[name=concept][value=bird]").uncheck()
    form.locator("select[name=review]").select_option("CONSENSUS")
    form.locator("input[name=threshold]").fill("2")
    form.locator("input[name=thresholdReviewers]").fill("3")  # one reviewer cannot give 3 approvals
    form.get_by_role("button", name="Save changes").click()

    err = form.locator(".field-error[data-field=thresholdReviewers]")
    err.wait_for()
    assert "approval_threshold_reviewers" in err.inner_text() and "3" in err.inner_text()
    assert form.locator(".field-error").count() == 1, "only the field concerned shows the error"
    # the form keeps what was typed, and the server's task did not change
    assert form.locator("input[name=thresholdReviewers]").input_value() == "3"
    assert not form.locator("input[name=concept][value=bird]").is_checked()
    after = _get_task(sn)
    assert after.review.strategy == r.TaskReview.MANUAL
    assert set(after.concept_ids) == set(before.concept_ids) == {"cat", "dog", "bird"}

    # fixing the value saves it
    form.locator("input[name=thresholdReviewers]").fill("1")
    form.get_by_role("button", name="Save changes").click()
    form.wait_for(state="detached")
    fixed = _get_task(sn)
    assert fixed.review.strategy == r.TaskReview.CONSENSUS
    assert fixed.review.consensus_strategy_info.approval_threshold_reviewers == 1
    assert sorted(fixed.concept_ids) == ["cat", "dog"]
    assert page.js_errors == []
    page.context.close()
