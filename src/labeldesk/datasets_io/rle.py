"""COCO run-length masks, without pycocotools: decoding the compressed string form, the bounding
box of a mask, and the PNG a Clarifai mask region carries (``region_info.mask.image``).

Runs are column-major (COCO's Fortran order) and alternate 0-runs and 1-runs, starting with 0s.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from labeldesk.datasets_io.records import Box, Mask


def from_coco(seg: dict[str, Any]) -> Mask:
    size = seg.get("size")
    counts = seg.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise ValueError("an RLE needs 'size': [height, width]")
    h, w = size
    if isinstance(counts, str):
        runs = decode_counts(counts)
    elif isinstance(counts, list) and all(isinstance(v, int) and v >= 0 for v in counts):
        runs = list(counts)
    else:
        raise ValueError("an RLE's 'counts' must be a string or a list of non-negative integers")
    if sum(runs) != h * w:
        raise ValueError(f"RLE counts cover {sum(runs)} pixels, the size {h}x{w} has {h * w}")
    return Mask(h, w, tuple(runs))


def decode_counts(s: str) -> list[int]:
    """COCO's compressed counts string (pycocotools ``rleFrString``)."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x = k = 0
        more = True
        while more:
            if p >= len(s):
                raise ValueError("truncated RLE counts string")
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            raise ValueError("RLE counts string decodes to a negative run")
        counts.append(x)
    return counts


def to_coco(mask: Mask) -> dict[str, Any]:
    """The uncompressed COCO form (what ``iscrowd`` annotations use)."""
    return {"size": [mask.height, mask.width], "counts": list(mask.counts)}


def box_of(mask: Mask) -> Box:
    h, w = mask.height, mask.width
    top, left, bottom, right = h, w, -1, -1
    pos = 0
    for n, run in enumerate(mask.counts):
        if n % 2 and run:
            first, last = pos, pos + run - 1
            c0, c1 = first // h, last // h
            left, right = min(left, c0), max(right, c1)
            if c0 == c1:
                top, bottom = min(top, first % h), max(bottom, last % h)
            else:  # a run over two columns covers the last row of one and the first of the next
                top, bottom = 0, h - 1
        pos += run
    if right < 0:
        return Box(0, 0, 0, 0)
    return Box(top / h, left / w, (bottom + 1) / h, (right + 1) / w)


def _pixels(mask: Mask) -> bytearray:
    """Row-major bytes, 255 inside the mask."""
    h, w = mask.height, mask.width
    out = bytearray(h * w)
    pos = 0
    for n, run in enumerate(mask.counts):
        if n % 2:
            for p in range(pos, pos + run):
                out[(p % h) * w + p // h] = 255
        pos += run
    return out


def to_png(mask: Mask) -> bytes:
    """An 8-bit greyscale PNG of the mask (0 outside, 255 inside)."""
    px = _pixels(mask)
    w = mask.width
    raw = b"".join(b"\x00" + bytes(px[r * w : (r + 1) * w]) for r in range(mask.height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", w, mask.height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def from_png(png: bytes) -> Mask:
    """A mask from a greyscale PNG written by :func:`to_png` (or any 8-bit greyscale PNG with
    filter 0; others are read with Pillow when it is installed)."""
    try:
        return _from_plain_png(png)
    except ValueError:
        from io import BytesIO

        from PIL import Image

        im = Image.open(BytesIO(png)).convert("L")
        return _from_rows(im.width, im.height, im.tobytes())


def _from_plain_png(png: bytes) -> Mask:
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        tag, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if tag == b"IHDR":
            header = body
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", header)
    if (depth, colour, interlace) != (8, 0, 0):
        raise ValueError("not an 8-bit greyscale PNG")
    raw = zlib.decompress(idat)
    rows = bytearray()
    for r in range(h):
        line = raw[r * (w + 1) : (r + 1) * (w + 1)]
        if line[0] != 0:
            raise ValueError("filtered PNG rows")
        rows += line[1:]
    return _from_rows(w, h, bytes(rows))


def _from_rows(w: int, h: int, rows: bytes) -> Mask:
    counts: list[int] = []
    current, run = 0, 0
    for c in range(w):
        for r in range(h):
            v = 1 if rows[r * w + c] >= 128 else 0
            if v == current:
                run += 1
            else:
                counts.append(run)
                current, run = v, 1
    counts.append(run)
    return Mask(h, w, tuple(counts))
