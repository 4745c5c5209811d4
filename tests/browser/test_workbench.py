"""The browser workbench end to end in Chromium: the app is served by labeldesk at ``/`` (client
routes fall back to it, the APIs are not shadowed); labelers sign in, tick a concept, draw a box and a
polygon on each of three images and submit; the result is checked through clarifai-grpc: geometry
within 1 % of what was drawn, concepts, statuses and task ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.app import RunningServer
from tests.browser.scenario import Scenario, ok
from tests.browser.workbench import (
    Box,
    Points,
    assert_controls_labelled,
    current_input,
    draw_box,
    draw_polygon,
    open_page,
    screenshot,
    sign_in,
)

TOLERANCE = 0.01

# what each labeler draws on every image (normalised: left, top, right, bottom / x, y)
BOXES: dict[str, Box] = {"ana": (0.20, 0.25, 0.55, 0.75), "ben": (0.21, 0.24, 0.56, 0.76)}
POLYGONS: dict[str, Points] = {
    "ana": [(0.60, 0.90), (0.75, 0.60), (0.90, 0.90)],
    "ben": [(0.61, 0.89), (0.75, 0.61), (0.89, 0.90), (0.75, 0.95)],
}
TICKS = {"ana": ("1", "cat"), "ben": ("2", "dog")}


def test_app_is_served_at_root_with_client_routes_and_apis_untouched(server: RunningServer) -> None:
    root = requests.get(server.base_url + "/", timeout=10)
    assert root.status_code == 200 and '<div id="app">' in root.text
    assert requests.get(server.base_url + "/label/a/b/c", timeout=10).text == root.text
    script = requests.get(server.base_url + "/assets/app.js", timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    api = requests.get(server.base_url + "/v2/inputs", timeout=10)
    assert api.status_code == 401 and api.json()["status"]["code"] == sc.CONN_KEY_INVALID
    unknown = requests.get(server.base_url + "/v2/no-such-route", timeout=10)
    assert unknown.json()["status"]["code"] == sc.CONN_DOES_NOT_EXIST
    staged = requests.get(server.base_url + "/api/v2/clients/me/user_tasks", timeout=10)
    assert staged.status_code == 401


@pytest.fixture
def scenario(make_scenario: Callable[[int], Scenario]) -> Scenario:
    return make_scenario(3)


def label_everything(browser: Any, sn: Scenario, who: str, shots: bool) -> dict[str, tuple[Box, Points]]:
    """One labeler's whole session in the browser; answers what was drawn per input."""
    uid = next(u for u in sn.labelers if u.startswith(who))
    page = open_page(browser, sn.server.base_url)
    sign_in(page, uid, sn.labelers[uid], shot="01-sign-in" if shots else None)
    page.get_by_role("link", name=f"Label {'Animals on the north cameras'}").wait_for()
    assert_controls_labelled(page)
    if shots:
        screenshot(page, "02-my-work")
    page.get_by_role("link", name="Label Animals on the north cameras").click()
    drawn: dict[str, tuple[Box, Points]] = {}
    key, _concept = TICKS[who]
    for n in range(3):
        page.get_by_test_id("input-id").wait_for()
        input_id = current_input(page)
        page.keyboard.press(key)
        draw_box(page, BOXES[who])
        draw_polygon(page, POLYGONS[who])
        assert page.locator("ul.regions li").count() == 2
        assert_controls_labelled(page)
        if shots and n == 0:
            screenshot(page, "03-labeling")
        drawn[input_id] = (BOXES[who], POLYGONS[who])
        if n < 2:  # the next input is prepared (media, my annotations) while I work on this one ...
            page.wait_for_function("Number(document.body.dataset.readyAhead || 0) >= 1")
        page.keyboard.press("Enter")
        if n < 2:
            page.wait_for_function(
                f"document.querySelector('[data-testid=input-id]')?.innerText !== '{input_id}'"
            )
            # ... so submitting shows it without waiting for the network (timings: a benchmark's job)
            assert page.evaluate("document.body.dataset.shownPrepared") == "true"
            switch_ms = float(page.evaluate("document.body.dataset.switchMs || 1e9"))
            submit_ms = float(page.evaluate("document.body.dataset.submitMs || 1e9"))
            print(f"{who}: submit answered in {submit_ms:.0f} ms, next input shown {switch_ms:.0f} ms later")
    page.get_by_role("heading", name="All done here").wait_for()
    # nothing is on screen, so nothing stays ticked from the last input
    assert page.locator("input[type=checkbox]:checked").count() == 0
    if shots:
        screenshot(page, "04-all-done")
    assert page.js_errors == []
    page.context.close()
    return drawn


