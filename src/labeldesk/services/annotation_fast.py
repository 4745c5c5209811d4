"""PostAnnotations' fast path for the shape nearly every annotation has: concepts, and regions
drawn as bounding boxes that carry concepts.

For such data :func:`prepare_simple` does in one walk what the general path does in four
(``annotation_rules.prepare`` validating and normalising, ``concept_index``, and the printer
rendering the stored JSON, each walking the messages again and building field paths for error
messages that are almost never shown). It answers ``None`` for anything else — other fields,
frames, polygons, a region given by id alone — and for anything invalid, so the general path
runs and raises its error naming the field: the fast path never decides what is an error, it only
recognises data it can store unchanged.

``tests/unit/test_annotation_fast.py`` checks, on generated data, that whenever this answers it
equals the general path exactly: the stored ``Data``, its JSON rendering byte for byte, and the
concept index.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from clarifai_grpc.grpc.api.resources_pb2 import BoundingBox, Concept, Data, Region, RegionInfo

from labeldesk.services.common import ID_RE
from labeldesk.wire.printer import float32_json

_DATA_FIELDS = frozenset({"concepts", "regions"})
_REGION_FIELDS = frozenset({"id", "region_info", "data"})
_BOX_FIELDS = ("top_row", "left_col", "bottom_row", "right_col")


@dataclass(frozen=True)
class Prepared:
    """New annotation data as stored: the message, its JSON rendering and its concept index."""

    data: Data
    json: bytes
    index: list[tuple[str, float]]


class ConceptCache:
    """Concept messages and their renderings by (id, value), shared by a request's annotations
    (a batch names the same few concepts over and over)."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = names
        self._made: dict[tuple[str, float], tuple[Concept, dict[str, Any]]] = {}

    def get(self, cid: str, value: float) -> tuple[Concept, dict[str, Any]] | None:
        key = (cid, value)
        made = self._made.get(key)
        if made is None:
            name = self.names.get(cid)
            if name is None:
                return None
            name = name or cid
            made = (
                Concept(id=cid, name=name, value=value),
                {"id": cid, "name": name, "value": float32_json(value)},
            )
            self._made[key] = made
        return made


def prepare_simple(data: Data, concepts: ConceptCache, new_id: Callable[[], str]) -> Prepared | None:
    """``data`` validated and normalised as ``annotation_rules.prepare`` would (region ids
    generated with ``new_id``), or ``None`` when the general path must run."""
    if any(fd.name not in _DATA_FIELDS for fd, _ in data.ListFields()):
        return None
    index: dict[str, float] = {}
    top = _concepts(data.concepts, concepts, index)
    if top is None:
        return None
    out = Data()
    rendered: dict[str, Any] = {}
    if top[0]:
        out.concepts.extend(top[0])
        rendered["concepts"] = top[1]
    if data.regions:
        regions = _regions(data.regions, concepts, index, new_id, out)
        if regions is None:
            return None
        rendered["regions"] = regions
    return Prepared(out, orjson.dumps(rendered), list(index.items()))


def _concepts(
    given: Any, cache: ConceptCache, index: dict[str, float]
) -> tuple[list[Concept], list[dict[str, Any]]] | None:
    messages: list[Concept] = []
    rendered: list[dict[str, Any]] = []
    seen: set[str] = set()
    for c in given:
        cid, value = c.id, c.value
        if not cid or cid in seen or not 0.0 <= value <= 1.0:  # NaN fails the comparison too
            return None
        made = cache.get(cid, value)
        if made is None:
            return None
        seen.add(cid)
        messages.append(made[0])
        rendered.append(made[1])
        if value > index.get(cid, -math.inf):
            index[cid] = value
    return messages, rendered


def _regions(
    given: Any, cache: ConceptCache, index: dict[str, float], new_id: Callable[[], str], out: Data
) -> list[dict[str, Any]] | None:
    rendered: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in given:
        if any(fd.name not in _REGION_FIELDS for fd, _ in r.ListFields()):
            return None
        rid = r.id
        if rid:
            if rid in seen or not ID_RE.match(rid):
                return None
        else:
            rid = new_id()
        seen.add(rid)
        box = _box(r)
        if box is None or any(fd.name != "concepts" for fd, _ in r.data.ListFields()):
            return None
        inner = _concepts(r.data.concepts, cache, index)
        if inner is None or not inner[0]:
            return None
        region = out.regions.add(id=rid)
        region.region_info.bounding_box.CopyFrom(r.region_info.bounding_box)
        region.data.concepts.extend(inner[0])
        rendered.append({"id": rid, "region_info": {"bounding_box": box}, "data": {"concepts": inner[1]}})
    return rendered


def _box(r: Region) -> dict[str, Any] | None:
    """The rendering of a region's bounding box when it is its only shape and valid (coordinates
    in ``[0, 1]``, top above bottom, left of right), else ``None``."""
    info: RegionInfo = r.region_info
    fields = info.ListFields()
    if len(fields) != 1 or fields[0][0].name != "bounding_box":
        return None
    b: BoundingBox = info.bounding_box
    top, left, bottom, right = b.top_row, b.left_col, b.bottom_row, b.right_col
    if not (0.0 <= top < bottom <= 1.0 and 0.0 <= left < right <= 1.0):
        return None
    # the printer shows set coordinates in field order, then the unset (zero) ones it always shows
    coords = tuple(zip(_BOX_FIELDS, (top, left, bottom, right)))
    out = {k: float32_json(v) for k, v in coords if v or math.copysign(1.0, v) < 0}
    for k, v in coords:
        if k not in out:
            out[k] = float32_json(v)
    return out


def named_concepts(data: Data, out: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """``("", id, name)`` of every concept ``data`` names, regions and frames included, appended
    to ``out``: ``annotation_rules.named_concepts`` without the field paths (for the common case
    that every concept is fine; the service asks the rules again to name a bad one)."""
    out += [("", c.id, c.name) for c in data.concepts]
    for r in data.regions:
        named_concepts(r.data, out)
    for f in data.frames:
        named_concepts(f.data, out)
    return out
