"""My stage tasks (the staged workflow under /api/v2) in Chromium: a labeller starts and submits a
Labelling task (the overdue one is highlighted), the QA user rejects it — a reason is required — and the
labeller sees it back with the reason; the states are checked through the API."""

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
REASON = "The outline misses the left wing."


@pytest.fixture
def staged(make_scenario: Callable[[int], Scenario], rest_stub: Any) -> Scenario:
    sn = make_scenario(3)
    ok(
        rest_stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=sn.uai, datasets=[r.Dataset(id="yard")]), metadata=sn.meta()
        )
    )
    req = s.PostDatasetInputsRequest(
        user_app_id=sn.uai,
        dataset_id="yard",
        dataset_inputs=[r.DatasetInput(input=r.Input(id=i)) for i in sn.input_ids],
    )
    ok(rest_stub.PostDatasetInputs(req, metadata=sn.meta()))
    ana = next(u for u in sn.labelers if u.startswith("ana"))
    assign(sn, "Labelling", [("photo-1", ana, PAST), ("photo-2", ana, FUTURE)])
    assign(sn, "QA", [("photo-1", sn.reviewer[0], FUTURE)])
    return sn


def assign(sn: Scenario, stage: str, rows: list[tuple[str, str, str]]) -> None:
    body = {
        "stage": stage,
        "assignments": [{"file_id": f, "email": f"{u}@example.com", "due_at": d} for f, u, d in rows],
    }
    resp = requests.post(
        f"{sn.server.base_url}/api/v2/datasets/yard/file_tasks",
        json=body,
        headers={"Authorization": f"Bearer {sn.owner_pat}"},
        timeout=30,
    )
    assert resp.status_code == 204, resp.text


def states(sn: Scenario) -> dict[tuple[str, str], str]:
    got = requests.get(
        f"{sn.server.base_url}/api/v2/datasets/yard/tasks",
        headers={"Authorization": f"Bearer {sn.owner_pat}"},
        timeout=30,
    ).json()["tasks"]
    return {(t["file_id"], t["stage"]): t["state"] for t in got}


def row(page: Any, unit: str, stage: str) -> Any:
    return page.locator("tr", has=page.locator("th", has_text=unit)).filter(has_text=stage)


def test_stage_tasks_start_submit_reject_with_reason(browser: Any, staged: Scenario) -> None:
    sn = staged
    ana = next(u for u in sn.labelers if u.startswith("ana"))
    page = open_page(browser, sn.server.base_url)
    sign_in(page, ana, sn.labelers[ana])
    page.get_by_role("link", name="My stage tasks").click()
    page.get_by_role("heading", name="My stage tasks").wait_for()
    first = row(page, "photo-1", "Labelling")
    first.wait_for()
    assert "overdue" in (first.get_attribute("class") or ""), "the task past its due time is highlighted"
    assert "overdue" not in (row(page, "photo-2", "Labelling").get_attribute("class") or "")
    assert_controls_labelled(page)
    screenshot(page, "06-stage-tasks")
    first.get_by_role("button", name="Start").click()
    first.locator(".pill", has_text="In progress").wait_for()
    first.get_by_role("button", name="Submit").click()
    first.locator(".pill", has_text="Submitted").wait_for()
    assert states(sn)[("photo-1", "Labelling")] == "Submitted"

    qa = open_page(browser, sn.server.base_url)
    sign_in(qa, *sn.reviewer)
    qa.get_by_role("link", name="My stage tasks").click()
    check = row(qa, "photo-1", "QA")
    check.get_by_role("button", name="Reject").click()
    dialog = qa.get_by_role("dialog")
    dialog.get_by_role("button", name="Reject").click()
    qa.get_by_role("alert").filter(has_text="A reason is required").wait_for()
    dialog.get_by_label("Reason (required)").fill(REASON)
    assert_controls_labelled(qa)
    screenshot(qa, "07-stage-reject")
    dialog.get_by_role("button", name="Reject").click()
    check.locator(".pill", has_text="Rejected").wait_for()
    assert states(sn)[("photo-1", "Labelling")] == "Ready", "sent back to the labeller"

    page.get_by_role("button", name="Refresh").click()
    back = row(page, "photo-1", "Labelling")
    back.locator(".pill", has_text="Ready").wait_for()
    assert REASON in back.inner_text()
    assert page.js_errors == [] and qa.js_errors == []
    page.context.close()
    qa.context.close()
