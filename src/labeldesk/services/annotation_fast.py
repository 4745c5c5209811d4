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
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import orjson
from clarifai_grpc.grpc.api.resources_pb2 import Annotation, BoundingBox, Concept, Data, Region, RegionInfo
from clarifai_grpc.grpc.api.service_pb2 import MultiAnnotationResponse
from google.protobuf.message import Message

from labeldesk.services.common import ID_RE
from labeldesk.wire.printer import float32_json
from labeldesk.wire.records import record, tag, varint

_DATA_FIELDS = frozenset({"concepts", "regions"})
_REGION_FIELDS = frozenset({"id", "region_info", "data"})
_BOX_FIELDS = ("top_row", "left_col", "bottom_row", "right_col")


# The stored ``Data`` is assembled from wire records in field-number order, as the serializer
# writes it (the unit tests compare the bytes with the general path's ``SerializeToString``).
_CONCEPTS = tag(Data.DESCRIPTOR, "concepts")
_REGIONS = tag(Data.DESCRIPTOR, "regions")
_REGION_ID = tag(Region.DESCRIPTOR, "id")
_REGION_INFO = tag(Region.DESCRIPTOR, "region_info")
_REGION_DATA = tag(Region.DESCRIPTOR, "data")
_BOUNDING_BOX = tag(RegionInfo.DESCRIPTOR, "bounding_box")
assert Data.DESCRIPTOR.fields_by_name["concepts"].number < Data.DESCRIPTOR.fields_by_name["regions"].number
assert [f.number for f in (Region.DESCRIPTOR.fields_by_name[n] for n in ("id", "region_info", "data"))] == [
    1,
    2,
    3,
]


class Prepared:
    """New annotation data as stored: its serialized ``Data``, its JSON rendering and its
    concept index (each concept id once). A plain class with slots: one is made per annotation
    (a frozen dataclass's ``__init__`` costs three times as much)."""

    __slots__ = ("index", "json", "stored")

    def __init__(self, stored: bytes, json: bytes, index: list[tuple[str, float]]) -> None:
        self.stored = stored
        self.json = json
        self.index = index

    @property
    def data(self) -> Data:
        return Data.FromString(self.stored)


class ConceptCache:
    """Each (concept id, value)'s stored wire record and JSON rendering, shared by a request's
    annotations (a batch names the same few concepts over and over)."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = names
        self._made: dict[tuple[str, float] | tuple[str, float, float], tuple[bytes, bytes]] = {}
        #: a region's ``data`` by its wire bytes: its concepts' records, their JSON and their
        #: (id, value) pairs, or None when the fast path cannot take it
        self.region_data: dict[bytes, tuple[bytes, bytes, tuple[tuple[str, float], ...]] | None] = {}
        #: a region's ``region_info`` by its wire bytes: its bounding box's JSON, or None when
        #: the fast path cannot take it
        self.boxes: dict[bytes, bytes | None] = {}
        #: :func:`float32_json` of the box coordinates seen (positive ones only: 0.0 == -0.0)
        self.floats: dict[float, Any] = {}

    def get(self, cid: str, value: float) -> tuple[bytes, bytes] | None:
        # 0.0 and -0.0 are equal keys, but -0.0 is stored (and shown) as a set value
        key = (cid, value) if value else (cid, value, math.copysign(1.0, value))
        made = self._made.get(key)
        if made is None:
            name = self.names.get(cid)
            if name is None:
                return None
            name = name or cid
            made = (
                record(_CONCEPTS, Concept(id=cid, name=name, value=value).SerializeToString()),
                orjson.dumps({"id": cid, "name": name, "value": float32_json(value)}),
            )
            self._made[key] = made
        return made


class Hole:
    """A region of a template whose id is generated when the template is filled: its wire
    record and its JSON after the id. (Slots, not a frozen dataclass: when every annotation
    of a batch has a box of its own, one is made per annotation.)"""

    __slots__ = ("json_head", "json_tail", "stored_head", "stored_tail")

    def __init__(self, stored_tail: bytes, json_tail: bytes, json_head: bytes) -> None:
        self.stored_tail = stored_tail
        self.json_tail = json_tail
        self.json_head = json_head
        #: the region's record up to its id's bytes, for an id of ID_LENGTH bytes
        self.stored_head = _REGIONS + varint(ID_LENGTH + 2 + len(stored_tail)) + _REGION_ID + _ID_LENGTH

    def filled(self, rid: str) -> tuple[bytes, bytes]:
        """The region's record and JSON with the id ``rid``."""
        raw = rid.encode()
        shown = b'"' + raw + b'"' if rid.isalnum() else orjson.dumps(rid)
        rendered = self.json_head + shown + self.json_tail
        if len(raw) == ID_LENGTH:
            return self.stored_head + raw + self.stored_tail, rendered
        return record(_REGIONS, record(_REGION_ID, raw) + self.stored_tail), rendered


