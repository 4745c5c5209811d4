"""IoU and region validation: table tests for known values, properties for the invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from labeldesk.domain import errors
from labeldesk.domain.geometry import Box, Polygon, Shape, area, iou, validate_box, validate_polygon


def box_polygon(box: Box) -> Polygon:
    """The same rectangle as a polygon, to check the box fast path against shapely."""
    return Polygon(
        ((box.top, box.left), (box.top, box.right), (box.bottom, box.right), (box.bottom, box.left))
    )


UNIT = Box(0.0, 0.0, 1.0, 1.0)
TRIANGLE = Polygon(((0.0, 0.0), (0.0, 1.0), (1.0, 0.0)))  # lower-left half of the unit square
BOWTIE = Polygon(((0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)))  # self-intersecting, area 0.5
#: points a hair apart: repairing it made GEOS divide by zero (found by the property test below)
_TINY = 1.2503817366380432e-286
SLIVER = Polygon(((0.5, 0.0), (0.0, _TINY), (1.0, _TINY), (0.5, 6.2690390572597936e-235)))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(UNIT, UNIT, 1.0, id="identical-boxes"),
        pytest.param(Box(0, 0, 1, 0.5), Box(0, 0.25, 1, 0.75), 1 / 3, id="half-overlap"),
        pytest.param(Box(0, 0, 0.5, 0.5), UNIT, 0.25, id="contained"),
        pytest.param(Box(0, 0, 0.4, 0.4), Box(0.5, 0.5, 0.9, 0.9), 0.0, id="disjoint-boxes"),
        pytest.param(Box(0, 0, 0.5, 0.5), Box(0, 0.5, 0.5, 1.0), 0.0, id="touching-edges"),
        pytest.param(Box(0.2, 0.2, 0.2, 0.6), Box(0.2, 0.2, 0.2, 0.6), 0.0, id="zero-area-box-itself"),
        pytest.param(Box(0.6, 0.2, 0.2, 0.6), UNIT, 0.0, id="inverted-box"),
        pytest.param(UNIT, box_polygon(UNIT), 1.0, id="box-vs-same-polygon"),
        pytest.param(TRIANGLE, UNIT, 0.5, id="triangle-vs-box"),
        pytest.param(
            TRIANGLE, Polygon(((1.0, 1.0), (0.0, 1.0), (1.0, 0.0))), 0.0, id="complementary-triangles"
        ),
        pytest.param(TRIANGLE, TRIANGLE, 1.0, id="identical-polygons"),
        pytest.param(BOWTIE, UNIT, 0.5, id="self-intersecting-repaired"),
        pytest.param(Polygon(((0.0, 0.0), (0.5, 0.5), (1.0, 1.0))), UNIT, 0.0, id="collinear-polygon"),
        pytest.param(Polygon(((0.0, 0.0), (1.0, 1.0))), UNIT, 0.0, id="two-point-polygon"),
        pytest.param(Polygon(((0.0, 0.0), (0.0, 0.1), (0.1, 0.0))), Box(0.5, 0.5, 1, 1), 0.0, id="far-apart"),
    ],
)
def test_iou_known_values(a: Shape, b: Shape, expected: float) -> None:
    assert iou(a, b) == pytest.approx(expected, abs=1e-12)
    assert iou(b, a) == iou(a, b)


def test_iou_of_slightly_shifted_boxes_is_high() -> None:
    assert iou(Box(0.1, 0.1, 0.5, 0.5), Box(0.12, 0.11, 0.52, 0.5)) > 0.85


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("box", "message"),
    [
        (
            Box(0.7, 0.1, 0.2, 0.5),
            "region_info.bounding_box: top_row (0.7) must be less than bottom_row (0.2)",
        ),
        (
            Box(0.1, 0.5, 0.2, 0.5),
            "region_info.bounding_box: left_col (0.5) must be less than right_col (0.5)",
        ),
        (Box(-0.1, 0.1, 0.2, 0.5), "region_info.bounding_box: top_row (-0.1) must be between 0 and 1"),
        (Box(0.1, 0.1, 0.2, 1.5), "region_info.bounding_box: right_col (1.5) must be between 0 and 1"),
        (Box(0.1, math.nan, 0.2, 0.5), "region_info.bounding_box: left_col (nan) must be a finite number"),
    ],
)
def test_validate_box_rejects_with_a_message_naming_the_field(box: Box, message: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        validate_box(box)
    assert caught.value.code == errors.INVALID_REQUEST
    assert caught.value.description.startswith(message)


@pytest.mark.parametrize("box", [UNIT, Box(0.0, 0.0, 0.001, 0.001), Box(0.2, 0.3, 0.4, 0.9)])
def test_validate_box_accepts_valid_boxes(box: Box) -> None:
    assert validate_box(box) is box


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        (Polygon(((0.0, 0.0), (1.0, 1.0))), "region_info.polygon: a polygon needs at least 3 points, got 2"),
        (Polygon(((0.0, 0.0), (0.5, 0.5), (1.0, 1.0))), "region_info.polygon: the polygon has no area"),
        (Polygon(((0.1, 0.1), (0.1, 0.1), (0.1, 0.1))), "region_info.polygon: the polygon has no area"),
        (
            Polygon(((0.0, 0.0), (0.0, 1.0), (1.2, 0.0))),
            "region_info.polygon.points[2]: row (1.2) must be between 0 and 1",
        ),
        (
            Polygon(((0.0, 0.0), (0.0, math.inf), (1.0, 0.0))),
            "region_info.polygon.points[1]: col (inf) must be a finite number",
        ),
    ],
)
def test_validate_polygon_rejects(polygon: Polygon, message: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        validate_polygon(polygon)
    assert caught.value.code == errors.INVALID_REQUEST
    assert caught.value.description.startswith(message)


@pytest.mark.parametrize("polygon", [TRIANGLE, BOWTIE, box_polygon(Box(0.1, 0.1, 0.2, 0.2))])
def test_validate_polygon_accepts_usable_polygons_including_self_intersecting(polygon: Polygon) -> None:
    assert validate_polygon(polygon) is polygon


# --------------------------------------------------------------------------- properties

coord = st.floats(min_value=0.0, max_value=1.0, allow_nan=False, allow_infinity=False)


@st.composite
def boxes(draw: st.DrawFn) -> Box:
    top, bottom = sorted((draw(coord), draw(coord)))
    left, right = sorted((draw(coord), draw(coord)))
    return Box(top, left, bottom, right)


polygons = st.lists(st.tuples(coord, coord), min_size=3, max_size=7).map(lambda pts: Polygon(tuple(pts)))
# anything a client might send, including inverted boxes and degenerate polygons
any_shapes: st.SearchStrategy[Shape] = st.one_of(
    boxes(), polygons, st.builds(Box, coord, coord, coord, coord)
)


@settings(max_examples=300, deadline=None)
@given(any_shapes, any_shapes)
def test_iou_is_exactly_symmetric_and_bounded(a: Shape, b: Shape) -> None:
    value = iou(a, b)
    assert 0.0 <= value <= 1.0
    assert iou(b, a) == value


@settings(max_examples=200, deadline=None)
@given(any_shapes)
@example(SLIVER)
def test_iou_with_itself_is_one_for_shapes_with_area(shape: Shape) -> None:
    assume(area(shape) > 1e-9)
    assert iou(shape, shape) == 1.0


@settings(max_examples=200, deadline=None)
@given(boxes(), boxes())
def test_box_fast_path_agrees_with_shapely(a: Box, b: Box) -> None:
    assert iou(a, b) == pytest.approx(iou(box_polygon(a), box_polygon(b)), abs=1e-9)
    assert iou(a, b) == pytest.approx(iou(a, box_polygon(b)), abs=1e-9)
