"""Pre-labels in Chromium: a task whose assistant is a detector (an Open Inference Protocol server
the test runs) hands the labeler its three boxes, drawn dashed and marked "model" with a legend;
the labeler keeps one, moves another (now marked "edited") and deletes the third, and submits;
GetTask's metrics then count one kept, one changed and one removed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from google.protobuf import json_format
from sqlalchemy import select

from labeldesk.storage import tables as t
from tests.browser.scenario import Scenario, ok
from tests.browser.test_workbench import close
from tests.browser.workbench import assert_controls_labelled, at, open_page, screenshot, sign_in
from tests.model_servers import model_server

# top, left, bottom, right (the protocol's order): kept, moved, deleted
BOXES = [(0.10, 0.10, 0.40, 0.35), (0.50, 0.45, 0.85, 0.70), (0.15, 0.70, 0.35, 0.90)]


def detector(path: str, body: Any) -> tuple[int, bytes]:
    n = len(body["inputs"][0]["data"])
    out = {
        "outputs": [
            {
                "name": "boxes",
                "datatype": "FP32",
                "shape": [n, 3, 4],
                "data": [v for b in BOXES for v in b] * n,
            },
            {"name": "box_scores", "datatype": "FP32", "shape": [n, 3], "data": [0.92, 0.81, 0.64] * n},
            {"name": "box_labels", "datatype": "BYTES", "shape": [n, 3], "data": ["bird", "cat", "bird"] * n},
        ]
    }
    return 200, json.dumps(out).encode()


def wait_prelabels(sn: Scenario, task_id: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        with sn.server.app.db.read() as conn:
            jobs = [j for j in conn.execute(select(t.jobs).where(t.jobs.c.kind == "prelabels"))]
        mine = [j for j in jobs if j.payload["task_id"] == task_id]
        if mine and mine[-1].state == "done":
            return
        assert time.monotonic() < deadline, mine
        time.sleep(0.05)


def assisted_task(
    sn: Scenario,
    labeler: str,
    answer: Callable[[str, Any], tuple[int, bytes]],
    model_concepts: tuple[str, ...],
    task_id: str,
    task_type: int,
    name: str,
) -> None:
    """A task ``task_id`` for ``labeler`` over the scenario's inputs and the concepts bird, cat and
    dog, whose assistant is a model named after ``answer`` (e.g. ``detector``) on a test Open
    Inference Protocol server answering with it; returns once its pre-labels are made."""
    with model_server() as oip:
        oip.answer = answer
        m = r.Model(id=answer.__name__)
        m.metadata.update({"labeldesk": {"backend": "oip", "url": oip.url, "model_name": task_id}})
        for c in model_concepts:
            m.output_info.data.concepts.add(id=c)
        ok(sn.stub.PostModels(s.PostModelsRequest(user_app_id=sn.uai, models=[m]), metadata=sn.meta()))
        task = r.Task(
            id=task_id,
            type=task_type,
            name=name,
            worker=r.TaskWorker(strategy=r.TaskWorker.FULL, user_ids=[labeler]),
            concept_ids=["bird", "cat", "dog"],
            input_source=r.TaskInputSource(type=r.TaskInputSource.ALL_INPUTS),
            review=r.TaskReview(strategy=r.TaskReview.NONE),
            ai_assistant=r.TaskAIAssistant(workflow_id=m.id),
            ai_assist_params=r.AiAssistParameters(min_threshold=0.5),
        )
        ok(sn.stub.PostTasks(s.PostTasksRequest(user_app_id=sn.uai, tasks=[task]), metadata=sn.meta()))
        wait_prelabels(sn, task_id)


def submit_and_read(
    page: Any, sn: Scenario, labeler: str, task_id: str
) -> tuple[dict[str, Any], r.Annotation]:
    """Submit the open input (Enter) and close the page; answers the task's one pre-labelling
    model's metrics from GetTask and the labeler's one annotation in the task."""
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="All done here").wait_for()
    assert page.js_errors == []
    page.context.close()
    got = ok(
        sn.stub.GetTask(
            s.GetTaskRequest(user_app_id=sn.uai, task_id=task_id, additional_fields=["metrics"]),
            metadata=sn.meta(),
        )
    ).task
    (model,) = json_format.MessageToDict(got.metadata)["prelabels"]["models"]
    req = s.ListAnnotationsRequest(user_app_id=sn.uai, user_ids=[labeler], task_id=task_id)
    (ann,) = ok(sn.stub.ListAnnotations(req, metadata=sn.meta())).annotations
    return model, ann


def test_the_labeler_keeps_moves_and_deletes_model_suggestions(
    browser: Any, make_scenario: Callable[[int], Scenario]
) -> None:
    sn = make_scenario(1)
    ana = next(u for u in sn.labelers if u.startswith("ana"))
    assisted_task(
        sn,
        ana,
        detector,
        ("bird", "cat"),
        "assisted",
        r.Task.BOUNDING_BOX_DETECTION,
        "Animals, with a detector's suggestions",
    )

    page = open_page(browser, sn.server.base_url)
    sign_in(page, ana, sn.labelers[ana])
    page.goto(f"/label/{sn.owner}/{sn.app_id}/assisted")
    page.get_by_test_id("input-id").wait_for()
    rows = page.locator("ul.regions li")
    rows.nth(2).wait_for()
    assert rows.count() == 3
    assert page.locator("ul.regions .badge.model").count() == 3
    legend = page.get_by_test_id("prelabel-legend")
    assert "suggested by detector" in legend.inner_text()
    assert page.get_by_label("Concept of region 2").input_value() == "cat"
    assert cut_selects(page) == []
    page.wait_for_timeout(100)  # let the canvas paint before the picture is taken
    screenshot(page, "label-prelabels")
    assert_controls_labelled(page)

    # move the second box: select it, drag it from its middle 10 % to the left
    top, left, bottom, right = BOXES[1]
    page.keyboard.press("v")
    page.get_by_role("button", name="Select region 2").click()
    page.mouse.move(*at(page, (left + right) / 2, (top + bottom) / 2))
    page.mouse.down()
    page.mouse.move(*at(page, (left + right) / 2 - 0.1, (top + bottom) / 2), steps=5)
    page.mouse.up()
    page.locator("ul.regions li").nth(1).locator(".badge.edited").wait_for()
    # delete the third
    page.get_by_role("button", name="Delete region 3").click()
    assert rows.count() == 2
    assert page.locator("ul.regions .badge.model").count() == 1
    screenshot(page, "label-prelabels-edited")
    model, ann = submit_and_read(page, sn, ana, "assisted")
    assert model["model_id"] == "detector"
    assert (model["total"], model["kept"], model["changed"], model["removed"]) == (3, 1, 1, 1)
    assert model["acceptance_rate"] == 0.3333
    # what was saved: the kept box as suggested, the moved one 10 % further left
    saved = sorted(
        (x.region_info.bounding_box.left_col, x.region_info.bounding_box.top_row, x.data.concepts[0].id)
        for x in ann.data.regions
    )
    assert [c for _, _, c in saved] == ["bird", "cat"]
    assert close(saved[0][0], BOXES[0][1]) and close(saved[1][0], BOXES[1][1] - 0.1), saved


def cut_selects(page: Any) -> list[str]:
    """The regions panel's concept drop-downs too narrow to show their choice's whole name (its
    text measured in the drop-down's own font, plus its padding and arrow)."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('ul.regions select')].flatMap((s) => {
                const cs = getComputedStyle(s);
                const pen = document.createElement('canvas').getContext('2d');
                pen.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
                const name = s.selectedOptions[0].text;
                const pad = parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight) + 20;  // + the arrow
                const needs = Math.round(pen.measureText(name).width + pad);
                const wide = s.clientWidth;
                return needs > wide ? [`${name}: ${needs} px needed, ${wide} px wide`] : [];
            })"""
        )
    )