#: the length of generated ids (``services.common.ordered_ids``)
ID_LENGTH = 32
_ID_LENGTH = varint(ID_LENGTH)


#: a piece of a template: (wire bytes, JSON) as they are, or a region to give an id
Piece = tuple[bytes, bytes] | Hole


class Template:
    """Prepared data with holes for the region ids to generate: what :func:`prepare_simple`
    answers for every annotation whose data has the same bytes. ``whole`` is the prepared data
    itself when there are no holes.

    The pieces between two holes are joined once, when the template is made: filling it for an
    id of the usual kind (:data:`ID_LENGTH` letters and digits, as ``ordered_ids`` makes) only
    puts each id between two pre-joined byte strings, in the record and in the JSON."""

    __slots__ = ("holes", "index", "json_parts", "pieces", "stored_parts", "whole")

    def __init__(
        self, pieces: tuple[Piece, ...], index: list[tuple[str, float]], whole: Prepared | None
    ) -> None:
        self.pieces = pieces
        self.index = index
        self.whole = whole
        self.holes = [p for p in pieces if isinstance(p, Hole)]
        # stored_parts[k] / json_parts[k]: what comes before hole k (after hole k - 1); the
        # last one, what follows the last hole
        stored: list[list[bytes]] = [[]]
        shown: list[list[bytes]] = [[b"{"]]
        for piece in pieces:
            if isinstance(piece, Hole):
                stored[-1].append(piece.stored_head)
                shown[-1] += (piece.json_head, b'"')
                stored.append([piece.stored_tail])
                shown.append([b'"', piece.json_tail])
            else:
                stored[-1].append(piece[0])
                shown[-1].append(piece[1])
        shown[-1].append(b"}")
        self.stored_parts = [b"".join(part) for part in stored]
        self.json_parts = [b"".join(part) for part in shown]

    def fill(self, new_id: Callable[[], str]) -> Prepared:
        if self.whole is not None:
            return self.whole
        if len(self.holes) == 1:  # the usual template: one region to give a generated id
            raw = new_id().encode()
            if len(raw) != ID_LENGTH or not raw.isalnum():
                return self._fill_slowly(iter((raw,)))
            (stored_0, stored_1), (json_0, json_1) = self.stored_parts, self.json_parts
            return Prepared(stored_0 + raw + stored_1, json_0 + raw + json_1, self.index)
        raws = [new_id().encode() for _ in self.holes]
        if not all(len(raw) == ID_LENGTH and raw.isalnum() for raw in raws):
            return self._fill_slowly(iter(raws))
        stored_parts, json_parts = self.stored_parts, self.json_parts
        stored = [stored_parts[0]]
        rendered = [json_parts[0]]
        for raw, after, shown_after in zip(raws, stored_parts[1:], json_parts[1:]):
            stored += (raw, after)
            rendered += (raw, shown_after)
        return Prepared(b"".join(stored), b"".join(rendered), self.index)

    def _fill_slowly(self, raws: Iterator[bytes]) -> Prepared:
        """:meth:`fill` for ids of other lengths or with characters JSON escapes (a caller's
        ``new_id``; generated ids never are)."""
        stored: list[bytes] = []
        rendered: list[bytes] = [b"{"]
        for piece in self.pieces:
            if isinstance(piece, Hole):
                one, shown = piece.filled(next(raws).decode())
                stored.append(one)
                rendered.append(shown)
            else:
                stored.append(piece[0])
                rendered.append(piece[1])
        rendered.append(b"}")
        return Prepared(b"".join(stored), b"".join(rendered), self.index)


