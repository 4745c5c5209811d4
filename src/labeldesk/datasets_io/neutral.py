"""The neutral record as JSON, shared by the JSONL and CSV formats:

``{"id": "gull-1", "image": "images/gull-1.jpg" | "https://...", "metadata": {...},
"concepts": ["bird"], "regions": [{"concepts": ["gull"], "bbox": {"top_row": 0.1, "left_col": 0.2,
"bottom_row": 0.5, "right_col": 0.6}}, {"concepts": ["wing"], "polygon": [[x, y], ...]}],
"width": 640, "height": 480}``. Relative image paths are relative to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labeldesk.datasets_io import rle
from labeldesk.datasets_io.records import (
    Box,
    Record,
    Region,
    check_box,
    check_polygon,
    clamped,
    is_url,
    stable_id,
)

BOX_KEYS = ("top_row", "left_col", "bottom_row", "right_col")


def image_ref(r: Record, file_names: dict[str, str]) -> str:
    """How an exported record names its image: its URL, or its file in the ``images/`` folder."""
    return r.source if r.is_url else f"images/{file_names[r.input_id]}"


def to_dict(r: Record, image: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": r.input_id, "image": image}
    if r.metadata:
        out["metadata"] = r.metadata
    if r.concepts:
        out["concepts"] = list(r.concepts)
    if r.regions:
        out["regions"] = [_region_dict(g) for g in r.regions]
    if r.width and r.height:
        out["width"], out["height"] = r.width, r.height
    return out


def _region_dict(g: Region) -> dict[str, Any]:
    d: dict[str, Any] = {"concepts": list(g.concepts)}
    if g.id:
        d["id"] = g.id
    if g.box is not None:
        d["bbox"] = dict(zip(BOX_KEYS, (g.box.top, g.box.left, g.box.bottom, g.box.right)))
    if g.polygon:
        d["polygon"] = [list(p) for p in g.polygon]
    if g.mask is not None:
        d["mask"] = rle.to_coco(g.mask)
    return d


def from_dict(d: Any, base: Path) -> Record | str:
    """A record from its JSON form, or why it is not one."""
    if not isinstance(d, dict):
        return "a record must be a JSON object"
    image = d.get("image") or d.get("url") or d.get("file")
    if not isinstance(image, str) or not image:
        return "a record needs 'image' (a file path or an http(s) URL)"
    if is_url(image):
        source = image
    else:
        path = Path(image) if Path(image).is_absolute() else base / image
        if not path.is_file():
            return f"image file {image!r} not found"
        source = str(path)
    raw_id = d.get("id") or Path(image.split("?")[0]).stem
    metadata = d.get("metadata") or {}
    if not isinstance(metadata, dict):
        return "'metadata' must be a JSON object"
    concepts = d.get("concepts") or []
    if not isinstance(concepts, list) or not all(isinstance(c, str) and c for c in concepts):
        return "'concepts' must be a list of concept ids"
    regions = []
    for n, g in enumerate(d.get("regions") or []):
        got = _region(g)
        if isinstance(got, str):
            return f"regions[{n}]: {got}"
        regions.append(got)
    return Record(
        input_id=stable_id(str(raw_id)),
        source=source,
        metadata=metadata,
        concepts=tuple(stable_id(c) for c in concepts),
        regions=tuple(regions),
        width=int(d.get("width") or 0),
        height=int(d.get("height") or 0),
    )


def _region(g: Any) -> Region | str:
    if not isinstance(g, dict):
        return "a region must be a JSON object"
    concepts = g.get("concepts") or []
    if not isinstance(concepts, list) or not concepts or not all(isinstance(c, str) and c for c in concepts):
        return "a region needs 'concepts', a non-empty list of concept ids"
    box = None
    if "bbox" in g:
        try:
            box = Box(*(float(g["bbox"][k]) for k in BOX_KEYS))
        except (KeyError, TypeError, ValueError):
            return "'bbox' needs numbers top_row, left_col, bottom_row, right_col (0..1)"
        problem = check_box(box)
        if problem:
            return problem
        box = clamped(box)
    polygon: tuple[tuple[float, float], ...] = ()
    if "polygon" in g:
        try:
            polygon = tuple((float(p[0]), float(p[1])) for p in g["polygon"])
        except (TypeError, ValueError, IndexError):
            return "'polygon' must be a list of [x, y] points (0..1)"
        problem = check_polygon(polygon)
        if problem:
            return problem
    mask = None
    if "mask" in g:
        try:
            mask = rle.from_coco(g["mask"])
        except (ValueError, AttributeError) as e:
            return f"mask: {e}"
    if box is None and not polygon and mask is None:
        return "a region needs a 'bbox', a 'polygon' or a 'mask'"
    return Region(
        tuple(stable_id(c) for c in concepts), box=box, polygon=polygon, mask=mask, id=str(g.get("id") or "")
    )
