"""The neutral record model every format reads into and writes from.

A :class:`Record` is one input: its id (stable: from the file name or the source's id, so a second
import of the same files finds the same ids), where its bytes are (a local path or a URL), its
metadata, its input-level concepts and its regions. Coordinates are relative to the image (0..1),
as Clarifai stores them: boxes as (top, left, bottom, right), polygons as (x, y) = (col, row) points.
A bad record is a :class:`RecordError` naming the file and the line or record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
_NOT_ID = re.compile(r"[^A-Za-z0-9_\-.:@]+")
_ID = re.compile(r"[A-Za-z0-9_\-:@][A-Za-z0-9_\-.:@]{0,127}")
MAX_ID = 128


class Box(NamedTuple):
    top: float
    left: float
    bottom: float
    right: float


@dataclass(frozen=True)
class Mask:
    """A binary mask in COCO's uncompressed run-length form: ``counts`` alternate runs of 0 and 1,
    column-major (Fortran order), over a ``height`` x ``width`` image."""

    height: int
    width: int
    counts: tuple[int, ...]


@dataclass(slots=True)
class Region:
    concepts: tuple[str, ...]
    box: Box | None = None
    polygon: tuple[tuple[float, float], ...] = ()
    mask: Mask | None = None
    id: str = ""


@dataclass(slots=True)
class Record:
    input_id: str
    source: str  # a local file path or an http(s) URL
    metadata: dict[str, Any] = field(default_factory=dict)
    concepts: tuple[str, ...] = ()
    regions: tuple[Region, ...] = ()
    width: int = 0  # pixels, when the source format says (COCO, VOC); 0 when unknown
    height: int = 0

    @property
    def is_url(self) -> bool:
        return is_url(self.source)


@dataclass(frozen=True)
class RecordError:
    """A record that cannot be imported: ``where`` is ``line 7``, ``annotations[12]``, ..."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}" if self.where else f"{self.file}: {self.message}"


class FormatError(Exception):
    """A file that cannot be read at all (broken JSON or XML, missing class list, ...)."""

    def __init__(self, error: RecordError) -> None:
        super().__init__(str(error))
        self.error = error


Item = Record | RecordError


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def stable_id(name: str) -> str:
    """An input id from a file name or a source's id: the characters ids allow, others as '-'."""
    if name.isascii() and name.isalnum() and len(name) <= MAX_ID:  # the common case, no regex
        return name
    if _ID.fullmatch(name) and not name.endswith(("-", ".")):
        return name
    cleaned = _NOT_ID.sub("-", name).strip("-.") or "input"
    return cleaned[:MAX_ID]


def id_from_path(path: Path, root: Path) -> str:
    """The id of a file below ``root``: its relative path without the suffix, '/' as '--'."""
    rel = path.relative_to(root).with_suffix("")
    return stable_id("--".join(rel.parts))


def check_box(box: Box) -> str:
    """Why ``box`` is not a box inside the image, or '' when it is."""
    if not (min(box) >= -1e-6 and max(box) <= 1 + 1e-6):  # NaN fails both comparisons
        return (
            f"box (top {box.top:.4g}, left {box.left:.4g}, bottom {box.bottom:.4g}, right {box.right:.4g}) "
            "is outside the image"
        )
    if box.top >= box.bottom or box.left >= box.right:
        return "box is empty (its bottom/right must be past its top/left)"
    return ""


def clamp01(v: float) -> float:
    return 0.0 if v < 0 else 1.0 if v > 1 else v


def clamped(box: Box) -> Box:
    """``box`` with rounding noise (outside 0..1 by at most 1e-6) cut off."""
    if min(box) >= 0 and max(box) <= 1:
        return box
    return Box(clamp01(box.top), clamp01(box.left), clamp01(box.bottom), clamp01(box.right))


def check_polygon(points: tuple[tuple[float, float], ...]) -> str:
    if len(points) < 3:
        return f"polygon has {len(points)} points (at least 3 are needed)"
    for x, y in points:
        if not (-1e-6 <= x <= 1 + 1e-6 and -1e-6 <= y <= 1 + 1e-6):
            return f"polygon point ({x:.4g}, {y:.4g}) is outside the image"
    return ""


def box_of_polygon(points: tuple[tuple[float, float], ...]) -> Box:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return Box(min(ys), min(xs), max(ys), max(xs))
