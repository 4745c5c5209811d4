"""The staged workflow admin in the console, in Chromium: the owner edits a dataset's stage list (an
API validation error lands beside the stage field it names), assigns units to labelers in bulk, and
sees a task past its due time in the delayed view — who holds it, how late — and reassigns it. Every
step is checked on the server through the staged API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s

from tests.browser.scenario import Scenario, ok
from tests.browser.workbench import assert_controls_labelled, open_page, screenshot, sign_in

PAST = (datetime.now(timezone.utc) - timedelta(hours=5)).isoformat()
FUTURE = "2999-01-01T00:00:00Z"


@pytest.fixture
def yard(make_scenario: Callable[[int], Scenario]) -> Scenario:
    """The scenario's 3 images in a dataset 'yard' (the staged workflow runs per dataset)."""
    sn = make_scenario(3)
    ok(
        sn.stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=sn.uai, datasets=[r.Dataset(id="yard")]), metadata=sn.meta()
        )
    )
    req = s.PostDatasetInputsRequest(
        user_app_id=sn.uai,
        dataset_id="yard",
        dataset_inputs=[r.DatasetInput(input=r.Input(id=i)) for i in sn.input_ids],
    )
    ok(sn.stub.PostDatasetInputs(req, metadata=sn.meta()))
    return sn


def api(sn: Scenario, method: str, path: str, **kw: Any) -> Any:
    resp = requests.request(
        method,
        f"{sn.server.base_url}/api/v2{path}",
        headers={"Authorization": f"Bearer {sn.owner_pat}"},
        timeout=30,
        **kw,
    )
    assert resp.status_code in (200, 204), resp.text
    return resp.json() if resp.status_code == 200 else None


def tasks(sn: Scenario) -> dict[tuple[str, str], dict[str, Any]]:
    return {(t["file_id"], t["stage"]): t for t in api(sn, "GET", "/datasets/yard/tasks")["tasks"]}


def shot(page: Any, name: str, height: int) -> None:
    """A screenshot of the whole screen, from its top (the console scrolls inside ``.content``)."""
    page.set_viewport_size({"width": 1440, "height": height})
    page.evaluate("document.querySelector('.content').scrollTo(0, 0)")
    screenshot(page, name)
    page.set_viewport_size({"width": 1440, "height": 900})


def open_staged(browser: Any, sn: Scenario) -> Any:
    page = open_page(browser, sn.server.base_url)
    sign_in(page, sn.owner, sn.owner_pat)
    page.goto(f"/console/{sn.owner}/{sn.app_id}/tasks")
    page.get_by_role("link", name="Staged workflow").click()
    page.get_by_role("heading", name="Stages of yard").wait_for()
    return page


def test_owner_edits_the_stage_list(browser: Any, yard: Scenario) -> None:
    sn = yard
    page = open_staged(browser, sn)
    editor = page.get_by_role("form", name="Stages")
    assert editor.locator("input[name=stage-name-0]").input_value() == "Labelling"
    assert editor.locator("input[name=stage-name-1]").input_value() == "QA"

    # a bad due time is refused by the API and shown beside that stage's field; nothing is saved
    editor.locator("input[name=stage-hours-1]").fill("-3")
    editor.get_by_role("button", name="Save stages").click()
    err = editor.locator(".field-error[data-field='1.due_in_hours']")
    err.wait_for()
    assert "due_in_hours" in err.inner_text() and "-3" in err.inner_text()
    assert api(sn, "GET", "/datasets/yard/stages")["stages"][1]["due_in_hours"] is None
    shot(page, "console-staged-stages", 900)

    # rename, add a stage, move it up, set due times and auto-reassign
    editor.locator("input[name=stage-hours-1]").fill("24")
    editor.locator("input[name=stage-name-0]").fill("Annotate")
    editor.get_by_role("button", name="+ Add stage").click()
    editor.locator("input[name=stage-name-2]").fill("Second look")
    editor.locator("input[name=stage-hours-2]").fill("12")
    editor.get_by_role("button", name="Move stage 3 up").click()
    assert editor.locator("input[name=stage-name-1]").input_value() == "Second look"
    editor.locator("input[name=auto_reassign]").check()
    editor.get_by_role("button", name="Save stages").click()
    editor.get_by_role("status").filter(has_text="Saved.").wait_for()
    got = api(sn, "GET", "/datasets/yard/stages")
    assert [(x["name"], x["due_in_hours"]) for x in got["stages"]] == [
        ("Annotate", None),
        ("Second look", 12.0),
        ("QA", 24.0),
    ]
    assert got["auto_reassign"] is True and got["frame_attributes"] is False
    assert {stage for _, stage in tasks(sn)} == {"Annotate", "Second look", "QA"}, "units rebuilt"

    # a duplicate name: beside the second of the two; then remove a stage
    editor.locator("input[name=stage-name-2]").fill("annotate")
    editor.get_by_role("button", name="Save stages").click()
    dup = editor.locator(".field-error[data-field='2.name']")
    dup.wait_for()
    assert "appears twice" in dup.inner_text()
    editor.get_by_role("button", name="Remove stage 3").click()
    editor.get_by_role("button", name="Save stages").click()
    editor.get_by_role("status").filter(has_text="Saved.").wait_for()
    assert [x["name"] for x in api(sn, "GET", "/datasets/yard/stages")["stages"]] == [
        "Annotate",
        "Second look",
    ]

    # once work has started the list is locked: the 409 shows under the list
    ana = next(u for u in sn.labelers if u.startswith("ana"))
    api(
        sn,
        "POST",
        "/datasets/yard/file_tasks",
        json={"assignments": [{"file_id": "photo-1", "email": f"{ana}@example.com"}]},
    )
    task_id = tasks(sn)[("photo-1", "Annotate")]["id"]
    started = requests.post(
        f"{sn.server.base_url}/api/v2/tasks/{task_id}/start",
        headers={"Authorization": f"Bearer {sn.labelers[ana]}"},
        json={},
        timeout=30,
    )
    assert started.status_code == 200, started.text
    editor.get_by_role("button", name="+ Add stage").click()
    editor.locator("input[name=stage-name-2]").fill("Final")
    editor.get_by_role("button", name="Save stages").click()
    locked = editor.locator(".field-error[data-field=stages]")
    locked.wait_for()
    assert "work has started" in locked.inner_text()
    assert [x["name"] for x in api(sn, "GET", "/datasets/yard/stages")["stages"]] == [
        "Annotate",
        "Second look",
    ]
    assert page.js_errors == []
    page.context.close()


