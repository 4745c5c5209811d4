"""The admin console end to end in Chromium: the owner uploads 5 Pillow-made images into a new
dataset by dropping them on the page, creates a CONSENSUS task through the form (an API validation
error first lands beside the field it names), a labeler submits work through the API, and the
task's dashboard shows the new counts and the labeler's server-timed time per item without a
reload. Screenshots of each console screen are taken (to docs/screenshots/ with
LABELDESK_SCREENSHOTS_DIR=docs/screenshots)."""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from google.protobuf import struct_pb2

from labeldesk.app import RunningServer
from tests.browser.scenario import build_scenario, image_bytes, ok
from tests.browser.workbench import open_page, screenshot

DROP = """async ([files]) => {
  const dt = new DataTransfer();
  for (const [name, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    dt.items.add(new File([bytes], name, { type: "image/png" }));
  }
  const zone = document.querySelector('[data-testid="dropzone"]');
  zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
}"""


def _sign_in_owner(page: Any, user: str, token: str) -> None:
    page.goto("/")
    page.get_by_label("User id").fill(user)
    page.get_by_label("Personal access token or app key").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="My work").wait_for()


def _label(stub: Any, sn: Any, user: str, task_id: str, count: int) -> None:
    """``user`` pulls work (LABEL_START) and submits a "cat" annotation for ``count`` inputs."""
    meta = sn.meta(sn.labelers[user])
    started = ok(
        stub.PutTaskAssignments(
            s.PutTaskAssignmentsRequest(user_app_id=sn.uai, task_id=task_id, action=s.LABEL_START),
            metadata=meta,
        )
    )
    handed = sorted(a.input.id for a in started.task_assignments)
    assert len(handed) == 5
    for input_id in handed[:count]:
        info = struct_pb2.Struct()
        info.update({"task_id": task_id})
        ann = r.Annotation(
            input_id=input_id, data=r.Data(concepts=[r.Concept(id="cat", value=1)]), annotation_info=info
        )
        ok(
            stub.PostAnnotations(
                s.PostAnnotationsRequest(user_app_id=sn.uai, annotations=[ann]), metadata=meta
            )
        )
        ok(
            stub.PutTaskAssignments(
                s.PutTaskAssignmentsRequest(
                    user_app_id=sn.uai, task_id=task_id, input_id=input_id, action=s.LABEL_SUBMIT
                ),
                metadata=meta,
            )
        )


def test_owner_sets_up_data_and_a_consensus_task_and_watches_it_live(
    browser: Any, server: RunningServer, rest_stub: Any
) -> None:
    sn = build_scenario(server, rest_stub, uuid.uuid4().hex[:8], n_images=0)
    ana, ben = list(sn.labelers)
    rita = sn.reviewer[0]
    page = open_page(browser, server.base_url)
    _sign_in_owner(page, sn.owner, sn.owner_pat)

    # apps: the console lists the owner's app
    page.get_by_role("link", name="Admin console").click()
    page.get_by_role("link", name=re.compile(sn.app_id)).wait_for()
    screenshot(page, "console-apps")
    page.get_by_role("link", name=re.compile(sn.app_id)).click()

    # data: a new dataset, 5 images dropped into it
    page.get_by_role("link", name="Data", exact=True).click()
    page.locator("input[name=new-dataset]").fill("north")
    page.get_by_role("button", name="Create dataset").click()
    page.locator(".chips li", has_text="north").wait_for()
    page.locator("select[name=upload-dataset]").select_option("north")
    files = [[f"cam-{i}.png", base64.b64encode(image_bytes(i)).decode()] for i in range(5)]
    page.evaluate(DROP, [files])
    page.get_by_test_id("upload-status").filter(has_text="5 / 5 uploaded").wait_for()
    assert "failed" not in page.get_by_test_id("upload-status").inner_text()
    page.locator("select[name=f-dataset]").select_option("north")
    grid = page.get_by_test_id("inputs-grid")
    page.wait_for_function("document.querySelectorAll('[data-testid=inputs-grid] img').length === 5")
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=inputs-grid] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert grid.locator("img").count() == 5
    screenshot(page, "console-data")

    # tasks: the form; an unknown worker is refused beside the workers field
    page.get_by_role("link", name="Tasks", exact=True).click()
    page.get_by_role("button", name="New task").click()
    form = page.get_by_role("form", name="New task")
    form.locator("input[name=name]").fill("North cameras — consensus")
    form.locator("input[name=concept][value=cat]").check()
    form.locator("input[name=concept][value=dog]").check()
    form.locator("select[name=source]").select_option("DATASET")
    form.locator("select[name=sourceId]").select_option("north")
    form.locator("input[name=workers]").fill(f"{ana}, nobody-{sn.app_id}")
    form.locator("select[name=review]").select_option("CONSENSUS")
    form.locator("input[name=reviewers]").fill(rita)
    form.locator("input[name=threshold]").fill("2")
    form.get_by_role("button", name="Create task").click()
    err = form.locator(".field-error[data-field=workers]")
    err.wait_for()
    assert "nobody" in err.inner_text()
    screenshot(page, "console-task-form")
    form.locator("input[name=workers]").fill(f"{ana}, {ben}")
    form.get_by_role("button", name="Create task").click()
    page.get_by_role("link", name="North cameras — consensus").wait_for()
    screenshot(page, "console-tasks")
    page.get_by_role("link", name="North cameras — consensus").click()
    page.get_by_test_id("workers").wait_for()
    page.evaluate("window.__sameDocument = true")
    task_id = page.url.rsplit("/", 1)[-1]

    # a labeler works through the API: LABEL_START, then an annotation + LABEL_SUBMIT for 3 inputs
    _label(rest_stub, sn, ana, task_id, 3)

    # the dashboard picks it up by itself
    row = page.locator(f"[data-testid=workers] tr[data-worker='{ana}']")
    row.locator("[data-testid=median]").filter(has_text="(3 timed)").wait_for(timeout=15_000)
    cells = row.locator("td").all_inner_texts()
    assert cells[:4] == [ana, "5", "3", "2"], cells
    assert re.match(r"\d+(\.\d)? s \(3 timed\)", cells[6]), cells[6]
    counts = page.get_by_test_id("assignment-counts")
    assert "awaiting consensus review" in counts.inner_text().lower()
    assert page.evaluate("window.__sameDocument === true"), "updated without a reload"
    page.locator(".chart canvas").first.wait_for()

    # the second labeler agrees on the same 3 inputs: consensus, agreement scores on the dashboard
    _label(rest_stub, sn, ben, task_id, 3)
    page.locator(".hbar", has_text=ben).wait_for(timeout=15_000)
    page.locator(f"[data-testid=workers] tr[data-worker='{ben}'] [data-testid=median]").filter(
        has_text="(3 timed)"
    ).wait_for()
    assert page.evaluate("window.__sameDocument === true"), "updated without a reload"
    page.set_viewport_size({"width": 1440, "height": 1000})
    screenshot(page, "console-dashboard")
    page.set_viewport_size({"width": 1440, "height": 900})

    # the CSV has the same row
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download CSV").click()
    csv = Path(dl.value.path()).read_text(encoding="utf-8").splitlines()
    assert csv[0].startswith("worker,assigned,done")
    assert any(line.startswith(f"{ana},5,3,2,") for line in csv), csv

    # apps & people
    page.get_by_role("link", name="Apps & people").click()
    page.get_by_role("heading", name="Collaborators").wait_for()
    page.get_by_text(ben).first.wait_for()
    screenshot(page, "console-people")
    assert page.js_errors == [], page.js_errors
