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


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _ONE_BYTE[n]
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_ONE_BYTE = [bytes((n,)) for n in range(0x80)]


def _tag(descriptor: Any, name: str) -> bytes:
    """The wire tag of a length-delimited field (string or message)."""
    return _varint(descriptor.fields_by_name[name].number << 3 | 2)


def _record(tag: bytes, payload: bytes) -> bytes:
    """One length-delimited field on the wire: tag, length, payload."""
    return tag + _varint(len(payload)) + payload


# The stored ``Data`` is assembled from wire records in field-number order, as the serializer
# writes it (the unit tests compare the bytes with the general path's ``SerializeToString``).
_CONCEPTS = _tag(Data.DESCRIPTOR, "concepts")
_REGIONS = _tag(Data.DESCRIPTOR, "regions")
_REGION_ID = _tag(Region.DESCRIPTOR, "id")
_REGION_INFO = _tag(Region.DESCRIPTOR, "region_info")
_REGION_DATA = _tag(Region.DESCRIPTOR, "data")
_BOUNDING_BOX = _tag(RegionInfo.DESCRIPTOR, "bounding_box")
assert Data.DESCRIPTOR.fields_by_name["concepts"].number < Data.DESCRIPTOR.fields_by_name["regions"].number
assert [f.number for f in (Region.DESCRIPTOR.fields_by_name[n] for n in ("id", "region_info", "data"))] == [
    1,
    2,
    3,
]


@dataclass(frozen=True)
class Prepared:
    """New annotation data as stored: its serialized ``Data``, its JSON rendering and its
    concept index."""

    stored: bytes
    json: bytes
    index: list[tuple[str, float]]

    @property
    def data(self) -> Data:
        return Data.FromString(self.stored)


class ConceptCache:
    """Each (concept id, value)'s stored wire record and JSON rendering, shared by a request's
    annotations (a batch names the same few concepts over and over)."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = names
        self._made: dict[tuple[str, float], tuple[bytes, bytes]] = {}

    def get(self, cid: str, value: float) -> tuple[bytes, bytes] | None:
        key = (cid, value)
        made = self._made.get(key)
        if made is None:
            name = self.names.get(cid)
            if name is None:
                return None
            name = name or cid
            made = (
                _record(_CONCEPTS, Concept(id=cid, name=name, value=value).SerializeToString()),
                orjson.dumps({"id": cid, "name": name, "value": float32_json(value)}),
            )
            self._made[key] = made
        return made


def prepare_simple(data: Data, concepts: ConceptCache, new_id: Callable[[], str]) -> Prepared | None:
    """``data`` validated and normalised as ``annotation_rules.prepare`` would (region ids
    generated with ``new_id``), or ``None`` when the general path must run."""
    if any(fd.name not in _DATA_FIELDS for fd, _ in data.ListFields()):
        return None
    index: dict[str, float] = {}
    stored: list[bytes] = []
    rendered: list[bytes] = []
    if data.concepts:
        top = _concepts(data.concepts, concepts, index, stored)
        if top is None:
            return None
        rendered.append(b'"concepts":[' + top + b"]")
    if data.regions:
        regions = _regions(data.regions, concepts, index, new_id, stored)
        if regions is None:
            return None
        rendered.append(b'"regions":[' + regions + b"]")
    return Prepared(b"".join(stored), b"{" + b",".join(rendered) + b"}", list(index.items()))


def _concepts(given: Any, cache: ConceptCache, index: dict[str, float], stored: list[bytes]) -> bytes | None:
    """The JSON of ``given`` concepts (their wire records appended to ``stored``), or ``None``."""
    rendered: list[bytes] = []
    seen: set[str] = set()
    for c in given:
        cid, value = c.id, c.value
        if not cid or cid in seen or not 0.0 <= value <= 1.0:  # NaN fails the comparison too
            return None
        made = cache.get(cid, value)
        if made is None:
            return None
        seen.add(cid)
        stored.append(made[0])
        rendered.append(made[1])
        if value > index.get(cid, -math.inf):
            index[cid] = value
    return b",".join(rendered)


def _regions(
    given: Any, cache: ConceptCache, index: dict[str, float], new_id: Callable[[], str], stored: list[bytes]
) -> bytes | None:
    """The JSON of ``given`` regions (their wire records appended to ``stored``), or ``None``."""
    rendered: list[bytes] = []
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
        if box is None or any(fd.name != "concepts" for fd, _ in r.data.ListFields()) or not r.data.concepts:
            return None
        inner: list[bytes] = []
        concepts = _concepts(r.data.concepts, cache, index, inner)
        if concepts is None:
            return None
        rid_bytes = rid.encode()
        stored.append(
            _record(
                _REGIONS,
                _record(_REGION_ID, rid_bytes)
                + _record(
                    _REGION_INFO, _record(_BOUNDING_BOX, r.region_info.bounding_box.SerializeToString())
                )
                + _record(_REGION_DATA, b"".join(inner)),
            )
        )
        rendered.append(
            b'{"id":'
            + orjson.dumps(rid)
            + b',"region_info":{"bounding_box":'
            + box
            + b'},"data":{"concepts":['
            + concepts
            + b"]}}"
        )
    return b",".join(rendered)


def _box(r: Region) -> bytes | None:
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
    return orjson.dumps(out)


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
