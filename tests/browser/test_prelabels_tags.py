"""Pre-labelled tags in Chromium: a classification task whose assistant is a classifier (an Open
Inference Protocol server the test runs) starts the labeler's input with the model's concepts
above the threshold ticked, each chip badged "model"; the labeler keeps one, unticks the other and
submits; GetTask's metrics then count one kept and one removed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r

from tests.browser.scenario import Scenario
from tests.browser.test_prelabels import assisted_task, submit_and_read
from tests.browser.workbench import assert_controls_labelled, open_page, screenshot, sign_in

SCORES = [0.88, 0.73, 0.12]  # bird, cat, dog: the first two are above the task's 0.5


def classifier(path: str, body: Any) -> tuple[int, bytes]:
    n = len(body["inputs"][0]["data"])
    out = {"outputs": [{"name": "scores", "datatype": "FP32", "shape": [n, 3], "data": SCORES * n}]}
    return 200, json.dumps(out).encode()


def test_the_labeler_keeps_one_suggested_tag_and_removes_another(
    browser: Any, make_scenario: Callable[[int], Scenario]
) -> None:
    sn = make_scenario(1)
    ana = next(u for u in sn.labelers if u.startswith("ana"))
    assisted_task(
        sn,
        ana,
        classifier,
        ("bird", "cat", "dog"),
        "tagged",
        r.Task.CONCEPTS_CLASSIFICATION,
        "Animals, with a classifier's suggestions",
    )

    page = open_page(browser, sn.server.base_url)
    sign_in(page, ana, sn.labelers[ana])
    page.goto(f"/label/{sn.owner}/{sn.app_id}/tagged")
    page.get_by_test_id("input-id").wait_for()
    page.get_by_test_id("concept-prelabel-legend").wait_for()

    def chip(name: str) -> Any:
        return page.locator("label.concept", has_text=name)

    assert chip("bird").locator("input").is_checked() and chip("cat").locator("input").is_checked()
    assert not chip("dog").locator("input").is_checked()
    assert (
        chip("bird").locator(".badge.model").count() == 1 and chip("cat").locator(".badge.model").count() == 1
    )
    assert chip("dog").locator(".badge.model").count() == 0
    assert "classifier (88%)" in (chip("bird").locator(".badge.model").get_attribute("title") or "")
    screenshot(page, "label-prelabel-tags")
    assert_controls_labelled(page)

    chip("cat").locator("input").uncheck()  # the labeler disagrees with "cat"
    assert not chip("cat").locator("input").is_checked()
    model, ann = submit_and_read(page, sn, ana, "tagged")
    assert model["model_id"] == "classifier"
    assert (model["total"], model["kept"], model["changed"], model["removed"]) == (2, 1, 0, 1)
    assert model["acceptance_rate"] == 0.5
    assert [c.id for c in ann.data.concepts] == ["bird"]