class Templates:
    """A request's templates by the bytes of the data (a batch often repeats the same data:
    the same concepts, the same shape), so each distinct ``Data`` is walked once."""

    def __init__(self, concepts: ConceptCache) -> None:
        self.concepts = concepts
        self._made: dict[bytes, Template | None] = {}

    def prepare_all(
        self, keys: Iterable[bytes], datas: Mapping[bytes, Data], new_id: Callable[[], str]
    ) -> list[Prepared | None]:
        """:func:`prepare_simple` of each data (``datas[key]``, whose serialized bytes are
        ``key``), in order; each distinct data's template made once."""
        out: list[Prepared | None] = []
        made = self._made
        for key in keys:
            if key in made:
                template = made[key]
            else:
                template = made[key] = make_template(datas[key], self.concepts)
            out.append(None if template is None else template.fill(new_id))
        return out


def prepare_simple(data: Data, concepts: ConceptCache, new_id: Callable[[], str]) -> Prepared | None:
    """``data`` validated and normalised as ``annotation_rules.prepare`` would (region ids
    generated with ``new_id``), or ``None`` when the general path must run."""
    template = make_template(data, concepts)
    return None if template is None else template.fill(new_id)


def make_template(data: Data, concepts: ConceptCache) -> Template | None:
    """The :class:`Template` of ``data`` (see :func:`prepare_simple`), or ``None``."""
    if any(fd.name not in _DATA_FIELDS for fd, _ in data.ListFields()):
        return None
    index: dict[str, float] = {}
    pieces: list[Piece] = []
    if data.concepts:
        stored: list[bytes] = []
        top = _concepts(data.concepts, concepts, index, stored)
        if top is None:
            return None
        pieces.append((b"".join(stored), b'"concepts":[' + top + b"]"))
    if data.regions:
        regions = _regions(data.regions, concepts, index)
        if regions is None:
            return None
        pieces.append((b"", b',"regions":[' if pieces else b'"regions":['))
        pieces += regions
        pieces.append((b"", b"]"))
    pairs = list(index.items())
    if any(isinstance(p, Hole) for p in pieces):
        return Template(tuple(pieces), pairs, None)
    stored_all = b"".join(p[0] for p in pieces if not isinstance(p, Hole))
    shown_all = b"{" + b"".join(p[1] for p in pieces if not isinstance(p, Hole)) + b"}"
    return Template((), pairs, Prepared(stored_all, shown_all, pairs))


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


def _regions(given: Any, cache: ConceptCache, index: dict[str, float]) -> list[Piece] | None:
    """The pieces of ``given`` regions (a :class:`Hole` for each without an id), or ``None``."""
    out: list[Piece] = []
    seen: set[str] = set()
    for r in given:
        if any(fd.name not in _REGION_FIELDS for fd, _ in r.ListFields()):
            return None
        rid = r.id
        if rid:
            if rid in seen or not ID_RE.match(rid):
                return None
            seen.add(rid)
        info_msg = r.region_info
        info = info_msg.SerializeToString()
        box = cache.boxes.get(info, _UNSEEN)
        if box is _UNSEEN:
            box = cache.boxes[info] = _box(info_msg, cache.floats)
        if box is None:
            return None
        made = _region_data(r.data, cache)
        if made is None:
            return None
        inner, concepts, pairs = made
        for cid, value in pairs:
            if value > index.get(cid, -math.inf):
                index[cid] = value
        if info[1] != len(info) - 2:  # more than the box (fields unknown to us): store the box only
            info = record(_BOUNDING_BOX, info_msg.bounding_box.SerializeToString())
        tail = record(_REGION_INFO, info) + record(_REGION_DATA, inner)
        shown = b',"region_info":{"bounding_box":' + box + b'},"data":{"concepts":[' + concepts + b"]}}"
        head = b',{"id":' if out else b'{"id":'
        if rid:
            out.append(
                (
                    record(_REGIONS, record(_REGION_ID, rid.encode()) + tail),
                    head + orjson.dumps(rid) + shown,
                )
            )
        else:
            out.append(Hole(tail, shown, head))
    return out


