"""Text inputs in a classification task: the labeler reads the text, ticks a concept with its number key
and submits with Enter; the concepts land on the input-level annotation of the task."""

from __future__ import annotations

import uuid
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s

from labeldesk.app import RunningServer
from tests.browser.scenario import build_scenario, ok
from tests.browser.workbench import assert_controls_labelled, current_input, open_page, screenshot, sign_in

TEXTS = {
    "note-1": "A small brown dog was barking at the gate all morning.",
    "note-2": "Two gulls and a heron stood on the pier at low tide.",
}
PICK = {"note-1": ("2", "dog"), "note-2": ("3", "bird")}


def test_text_inputs_are_shown_and_classified(browser: Any, server: RunningServer, rest_stub: Any) -> None:
    sn = build_scenario(server, rest_stub, uuid.uuid4().hex[:8], image_urls=[], n_images=0)
    inputs = [r.Input(id=k, data=r.Data(text=r.Text(raw=v))) for k, v in TEXTS.items()]
    ok(rest_stub.PostInputs(s.PostInputsRequest(user_app_id=sn.uai, inputs=inputs), metadata=sn.meta()))
    task = r.Task(
        id="texts",
        type=r.Task.TaskType.Value("CONCEPTS_CLASSIFICATION"),
        name="What is the note about?",
        worker=r.TaskWorker(
            strategy=r.TaskWorker.TaskWorkerStrategy.Value("FULL"), user_ids=list(sn.labelers)
        ),
        concept_ids=["cat", "dog", "bird"],
        input_source=r.TaskInputSource(type=r.TaskInputSource.TaskInputSourceType.Value("ALL_INPUTS")),
    )
    ok(rest_stub.PostTasks(s.PostTasksRequest(user_app_id=sn.uai, tasks=[task]), metadata=sn.meta()))
    ana = next(u for u in sn.labelers if u.startswith("ana"))
    page = open_page(browser, server.base_url)
    sign_in(page, ana, sn.labelers[ana])
    page.get_by_role("link", name="Label What is the note about?").click()
    for n in range(2):
        page.get_by_test_id("input-id").wait_for()
        input_id = current_input(page)
        article = page.get_by_role("article", name="Text to classify")
        assert article.inner_text() == TEXTS[input_id]
        assert page.get_by_role("toolbar", name="Drawing tools").count() == 0
        key, _ = PICK[input_id]
        page.keyboard.press(key)
        if n == 0:
            assert_controls_labelled(page)
            screenshot(page, "10-text")
        page.keyboard.press("Enter")
        if n == 0:
            page.wait_for_function(
                f"document.querySelector('[data-testid=input-id]')?.innerText !== '{input_id}'"
            )
    page.get_by_role("heading", name="All done here").wait_for()
    req = s.ListAnnotationsRequest(user_app_id=sn.uai, task_id="texts", user_ids=[ana])
    got = ok(rest_stub.ListAnnotations(req, metadata=sn.meta())).annotations
    assert {a.input_id: [c.id for c in a.data.concepts] for a in got} == {k: [v[1]] for k, v in PICK.items()}
    assert page.js_errors == []
    page.context.close()
