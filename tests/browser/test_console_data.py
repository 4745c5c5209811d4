"""The console's Data screen in Chromium: a URL list uploaded into a dataset, inputs added to and
removed from a dataset by selecting them in the grid, a concept created and renamed, the "has
annotations" filter with its total, and paging through 100,000 inputs one page at a time. Each
step is checked in what the server holds afterwards, read with clarifai-grpc."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s

from labeldesk.app import RunningServer
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import accounts, bulk
from tests.browser.scenario import Scenario, build_scenario, image_bytes, ok
from tests.browser.workbench import assert_controls_labelled, open_page, screenshot, sign_in


def _data_page(browser: Any, sn: Scenario) -> Any:
    page = open_page(browser, sn.server.base_url)
    sign_in(page, sn.owner, sn.owner_pat)
    page.goto(f"/console/{sn.owner}/{sn.app_id}/data")
    page.get_by_role("heading", name="Datasets").wait_for()
    return page


def _dataset_inputs(sn: Scenario, dataset: str) -> list[str]:
    got = ok(
        sn.stub.ListDatasetInputs(
            s.ListDatasetInputsRequest(user_app_id=sn.uai, dataset_id=dataset, per_page=100),
            metadata=sn.meta(),
        )
    )
    return sorted(d.input.id for d in got.dataset_inputs)


def _grid_ids(page: Any) -> list[str]:
    return [x.strip() for x in page.get_by_test_id("inputs-grid").locator(".mono").all_inner_texts()]


def test_url_list_dataset_selection_and_concepts(
    browser: Any, server: RunningServer, rest_stub: Any, static_files: tuple[Path, str]
) -> None:
    sn = build_scenario(server, rest_stub, uuid.uuid4().hex[:8], n_images=3)
    root, base = static_files
    urls = []
    for i in range(2):
        name = f"url-{sn.app_id}-{i}.png"
        (root / name).write_bytes(image_bytes(i + 3, (320, 240)))
        urls.append(f"{base}/{name}")
    page = _data_page(browser, sn)

    # a dataset, then a URL list uploaded into it
    page.locator("input[name=new-dataset]").fill("from-urls")
    page.get_by_role("button", name="Create dataset").click()
    page.locator(".chips li", has_text="from-urls").wait_for()
    page.locator("select[name=upload-dataset]").select_option("from-urls")
    page.get_by_text("Add by URL list").click()
    page.locator("textarea[name=urls]").fill("\n".join(urls))
    page.get_by_role("button", name="Add URLs").click()
    page.locator("select[name=f-dataset]").select_option("from-urls")
    page.get_by_test_id("inputs-total").filter(has_text="2 inputs").wait_for()
    held = ok(sn.stub.ListInputs(s.ListInputsRequest(user_app_id=sn.uai, per_page=100), metadata=sn.meta()))
    by_url = {i.data.image.url: i.id for i in held.inputs if i.data.image.url in urls}
    assert sorted(by_url) == sorted(urls), [i.data.image.url for i in held.inputs]
    assert _dataset_inputs(sn, "from-urls") == sorted(by_url.values())

    # select two of the uploaded photos in the unfiltered grid: add them to the dataset, then remove one
    page.locator("select[name=f-dataset]").select_option("")
    page.get_by_test_id("inputs-total").filter(has_text="5 inputs").wait_for()
    page.get_by_label("Select photo-1").check()
    page.get_by_label("Select photo-3").check()
    page.get_by_text("2 selected").wait_for()
    page.get_by_label("Dataset for the selection").select_option("from-urls")
    page.get_by_role("button", name="Add to dataset").click()
    page.get_by_text("0 selected").wait_for()
    assert _dataset_inputs(sn, "from-urls") == sorted([*by_url.values(), "photo-1", "photo-3"])
    page.locator("select[name=f-dataset]").select_option("from-urls")
    page.get_by_test_id("inputs-total").filter(has_text="4 inputs").wait_for()
    page.get_by_label("Select photo-3").check()
    page.get_by_role("button", name="Remove from dataset").click()
    page.get_by_test_id("inputs-total").filter(has_text="3 inputs").wait_for()
    assert _dataset_inputs(sn, "from-urls") == sorted([*by_url.values(), "photo-1"])
    page.wait_for_function("document.querySelectorAll('[data-testid=inputs-grid] li').length === 3")
    assert "photo-3" not in _grid_ids(page)

    # a concept created, then renamed (the rename asks for the new name in a prompt)
    page.locator("input[name=new-concept]").fill("fox")
    page.get_by_role("button", name="Create concept").click()
    chip = page.get_by_role("button", name=re.compile(r"^fox ✎"))
    chip.wait_for()
    page.once("dialog", lambda d: d.accept("Red fox"))
    chip.click()
    page.get_by_role("button", name=re.compile(r"^Red fox ✎")).wait_for()
    got = ok(
        sn.stub.GetConcept(s.GetConceptRequest(user_app_id=sn.uai, concept_id="fox"), metadata=sn.meta())
    )
    assert got.concept.name == "Red fox"
    assert_controls_labelled(page)
    assert page.js_errors == [], page.js_errors


def test_has_annotations_filter_counts_and_lists_only_annotated_inputs(
    browser: Any, server: RunningServer, rest_stub: Any
) -> None:
    sn = build_scenario(server, rest_stub, uuid.uuid4().hex[:8], n_images=3)
    ana = next(iter(sn.labelers))
    ann = r.Annotation(input_id="photo-2", data=r.Data(concepts=[r.Concept(id="cat", value=1)]))
    ok(
        rest_stub.PostAnnotations(
            s.PostAnnotationsRequest(user_app_id=sn.uai, annotations=[ann]),
            metadata=sn.meta(sn.labelers[ana]),
        )
    )
    page = _data_page(browser, sn)
    page.get_by_test_id("inputs-total").filter(has_text="3 inputs").wait_for()
    page.locator("select[name=f-annotated]").select_option("yes")
    page.get_by_test_id("inputs-total").filter(has_text="1 input").wait_for()
    page.wait_for_function("document.querySelectorAll('[data-testid=inputs-grid] li').length === 1")
    assert _grid_ids(page) == ["photo-2"]
    page.locator("select[name=f-annotated]").select_option("no")
    page.get_by_test_id("inputs-total").filter(has_text="2 inputs").wait_for()
    page.wait_for_function("document.querySelectorAll('[data-testid=inputs-grid] li').length === 2")
    assert _grid_ids(page) == ["photo-1", "photo-3"]
    assert page.js_errors == [], page.js_errors


N_BULK = 100_000
PER_PAGE = 48


def _bulk_inputs(server: RunningServer, owner: str, app_id: str) -> None:
    """100,000 text inputs in one app, written straight to the tables as a dataset import does."""
    data = r.Data(text=r.Text(raw="bulk")).SerializeToString()
    with server.app.db.write() as conn:
        app = accounts.get_app(conn, owner, app_id)
        assert app is not None
        ts = bulk.stored_time(conn, utcnow())
        rows = [(app.pk, f"bulk-{i:06d}", data, None, 30000, ts, ts) for i in range(N_BULK)]
        cols = ("app_pk", "id", "data", "metadata", "status", "created_at", "modified_at")
        bulk.insert_rows(conn, t.inputs, cols, rows)


def test_paging_through_100k_inputs_asks_for_one_page_at_a_time(
    browser: Any, server: RunningServer, rest_stub: Any
) -> None:
    sn = build_scenario(server, rest_stub, uuid.uuid4().hex[:8], n_images=0)
    _bulk_inputs(server, sn.owner, sn.app_id)
    page = _data_page(browser, sn)
    page.get_by_test_id("inputs-total").filter(has_text="100,000 inputs").wait_for()
    pages = -(-N_BULK // PER_PAGE)
    page.get_by_text(f"Page 1 of {pages}").wait_for()
    asked: list[str] = []
    page.on("request", lambda req: asked.append(req.url) if "/inputs" in req.url else None)

    target = 1500
    page.get_by_label("Go to page").fill(str(target))
    page.get_by_role("button", name="Go", exact=True).click()
    first = f"bulk-{(target - 1) * PER_PAGE:06d}"
    page.locator("[data-testid=inputs-grid] .mono", has_text=first).wait_for()
    ids = _grid_ids(page)
    assert ids == [f"bulk-{k:06d}" for k in range((target - 1) * PER_PAGE, target * PER_PAGE)]
    # one request for the page, of one page's size; the total was not counted again
    listing = [u for u in asked if re.search(r"/inputs\?", u)]
    assert len(listing) == 1 and f"page={target}" in listing[0] and f"per_page={PER_PAGE}" in listing[0], (
        asked
    )
    assert not [u for u in asked if "/inputs/status" in u or "/searches" in u], asked
    page.get_by_text(f"Page {target} of {pages}").wait_for()

    # the last page, also one request
    asked.clear()
    page.get_by_role("button", name="Last »").click()
    last_first = f"bulk-{(pages - 1) * PER_PAGE:06d}"
    page.locator("[data-testid=inputs-grid] .mono", has_text=last_first).wait_for()
    assert len(_grid_ids(page)) == N_BULK - (pages - 1) * PER_PAGE
    assert len([u for u in asked if re.search(r"/inputs\?", u)]) == 1, asked
    screenshot(page, "console-data-paging")
    assert page.js_errors == [], page.js_errors