def _region_data(
    data: Data, cache: ConceptCache
) -> tuple[bytes, bytes, tuple[tuple[str, float], ...]] | None:
    """A region's ``data`` when it holds concepts only: their wire records, their JSON and their
    (id, value) pairs, kept by the data's bytes (regions of different boxes often carry the same
    concepts); ``None`` for anything else."""
    key = data.SerializeToString()
    known = cache.region_data
    if key in known:
        return known[key]
    made = None
    if data.concepts and all(fd.name == "concepts" for fd, _ in data.ListFields()):
        inner: list[bytes] = []
        pairs: dict[str, float] = {}
        shown = _concepts(data.concepts, cache, pairs, inner)
        if shown is not None:
            made = b"".join(inner), shown, tuple(pairs.items())
    known[key] = made
    return made


_UNSEEN = b"unseen"


def _box(info: RegionInfo, floats: dict[float, Any]) -> bytes | None:
    """The rendering of a region's bounding box when it is its only shape and valid (coordinates
    in ``[0, 1]``, top above bottom, left of right), else ``None``. ``floats``: the renderings
    of positive coordinates seen before."""
    fields = info.ListFields()
    if len(fields) != 1 or fields[0][0].name != "bounding_box":
        return None
    b: BoundingBox = info.bounding_box
    top, left, bottom, right = b.top_row, b.left_col, b.bottom_row, b.right_col
    if not (0.0 <= top < bottom <= 1.0 and 0.0 <= left < right <= 1.0):
        return None
    if top and left:  # all four set (bottom and right are above them): shown in field order
        shown = []
        for v in (top, left, bottom, right):
            f = floats.get(v)
            if f is None:
                f = floats[v] = float32_json(v)
            shown.append(f)
        return orjson.dumps(dict(zip(_BOX_FIELDS, shown)))
    # the printer shows set coordinates in field order, then the unset (zero) ones it always shows
    coords = tuple(zip(_BOX_FIELDS, (top, left, bottom, right)))
    out = {k: float32_json(v) for k, v in coords if v or math.copysign(1.0, v) < 0}
    for k, v in coords:
        if k not in out:
            out[k] = float32_json(v)
    return orjson.dumps(out)


_ANNOTATIONS = tag(MultiAnnotationResponse.DESCRIPTOR, "annotations")
_ANNOTATION_ID = tag(Annotation.DESCRIPTOR, "id")
_ANNOTATION_INPUT_ID = tag(Annotation.DESCRIPTOR, "input_id")
_ANNOTATION_DATA = tag(Annotation.DESCRIPTOR, "data")
R = TypeVar("R", bound=Message)


def answer(response: type[R], new: Iterable[tuple[str, str, bytes, bytes]]) -> R:
    """The answer listing new annotations, from ``(id, input id, stored data, the rest)``, the
    rest being the serialized ``Annotation`` without those three (shared by the annotations
    with the same author, status, ...): their wire records concatenated and parsed once, in C,
    instead of ~15 field assignments per annotation. ``tests/unit/test_annotation_fast.py``
    checks that it equals the message built field by field."""
    parts: list[bytes] = []
    for ann_id, input_id, data, rest in new:
        raw_id, raw_input = ann_id.encode(), input_id.encode()
        body = b"".join(
            (
                _ANNOTATION_ID,
                varint(len(raw_id)),
                raw_id,
                _ANNOTATION_INPUT_ID,
                varint(len(raw_input)),
                raw_input,
                _ANNOTATION_DATA,
                varint(len(data)),
                data,
                rest,
            )
        )
        parts += (_ANNOTATIONS, varint(len(body)), body)
    return response.FromString(b"".join(parts))


def named_concepts(
    data: Data, out: list[tuple[str, str, str]], seen: set[bytes] | None = None
) -> list[tuple[str, str, str]]:
    """``("", id, name)`` of every concept ``data`` names, regions and frames included, appended
    to ``out``: ``annotation_rules.named_concepts`` without the field paths (for the common case
    that every concept is fine; the service asks the rules again to name a bad one). With
    ``seen`` (the wire bytes of the region and frame data already listed), data listed before
    are skipped: regions of different boxes often carry the same concepts."""
    out += [("", c.id, c.name) for c in data.concepts]
    for nested in (*data.regions, *data.frames) if data.regions or data.frames else ():
        inner = nested.data
        if seen is not None:
            key = inner.SerializeToString()
            if key in seen:
                continue
            seen.add(key)
        named_concepts(inner, out, seen)
    return out
