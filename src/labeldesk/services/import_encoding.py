"""The stored bytes of imported data, encoded directly: an input's ``Data`` (its image URL and
size) and a region annotation's ``Data`` with both columns the API path stores (the protobuf bytes
and their JSON rendering, :func:`labeldesk.services.annotation_views.stored_data`).

Building ``resources_pb2`` messages and walking them with the generic printer costs ~20 µs a
region; an import of a million boxes does it a million times. These encoders write the same
protobuf wire format and the same JSON (field order, float32 shortest decimals, the defaults the
printer always emits) in a few microseconds. ``tests/unit/test_import_encoding.py`` checks them
against ``SerializeToString`` and ``stored_data`` on generated regions; anything they do not cover
(masks) goes through the messages.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import Any

import orjson
from clarifai_grpc.grpc.api import resources_pb2

from labeldesk.datasets_io import rle
from labeldesk.datasets_io.records import Region
from labeldesk.services.annotation_views import stored_data
from labeldesk.wire.printer import NESTED_JSON_FORMAT, float32_json

_F1 = struct.Struct("<f")
_F2 = struct.Struct("<ff")
_F4 = struct.Struct("<ffff")
_BOX_TAGS = (b"\x0d", b"\x15", b"\x1d", b"\x25")  # BoundingBox top_row, left_col, bottom_row, right_col
_BOX_KEYS = ("top_row", "left_col", "bottom_row", "right_col")
_ONE = _F1.pack(1.0)


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, body: bytes) -> bytes:
    """A length-delimited field."""
    return tag + _varint(len(body)) + body


def _text(tag: bytes, value: str) -> bytes:
    return _field(tag, value.encode()) if value else b""


@functools.lru_cache(maxsize=1024)
def _image_info(width: int, height: int) -> bytes:
    """``Image.image_info`` of one size (few distinct sizes in a dataset)."""
    if not (width or height):
        return b""
    info = (b"\x08" + _varint(width) if width else b"") + (b"\x10" + _varint(height) if height else b"")
    return _field(b"\x32", info)


_BYTE = [bytes((n,)) for n in range(128)]  # one-byte varints


def input_data(url: str, width: int = 0, height: int = 0) -> bytes:
    """``Data(image=Image(url=url, image_info=ImageInfo(width, height)))`` serialised."""
    u = url.encode()
    info = _image_info(width, height)
    size = len(u) + len(info) + 2
    if u and size < 128:  # the common case (a URL under ~120 bytes): both lengths are one byte
        return b"".join((b"\x0a", _BYTE[size], b"\x0a", _BYTE[len(u)], u, info))
    image = (b"\x0a" + _varint(len(u)) + u if u else b"") + info
    return b"\x0a" + _varint(len(image)) + image


@functools.lru_cache(maxsize=4096)
def _concepts(concepts: tuple[str, ...]) -> tuple[bytes, dict[str, Any]]:
    """A region's ``data`` holding its concepts (value 1): the field's bytes and its JSON, ``{}``
    without concepts (few distinct sets: made once each; the JSON is only ever serialised)."""
    if not concepts:
        return b"", {}
    body = b"".join(_field(b"\x1a", _text(b"\x0a", c) + _text(b"\x12", c) + b"\x1d" + _ONE) for c in concepts)
    return _field(b"\x1a", body), {
        "data": {"concepts": [{"id": c, "name": c, "value": 1.0} for c in concepts]}
    }


_shown: dict[float, float | str] = {}


def _float(v: float) -> float | str:
    """:func:`float32_json` remembered: imported coordinates are pixels over a few image sizes,
    so the same values come back all the time."""
    got = _shown.get(v)
    if got is None:
        if len(_shown) > 200_000:
            _shown.clear()
        got = _shown[v] = float32_json(v)
    return got


def _box(box: tuple[float, float, float, float]) -> tuple[bytes, dict[str, Any]]:
    # float32 as the message stores it; +0.0 turns -0.0 into 0.0 (which proto3 leaves out)
    values = _F4.unpack(_F4.pack(box[0] + 0.0, box[1] + 0.0, box[2] + 0.0, box[3] + 0.0))
    body = b"".join(tag + _F1.pack(v) for tag, v in zip(_BOX_TAGS, values) if v != 0.0)
    # the printer: the set fields in field order, then the unset ones it always shows (0.0)
    shown = {k: _float(v) for k, v in zip(_BOX_KEYS, values) if v != 0.0}
    shown.update({k: 0.0 for k, v in zip(_BOX_KEYS, values) if v == 0.0})
    return body, shown


def _point(x: float, y: float) -> tuple[bytes, dict[str, Any]]:
    row, col = _F2.unpack(_F2.pack(y + 0.0, x + 0.0))
    body = (b"\x0d" + _F1.pack(row) if row != 0.0 else b"") + (b"\x15" + _F1.pack(col) if col != 0.0 else b"")
    shown: dict[str, Any] = {}
    if row != 0.0:
        shown["row"] = _float(row)
    if col != 0.0:
        shown["col"] = _float(col)
    shown.setdefault("row", 0.0)
    shown.setdefault("col", 0.0)
    return _field(b"\x0a", body), shown


_BOX_BYTES = struct.Struct("<BfBfBfBf")  # a BoundingBox with its four coordinates set
_BOX_INFO = b"\x12\x16\x0a\x14"  # region_info (22 bytes) holding bounding_box (20 bytes)


def _plain_box(rid: str, box: tuple[float, float, float, float], concepts: tuple[str, ...]) -> Any:
    """The common region, encoded in one go: a box with no zero coordinate, a short id; None for
    anything else."""
    top, left, bottom, right = _F4.unpack(_F4.pack(*box))
    rb = rid.encode()
    if not (top and left and bottom and right) or len(rb) > 127:  # its length is one varint byte
        return None
    cb, cj = _concepts(concepts)
    body = b"\x0a" + bytes((len(rb),)) + rb + _BOX_INFO
    body += _BOX_BYTES.pack(0x0D, top, 0x15, left, 0x1D, bottom, 0x25, right) + cb
    known = _shown.get  # remembered renderings are never 0, so ``or`` falls through only on a miss
    shown = {
        "top_row": known(top) or _float(top),
        "left_col": known(left) or _float(left),
        "bottom_row": known(bottom) or _float(bottom),
        "right_col": known(right) or _float(right),
    }
    out = {"id": rid, "region_info": {"bounding_box": shown}, **cj}
    return _field(b"\x5a", body), out


def _region(g: Region, n: int) -> tuple[bytes, dict[str, Any]]:
    rid = g.id or f"r{n}"
    if g.box is not None and not g.polygon:
        done = _plain_box(rid, g.box, g.concepts)
        if done is not None:
            return done  # type: ignore[no-any-return]
    info, info_json = b"", {}
    if g.box is not None:
        body, info_json["bounding_box"] = _box(g.box)
        info += _field(b"\x0a", body)
    if g.polygon:
        points = [_point(x, y) for x, y in g.polygon]
        info += _field(b"\x2a", b"".join(p[0] for p in points))
        info_json["polygon"] = {"points": [p[1] for p in points]}
    out: dict[str, Any] = {"id": rid}
    body = _text(b"\x0a", rid)
    if info_json:
        body += _field(b"\x12", info)
        out["region_info"] = info_json
    concepts, shown = _concepts(g.concepts)
    body += concepts
    out.update(shown)
    return _field(b"\x5a", body), out


def regions_data(regions: Sequence[Region]) -> dict[str, Any]:
    """The stored columns (``data``, ``data_json``, ``data_json_format``) of an annotation whose
    ``Data`` holds ``regions`` (region ids ``r<n>`` when the source has none), as
    :func:`stored_data` would store them."""
    if any(g.mask is not None for g in regions):
        return stored_data(resources_pb2.Data(regions=[region_proto(g, n) for n, g in enumerate(regions)]))
    parts = [_region(g, n) for n, g in enumerate(regions)]
    return {
        "data": b"".join(p[0] for p in parts),
        "data_json": orjson.dumps({"regions": [p[1] for p in parts]}),
        "data_json_format": NESTED_JSON_FORMAT,
    }


def region_proto(g: Region, n: int) -> resources_pb2.Region:
    """``g`` as a message (the reference the encoders are tested against; masks). Coordinates
    of -0.0 are stored as 0.0."""
    out = resources_pb2.Region(id=g.id or f"r{n}")
    if g.box is not None:
        b = out.region_info.bounding_box
        b.top_row, b.left_col, b.bottom_row, b.right_col = (v + 0.0 for v in g.box)
    for x, y in g.polygon:
        out.region_info.polygon.points.add(row=y + 0.0, col=x + 0.0)
    if g.mask is not None:
        out.region_info.mask.image.base64 = rle.to_png(g.mask)
    for c in g.concepts:
        out.data.concepts.add(id=c, name=c, value=1.0)
    return out
