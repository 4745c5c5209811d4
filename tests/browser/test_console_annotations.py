"""The console's annotation browser in Chromium: two labelers annotate through the API; the
browser lists the annotated inputs with their counts, filters them by author, task, status and
concept (the totals agree with what the server holds), and opens an input with both labelers'
boxes drawn over it, each in its author's colour (read back from the canvas pixels), with a
legend of authors."""

from __future__ import annotations

import uuid
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_pb2 as st
from google.protobuf import struct_pb2

from labeldesk.app import RunningServer
from tests.browser.scenario import Scenario, build_scenario, ok
from tests.browser.workbench import assert_controls_labelled, image_rect, open_page, screenshot, sign_in

Box = tuple[float, float, float, float]  # left, top, right, bottom (0..1)
PENDING = 24151  # ANNOTATION_PENDING

# the opaque colours (#rrggbb) the surface's canvas shows around one page point (the picture with
# the regions' strokes over it)
_COLOURS = """([x, y]) => {
  const out = [];
  const hex = (p) => '#' + [...p].slice(0, 3).map((v) => v.toString(16).padStart(2, '0')).join('');
  for (const dx of [-1, -0.5, 0, 0.5, 1]) {
    [...document.querySelectorAll('.surface canvas')].forEach((c) => {
      const b = c.getBoundingClientRect();
      const k = c.width / b.width;
      const at = [Math.round((x + dx - b.left) * k), Math.round((y - b.top) * k)];
      const px = c.getContext('2d').getImageData(at[0], at[1], 1, 1).data;
      if (px[3] > 200) out.push(hex(px));
    });
  }
  return out;
}"""


def _annotate(sn: Scenario, user: str, input_id: str, box: Box, concept: str, status: int = 0) -> None:
    info = struct_pb2.Struct()
    info.update({"task_id": sn.task_id})
    left, top, right, bottom = box
    region = r.Region(
        region_info=r.RegionInfo(
            bounding_box=r.BoundingBox(top_row=top, left_col=left, bottom_row=bottom, right_col=right)
        ),
        data=r.Data(concepts=[r.Concept(id=concept, value=1)]),
    )
    ann = r.Annotation(
        input_id=input_id,
        data=r.Data(regions=[region]),
        annotation_info=info,
        status=st.Status(code=status),
    )
    ok(
        sn.stub.PostAnnotations(
            s.PostAnnotationsRequest(user_app_id=sn.uai, annotations=[ann]),
            metadata=sn.meta(sn.labelers[user]),
        )
    )


def _edge(page: Any, box: Box) -> list[float]:
    """The page point on the box's left edge, at its middle height."""
    left, top, width, height = image_rect(page)
    return [left + box[0] * width, top + (box[1] + box[3]) / 2 * height]


def _stroke_colours(page: Any, box: Box) -> list[str]:
    return list(page.evaluate(_COLOURS, _edge(page, box)))


def _wait_grid(page: Any, ids: list[str]) -> None:
    """Wait until the grid lists exactly ``ids`` (the total may be answered before the page)."""
    page.wait_for_function(
        "(ids) => JSON.stringify([...document.querySelectorAll('[data-testid=annotated-grid] li')]"
        ".map((l) => l.dataset.input)) === JSON.stringify(ids)",
        arg=ids,
    )


