"""Region shapes, their validation, and intersection-over-union (IoU).

Coordinates are Clarifai's: normalised to ``0..1`` of the image, rows downwards
(``top_row``/``bottom_row``) and columns rightwards (``left_col``/``right_col``); polygon
points are ``(row, col)`` pairs. Everything here is a pure function of plain values so the
consensus rules built on top of it can be property-tested.

IoU is the agreement measure for regions (see :mod:`labeldesk.domain.consensus`). Two rules
matter for that use and are guaranteed here:

* ``iou(a, b) == iou(b, a)`` *bit for bit* — the operands are put in a canonical order before
  any floating-point work, so a consensus decision never depends on which labeler came first;
* a shape with zero area (a line, a point, an empty box) overlaps nothing: its IoU is ``0``
  (so does one below :data:`NEGLIGIBLE_AREA`).

Box-box IoU is computed directly (it is the hot path and needs no geometry library); anything
involving a polygon goes through shapely, after repairing self-intersecting input with
``make_valid`` (a "bow-tie" drawn by a hurried labeler still covers an area).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry.base import BaseGeometry

from labeldesk.domain import errors

__all__ = [
    "Box",
    "Polygon",
    "Shape",
    "area",
    "bounds",
    "iou",
    "sort_key",
    "validate_box",
    "validate_polygon",
    "validate_shape",
]

BOX_FIELD = "region_info.bounding_box"
#: below this area (normalised units: a millionth of a millionth of the image, far less than a
#: pixel of any real image) a shape counts as having no area for IoU -- shapely's products
#: underflow there, and the box fast path must agree with it
NEGLIGIBLE_AREA = 1e-12
POLYGON_FIELD = "region_info.polygon"


@dataclass(frozen=True)
class Box:
    """An axis-aligned box: Clarifai's ``top_row``, ``left_col``, ``bottom_row``, ``right_col``."""

    top: float
    left: float
    bottom: float
    right: float


@dataclass(frozen=True)
class Polygon:
    """A simple or self-intersecting polygon given by its ``(row, col)`` vertices (not closed)."""

    points: tuple[tuple[float, float], ...]


Shape = Box | Polygon


# --------------------------------------------------------------------------- validation


def _check_unit(field: str, name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise errors.invalid(f"{field}: {name} ({value!r}) must be a finite number")
    if not 0.0 <= value <= 1.0:
        raise errors.invalid(f"{field}: {name} ({value}) must be between 0 and 1 (normalised coordinates)")


def validate_box(box: Box, field: str = BOX_FIELD) -> Box:
    """Return ``box`` if it is a usable region, else raise ``ApiError`` (11102) saying what to fix.

    Coordinates must be finite and in ``[0, 1]``; ``top < bottom`` and ``left < right`` (a box
    with no area can never agree with anything, so accepting it would only hide a client bug).
    """
    _check_unit(field, "top_row", box.top)
    _check_unit(field, "left_col", box.left)
    _check_unit(field, "bottom_row", box.bottom)
    _check_unit(field, "right_col", box.right)
    if not box.top < box.bottom:
        raise errors.invalid(f"{field}: top_row ({box.top}) must be less than bottom_row ({box.bottom})")
    if not box.left < box.right:
        raise errors.invalid(f"{field}: left_col ({box.left}) must be less than right_col ({box.right})")
    return box


def validate_polygon(polygon: Polygon, field: str = POLYGON_FIELD) -> Polygon:
    """Return ``polygon`` if it is a usable region, else raise ``ApiError`` (11102).

    At least 3 points, each coordinate finite and in ``[0, 1]``, and a positive area once repaired
    with ``make_valid`` — self-intersecting outlines are accepted (they cover an area and are
    common from freehand tools), collinear or repeated points are not.
    """
    n = len(polygon.points)
    if n < 3:
        raise errors.invalid(f"{field}: a polygon needs at least 3 points, got {n}")
    for i, point in enumerate(polygon.points):
        if len(point) != 2:
            raise errors.invalid(f"{field}.points[{i}]: expected a (row, col) pair")
        _check_unit(f"{field}.points[{i}]", "row", point[0])
        _check_unit(f"{field}.points[{i}]", "col", point[1])
    if area(polygon) <= 0.0:
        raise errors.invalid(f"{field}: the polygon has no area (its points are collinear or repeated)")
    return polygon


def validate_shape(shape: Shape) -> Shape:
    """Validate either kind of shape (see :func:`validate_box`, :func:`validate_polygon`)."""
    if isinstance(shape, Box):
        return validate_box(shape)
    return validate_polygon(shape)


# --------------------------------------------------------------------------- measures


def _box_area(box: Box) -> float:
    """Area of a box; an inverted box (top > bottom) has no area rather than a negative one."""
    return max(0.0, box.bottom - box.top) * max(0.0, box.right - box.left)


@lru_cache(maxsize=4096)
def _geometry(shape: Shape) -> BaseGeometry:
    """The shape as a valid, purely polygonal shapely geometry (cached: shapes are immutable).

    Shapely works in (x, y) = (col, row). ``make_valid`` may return a collection that mixes
    polygons with stray lines or points (e.g. a bow-tie's crossing point); only the polygonal
    parts carry area, so only they are kept.
    """
    if isinstance(shape, Box):
        return shapely.box(shape.left, shape.top, shape.right, shape.bottom)
    coords = [(col, row) for row, col in shape.points]
    if len(coords) < 3:
        return ShapelyPolygon()
    geom = ShapelyPolygon(coords)
    if not geom.is_valid:
        # points a hair apart (1e-286) make GEOS divide by zero: numpy's warning, not an error
        # (the repair then has no area, which validation rejects); thread-local, unlike warnings'
        with np.errstate(all="ignore"):
            geom = shapely.make_valid(geom)
    if isinstance(geom, (ShapelyPolygon, MultiPolygon)):
        return geom
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, (ShapelyPolygon, MultiPolygon))]
    if not parts:
        return ShapelyPolygon()
    return shapely.union_all(parts)