def test_owner_assigns_in_bulk_and_reassigns_a_delayed_task(browser: Any, yard: Scenario) -> None:
    sn = yard
    ana, ben = list(sn.labelers)
    rita = sn.reviewer[0]
    # photo-1 went to ana with a due time 5 hours ago: it is delayed
    api(
        sn,
        "POST",
        "/datasets/yard/file_tasks",
        json={"assignments": [{"file_id": "photo-1", "email": f"{ana}@example.com", "due_at": PAST}]},
    )
    page = open_staged(browser, sn)

    # the delayed view: who holds it, how late
    delayed = page.get_by_test_id("delayed-tasks")
    late_row = delayed.locator("tr", has=page.locator("th", has_text="photo-1"))
    late_row.wait_for()
    assert delayed.locator("tbody tr").count() == 1
    assert late_row.get_by_test_id("holder").inner_text() == ana
    assert late_row.get_by_test_id("late").inner_text() == "5 h"
    assert "Labelling" in late_row.inner_text()

    # bulk: the Labelling tasks of photo-2 and photo-3 to ben
    page.locator("select[name=f-stage]").select_option("Labelling")
    grid = page.get_by_test_id("staged-tasks")
    page.wait_for_function("document.querySelectorAll('[data-testid=staged-tasks] tbody tr').length === 3")
    grid.get_by_label("Select photo-2 (Labelling)").check()
    grid.get_by_label("Select photo-3 (Labelling)").check()
    page.get_by_test_id("selected-count").filter(has_text="2 selected").wait_for()
    page.locator("select[name=assign-to]").select_option(f"{ben}@example.com")
    page.get_by_role("button", name="Assign", exact=True).click()
    page.get_by_role("status").filter(has_text="2 tasks").wait_for()
    got = tasks(sn)
    assert got[("photo-2", "Labelling")]["assignee"] == f"{ben}@example.com"
    assert got[("photo-3", "Labelling")]["assignee"] == f"{ben}@example.com"
    assert got[("photo-1", "Labelling")]["assignee"] == f"{ana}@example.com", "unselected: unchanged"
    assert all(got[(f, "QA")]["assignee"] is None for f in sn.input_ids)

    # every QA task (select all on the page) to rita, with a due time
    page.locator("select[name=f-stage]").select_option("QA")
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=staged-tasks] tbody tr')]"
        ".every(r => r.innerText.includes('QA'))"
    )
    grid.get_by_label("Select every task on this page").check()
    page.locator("select[name=assign-to]").select_option(f"{rita}@example.com")
    page.locator("input[name=assign-due]").fill(FUTURE)
    page.get_by_role("button", name="Assign", exact=True).click()
    page.get_by_role("status").filter(has_text=f"Assigned to {rita}@example.com: 3 tasks").wait_for()
    got = tasks(sn)
    assert {got[(f, "QA")]["assignee"] for f in sn.input_ids} == {f"{rita}@example.com"}
    assert {got[(f, "QA")]["due_at"] for f in sn.input_ids} == {"2999-01-01T00:00:00Z"}
    grid.get_by_test_id("assignee").first.filter(has_text=rita).wait_for()
    page.locator("select[name=f-stage]").select_option("")
    page.wait_for_function("document.querySelectorAll('[data-testid=staged-tasks] tbody tr').length === 6")
    assert_controls_labelled(page)
    shot(page, "console-staged", 1500)

    # reassign the delayed task to ben: it leaves the delayed view, and its unit's past due time goes
    late_row.get_by_label("New assignee for photo-1 (Labelling)").select_option(f"{ben}@example.com")
    late_row.get_by_role("button", name="Reassign").click()
    late_row.wait_for(state="detached")
    page.get_by_text("Nothing is overdue").wait_for()
    moved = tasks(sn)[("photo-1", "Labelling")]
    assert moved["assignee"] == f"{ben}@example.com" and not moved["delayed"]
    last = moved["history"][-1]
    assert (last["action"], last["assignee_from"], last["assignee_to"]) == (
        "assign",
        f"{ana}@example.com",
        f"{ben}@example.com",
    )
    delayed_now = api(sn, "GET", f"/clients/{sn.owner}/delayed_tasks", params={"app_id": sn.app_id})
    assert delayed_now["total"] == 0
    # the grid shows the new holder without a reload
    holder = page.locator(f"tr[data-task='{moved['id']}'] [data-testid=assignee]")
    holder.filter(has_text=ben).wait_for()
    assert page.js_errors == []
    page.context.close()