def test_two_authors_are_drawn_in_two_colours_and_filters_agree_with_the_server(
    browser: Any, server: RunningServer, rest_stub: Any
) -> None:
    sn = build_scenario(server, rest_stub, uuid.uuid4().hex[:8], n_images=3)
    ana, ben = list(sn.labelers)
    ana_box, ben_box = (0.1, 0.2, 0.4, 0.6), (0.55, 0.3, 0.9, 0.8)
    _annotate(sn, ana, "photo-1", ana_box, "cat")
    _annotate(sn, ben, "photo-1", ben_box, "dog")
    _annotate(sn, ana, "photo-2", (0.2, 0.2, 0.5, 0.5), "cat", status=PENDING)

    page = open_page(browser, server.base_url)
    sign_in(page, sn.owner, sn.owner_pat)
    page.goto(f"/console/{sn.owner}/{sn.app_id}/data")
    page.get_by_role("link", name="Annotations", exact=True).click()
    total = page.get_by_test_id("annotated-total")
    total.filter(has_text="2 inputs with annotations").wait_for()
    grid = page.get_by_test_id("annotated-grid")
    grid.locator("li[data-input='photo-1'] [data-testid=ann-count]").filter(
        has_text="2 annotations"
    ).wait_for()
    assert grid.locator("li").count() == 2
    assert "1 annotation" in grid.locator("li[data-input='photo-2'] [data-testid=ann-count]").inner_text()

    # filters: by author, concept, task and status; each total matches the server's own count
    page.locator("select[name=a-user]").select_option(ben)
    total.filter(has_text="1 input with matching annotations").wait_for()
    _wait_grid(page, ["photo-1"])
    assert "1 match" in grid.locator("li[data-input='photo-1'] [data-testid=ann-count]").inner_text()
    page.locator("select[name=a-user]").select_option("")
    page.locator("select[name=a-concept]").select_option("cat")
    total.filter(has_text="2 inputs with matching").wait_for()
    page.locator("select[name=a-task]").select_option(sn.task_id)
    page.locator("select[name=a-status]").select_option(str(PENDING))
    total.filter(has_text="1 input with matching").wait_for()
    _wait_grid(page, ["photo-2"])
    held = ok(
        rest_stub.ListAnnotations(
            s.ListAnnotationsRequest(user_app_id=sn.uai, task_id=sn.task_id, per_page=100), metadata=sn.meta()
        )
    )
    assert [a.input_id for a in held.annotations if a.status.code == PENDING] == ["photo-2"]
    page.locator("select[name=a-concept]").select_option("dog")
    total.filter(has_text="0 inputs").wait_for()
    page.get_by_text("No input has annotations that match these filters.").wait_for()
    page.locator("select[name=a-status]").select_option("")
    total.filter(has_text="1 input with matching").wait_for()
    page.locator("select[name=a-concept]").select_option("")
    total.filter(has_text="2 inputs with matching").wait_for()
    _wait_grid(page, ["photo-1", "photo-2"])
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=annotated-grid] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    screenshot(page, "console-annotations")
    assert_controls_labelled(page)

    # open photo-1: both boxes, one colour per author, and a legend of the two authors
    grid.locator("li[data-input='photo-1'] a").click()
    page.get_by_test_id("input-id").filter(has_text="photo-1").wait_for()
    legend = page.get_by_test_id("authors")
    legend.locator("li").nth(1).wait_for()
    authors = legend.locator("li").evaluate_all("ls => ls.map(l => [l.dataset.author, l.dataset.colour])")
    colours = dict(authors)
    assert sorted(colours) == sorted([ana, ben]) and colours[ana] != colours[ben], authors
    assert "Cat" in legend.locator(f"li[data-author='{ana}']").inner_text()
    assert "Dog" in legend.locator(f"li[data-author='{ben}']").inner_text()
    page.wait_for_function("document.querySelector('.surface')?.dataset.imageRect")
    ana_px, ben_px = _stroke_colours(page, ana_box), _stroke_colours(page, ben_box)
    assert colours[ana] in ana_px and colours[ben] not in ana_px, (ana_px, colours)
    assert colours[ben] in ben_px and colours[ana] not in ben_px, (ben_px, colours)
    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, "console-annotation-input")

    # hiding an author takes their box off the picture
    legend.get_by_label(f"Show {ben}'s annotations").uncheck()
    page.wait_for_function(f"(p) => !({_COLOURS})(p).includes('{colours[ben]}')", arg=_edge(page, ben_box))
    ben_after = _stroke_colours(page, ben_box)
    assert colours[ben] not in ben_after, ben_after
    assert colours[ana] in _stroke_colours(page, ana_box)
    assert_controls_labelled(page)
    assert page.js_errors == [], page.js_errors
