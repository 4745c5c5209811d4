"""Labeling details in Chromium: sign-in errors in plain words, an app key, sign out; a submit whose
request fails keeps the work on screen and a retry makes no second annotation; a reviewer's "request
changes" comes back to the labeler with the comment and the earlier regions editable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2

from labeldesk.services import admin
from tests.browser.scenario import Scenario, ok
from tests.browser.test_workbench import close
from tests.browser.workbench import at, current_input, draw_box, draw_polygon, open_page, screenshot, sign_in

BOX = (0.30, 0.30, 0.50, 0.60)
COMMENT = "Please include the whole animal."


@pytest.fixture
def one_image(make_scenario: Callable[[int], Scenario]) -> Scenario:
    return make_scenario(1)


def test_sign_in_errors_app_key_and_sign_out(browser: Any, one_image: Scenario) -> None:
    sn = one_image
    page = open_page(browser, sn.server.base_url)
    page.goto("/work")  # signed out: any screen sends you to sign in
    page.get_by_role("heading", name="Sign in").wait_for()
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="Enter your user id").wait_for()
    page.get_by_label("User id").fill(sn.owner)
    page.get_by_label("Personal access token or app key").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="personal access token missing or invalid").wait_for()
    key = admin.create_app_key(sn.server.app.db, sn.owner, sn.app_id)
    page.get_by_label("Personal access token or app key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="No tasks for you yet").wait_for()  # the owner labels nothing
    screenshot(page, "08-empty-state")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.evaluate("sessionStorage.length") == 0
    page.goto("/work")
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.js_errors == []
    page.context.close()


def mine(stub: Any, sn: Scenario, user: str) -> list[Any]:
    req = s.ListAnnotationsRequest(user_app_id=sn.uai, task_id=sn.task_id, user_ids=[user])
    return list(ok(stub.ListAnnotations(req, metadata=sn.meta())).annotations)


def test_failed_submit_keeps_the_work_and_changes_requested_come_back_editable(
    browser: Any, one_image: Scenario, grpc_stub: Any
) -> None:
    sn = one_image
    ana = next(u for u in sn.labelers if u.startswith("ana"))
    page = open_page(browser, sn.server.base_url)
    sign_in(page, ana, sn.labelers[ana])
    page.goto(f"/label/{sn.owner}/{sn.app_id}/{sn.task_id}")
    page.get_by_test_id("input-id").wait_for()
    page.keyboard.press("3")
    draw_box(page, BOX)

    # the network drops the LABEL_SUBMIT once: the error is shown, nothing on screen is lost
    dropped: list[str] = []

    def drop_submit(route: Any) -> None:
        if route.request.method == "PUT" and "LABEL_SUBMIT" in (route.request.post_data or ""):
            dropped.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/assignments", drop_submit)
    page.keyboard.press("Enter")
    page.get_by_role("alert").filter(has_text="Not submitted").wait_for()
    assert dropped and "cannot be reached" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("checkbox", name="Bird").is_checked()
    assert page.locator("ul.regions li").count() == 1
    page.unroute("**/assignments")
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("heading", name="All done here").wait_for()
    (first,) = mine(grpc_stub, sn, ana)  # the retry edited the annotation, it did not add one
    assert first.status.code == sc.ANNOTATION_AWAITING_REVIEW

    # the reviewer asks for changes with a comment
    rv = open_page(browser, sn.server.base_url)
    sign_in(rv, *sn.reviewer)
    rv.goto(f"/review/{sn.owner}/{sn.app_id}/{sn.task_id}")
    rv.get_by_test_id("input-id").wait_for()
    rv.get_by_role("button", name="Request changes").click()
    rv.get_by_role("alert").filter(has_text="Write what the labeler should change").wait_for()
    rv.get_by_label("Comment for the labeler").fill(COMMENT)
    rv.get_by_role("button", name="Request changes").click()
    rv.get_by_role("heading", name="Nothing to review").wait_for()
    rv.context.close()

    # back to the labeler: the comment and the earlier box, which she moves and resubmits
    page.get_by_role("button", name="Check again").click()
    page.get_by_role("status").filter(has_text=COMMENT).wait_for()
    assert current_input(page) == "photo-1"
    assert page.locator("ul.regions li").count() == 1
    assert page.get_by_role("checkbox", name="Bird").is_checked()
    screenshot(page, "09-changes-requested")
    page.keyboard.press("v")
    cx, cy = (BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2
    page.mouse.move(*at(page, cx, cy))
    page.mouse.down()
    page.mouse.move(*at(page, cx + 0.05, cy + 0.05), steps=4)
    page.mouse.move(*at(page, cx + 0.10, cy + 0.10), steps=4)
    page.mouse.up()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="All done here").wait_for()
    (again,) = mine(grpc_stub, sn, ana)
    assert again.id == first.id and again.status.code == sc.ANNOTATION_AWAITING_REVIEW
    bb = again.data.regions[0].region_info.bounding_box
    moved = (BOX[0] + 0.1, BOX[1] + 0.1, BOX[2] + 0.1, BOX[3] + 0.1)
    assert all(map(close, (bb.left_col, bb.top_row, bb.right_col, bb.bottom_row), moved)), bb
    assert [c.id for c in again.data.concepts] == ["bird"]
    assert page.js_errors == []
    page.context.close()


def test_zoom_pan_resize_delete_keep_coordinates_true(
    browser: Any, one_image: Scenario, grpc_stub: Any
) -> None:
    """Zoomed in and panned, a drawn box still lands where it was drawn on the image; a resize by its
    corner handle and a polygon deleted with the Delete key are what gets saved."""
    sn = one_image
    ben = next(u for u in sn.labelers if u.startswith("ben"))
    page = open_page(browser, sn.server.base_url)
    sign_in(page, ben, sn.labelers[ben])
    page.goto(f"/label/{sn.owner}/{sn.app_id}/{sn.task_id}")
    page.get_by_test_id("input-id").wait_for()
    surface = page.locator(".surface")
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert float(surface.get_attribute("data-zoom")) > 1.5
    # pan: hold Space and drag (in a drawing tool), the image moves with the pointer
    page.keyboard.press("b")
    before = surface.get_attribute("data-image-rect")
    page.keyboard.down(" ")
    page.mouse.move(*at(page, 0.5, 0.5))
    page.mouse.down()
    page.mouse.move(*at(page, 0.4, 0.45), steps=5)
    page.mouse.up()
    page.keyboard.up(" ")
    assert surface.get_attribute("data-image-rect") != before
    assert page.locator("ul.regions li").count() == 0, "panning drew nothing"
    box = (0.40, 0.40, 0.55, 0.52)
    draw_box(page, box)
    draw_polygon_and_delete(page)
    # resize: drag the selected box's bottom-right handle
    page.keyboard.press("v")
    page.locator("ul.regions li button.region-pick").first.click()
    page.mouse.move(*at(page, box[2], box[3]))
    page.mouse.down()
    page.mouse.move(*at(page, 0.58, 0.56), steps=5)
    page.mouse.up()
    page.keyboard.press("Shift+Digit2")  # the selected box becomes a dog
    assert page.get_by_label("Concept of region 1").input_value() == "dog"
    page.keyboard.press("0")  # fit again before submitting: the view never changes the data
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="All done here").wait_for()
    (ann,) = mine(grpc_stub, sn, ben)
    (region,) = ann.data.regions
    bb = region.region_info.bounding_box
    assert all(
        map(close, (bb.left_col, bb.top_row, bb.right_col, bb.bottom_row), (0.40, 0.40, 0.58, 0.56))
    ), bb
    assert page.js_errors == []
    page.context.close()


def draw_polygon_and_delete(page: Any) -> None:
    draw_polygon(page, [(0.45, 0.45), (0.50, 0.42), (0.52, 0.50)])
    assert page.locator("ul.regions li").count() == 2
    page.keyboard.press("Delete")  # the polygon just drawn is selected
    assert page.locator("ul.regions li").count() == 1


def test_a_paused_task_says_why_it_hands_out_nothing(browser: Any, one_image: Scenario) -> None:
    """LABEL_START and REVIEW_START of a paused task answer no work and the server's reason;
    both screens say so and show that reason instead of their "all done" / "nothing waiting" note."""
    sn = one_image
    paused = r.Task(id=sn.task_id, status=status_pb2.Status(code=sc.TASK_IDLE))
    ok(
        sn.stub.PatchTasks(
            s.PatchTasksRequest(user_app_id=sn.uai, action="merge", tasks=[paused]), metadata=sn.meta()
        )
    )
    ana = next(u for u in sn.labelers if u.startswith("ana"))
    heading = "This task is not handing out work"
    for who, token, screen in ((ana, sn.labelers[ana], "label"), (*sn.reviewer, "review")):
        page = open_page(browser, sn.server.base_url)
        sign_in(page, who, token)
        page.goto(f"/{screen}/{sn.owner}/{sn.app_id}/{sn.task_id}")
        page.get_by_role("heading", name=heading).wait_for()
        note = (
            page.get_by_role("status")
            .filter(has=page.get_by_role("heading", name=heading))
            .locator("p")
            .first
        )
        assert "TASK_IDLE" in note.inner_text(), note.inner_text()
        assert page.js_errors == []
        screenshot(page, f"{screen}-paused-task")
        page.context.close()