def area(shape: Shape) -> float:
    """Area of ``shape`` in normalised units (self-intersections repaired, never negative)."""
    if isinstance(shape, Box):
        return _box_area(shape)
    return float(_geometry(shape).area)


def bounds(shape: Shape) -> tuple[float, float, float, float]:
    """``(top, left, bottom, right)`` of the shape's bounding box (a cheap pre-filter for IoU)."""
    if isinstance(shape, Box):
        return (shape.top, shape.left, shape.bottom, shape.right)
    rows = [p[0] for p in shape.points]
    cols = [p[1] for p in shape.points]
    if not rows:
        return (0.0, 0.0, 0.0, 0.0)
    return (min(rows), min(cols), max(rows), max(cols))


def sort_key(shape: Shape) -> tuple[int, tuple[float, ...] | tuple[tuple[float, float], ...]]:
    """A total order on shapes (boxes first, then by coordinates), for canonical tie-breaking."""
    if isinstance(shape, Box):
        return (0, (shape.top, shape.left, shape.bottom, shape.right))
    return (1, shape.points)


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def iou(a: Shape, b: Shape) -> float:
    """Intersection over union of two shapes, in ``[0, 1]``; ``0`` if either has no area.

    Exactly symmetric (operands are canonically ordered first) and exactly ``1.0`` for a shape
    compared with itself, so rules built on thresholds behave identically whichever labeler's
    region is looked at first.
    """
    if sort_key(b) < sort_key(a):
        a, b = b, a
    if isinstance(a, Box) and isinstance(b, Box):
        area_a = _box_area(a)
        area_b = _box_area(b)
        if area_a <= NEGLIGIBLE_AREA or area_b <= NEGLIGIBLE_AREA:
            return 0.0
        if a == b:
            return 1.0
        height = min(a.bottom, b.bottom) - max(a.top, b.top)
        width = min(a.right, b.right) - max(a.left, b.left)
        if height <= 0.0 or width <= 0.0:
            return 0.0
        inter = height * width
        union = area_a + area_b - inter
        return _clamp(inter / union) if union > 0.0 else 0.0
    ta, la, ba, ra = bounds(a)
    tb, lb, bb, rb = bounds(b)
    if min(ba, bb) < max(ta, tb) or min(ra, rb) < max(la, lb):
        return 0.0  # bounding boxes disjoint: no overlap possible, skip GEOS
    ga = _geometry(a)
    gb = _geometry(b)
    area_a = float(ga.area)
    area_b = float(gb.area)
    if area_a <= NEGLIGIBLE_AREA or area_b <= NEGLIGIBLE_AREA:
        return 0.0
    if a == b:
        return 1.0
    inter = float(ga.intersection(gb).area)
    if inter <= 0.0:
        return 0.0
    union = area_a + area_b - inter
    return _clamp(inter / union) if union > 0.0 else 0.0