def review_everything(browser: Any, sn: Scenario) -> dict[str, str]:
    """The reviewer approves the first two inputs (key A) and rejects the third with a comment."""
    page = open_page(browser, sn.server.base_url)
    sign_in(page, *sn.reviewer)
    page.get_by_role("link", name="Review Animals on the north cameras").click()
    verdicts: dict[str, str] = {}
    for n in range(3):
        page.get_by_test_id("input-id").wait_for()
        input_id = current_input(page)
        assert page.locator(".version").count() == 2, "both labelers' versions side by side"
        page.locator(".version .surface[data-image-rect]").nth(1).wait_for()
        if n < 2:
            if n == 0:
                assert_controls_labelled(page)
                screenshot(page, "05-review")
            page.keyboard.press("a")
            verdicts[input_id] = "approve"
            page.wait_for_function(
                f"document.querySelector('[data-testid=input-id]')?.innerText !== '{input_id}'"
            )
        else:
            page.get_by_label("Comment for the labeler").fill("The boxes cut the animals' tails off.")
            page.get_by_role("button", name="Reject").click()
            verdicts[input_id] = "reject"
    page.get_by_role("heading", name="Nothing to review").wait_for()
    assert page.js_errors == []
    page.context.close()
    return verdicts


def close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE


def test_labelers_draw_and_submit_then_reviewer_decides(
    browser: Any, scenario: Scenario, grpc_stub: Any
) -> None:
    sn = scenario
    drawn = {who: label_everything(browser, sn, who, shots=(who == "ana")) for who in ("ana", "ben")}
    submitted = annotations(grpc_stub, sn)
    assert {a.status.code for a in submitted.values()} == {sc.ANNOTATION_AWAITING_REVIEW}, (
        "MANUAL review of 100 %"
    )
    verdicts = review_everything(browser, sn)
    assert sorted(verdicts.values()) == ["approve", "approve", "reject"]
    final = {"approve": sc.ANNOTATION_SUCCESS, "reject": sc.ANNOTATION_REVIEW_DENIED}
    by = annotations(grpc_stub, sn)
    assert len(by) == 6, "one annotation per labeler and input"
    for (who, input_id), a in by.items():
        box, poly = drawn[who][input_id]
        assert a.task_id == sn.task_id and a.annotation_info["task_id"] == sn.task_id
        assert a.status.code == final[verdicts[input_id]], (who, input_id, a.status)
        assert [(c.id, c.value) for c in a.data.concepts] == [(TICKS[who][1], 1.0)]
        regions = list(a.data.regions)
        assert len(regions) == 2
        bb = regions[0].region_info.bounding_box
        assert all(map(close, (bb.left_col, bb.top_row, bb.right_col, bb.bottom_row), box)), bb
        pts = [(p.col, p.row) for p in regions[1].region_info.polygon.points]
        assert len(pts) == len(poly)
        assert all(close(x, px) and close(y, py) for (x, y), (px, py) in zip(pts, poly)), pts
        assert [r.data.concepts[0].id for r in regions] == [TICKS[who][1]] * 2


def annotations(stub: Any, sn: Scenario) -> dict[tuple[str, str], Any]:
    """The task's annotations through clarifai-grpc, by (labeler name, input id)."""
    req = s.ListAnnotationsRequest(user_app_id=sn.uai, task_id=sn.task_id, per_page=100)
    got = ok(stub.ListAnnotations(req, metadata=sn.meta())).annotations
    by = {(a.user_id.split("-")[0], a.input_id): a for a in got}
    assert len(by) == len(got)
    return by
