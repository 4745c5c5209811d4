"""COCO object detection / instance segmentation JSON (``instances_*.json``).

Reading: ``images`` become records (id from ``file_name``'s stem; the file is looked up beside the
JSON file, in its ``images/`` folder or in ``../images/``; a ``coco_url`` or ``flickr_url`` when no
file is there), ``categories`` name the concepts, every ``annotations`` entry becomes a region with
its box (``bbox`` x, y, width, height in pixels) and, for ``segmentation``, its polygon (the first
ring; further rings become regions of their own) or its RLE mask (kept as a mask region:
``docs/import-export.md``). Writing produces the same layout: ``annotations.json`` plus ``images/``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labeldesk.datasets_io import rle
from labeldesk.datasets_io.records import (
    Box,
    FormatError,
    Item,
    Record,
    RecordError,
    Region,
    box_of_polygon,
    check_box,
    check_polygon,
    clamped,
    is_url,
    stable_id,
)
from labeldesk.datasets_io.sources import ImageFinder, load_json


def _annotation_file(path: Path) -> Path:
    if path.is_dir():
        for candidate in (path / "annotations.json", *sorted(path.glob("annotations/*.json"))):
            if candidate.is_file():
                return candidate
        found = sorted(path.glob("*.json"))
        if not found:
            raise FormatError(
                RecordError(str(path), "", "no COCO JSON file (annotations.json) in the folder")
            )
        return found[0]
    return path


def read(path: Path) -> Iterator[Item]:
    file = _annotation_file(path)
    doc = load_json(file)
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise FormatError(RecordError(str(file), "", "not a COCO file: it needs an 'images' list"))
    categories: dict[Any, str] = {}
    for n, c in enumerate(doc.get("categories") or []):
        if not isinstance(c, dict) or "id" not in c or not c.get("name"):
            raise FormatError(RecordError(str(file), f"categories[{n}]", "a category needs 'id' and 'name'"))
        categories[c["id"]] = stable_id(str(c["name"]))
    by_image: dict[Any, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for n, a in enumerate(doc.get("annotations") or []):
        by_image[a.get("image_id") if isinstance(a, dict) else None].append((n, a))
    image_ids = set()
    finder = ImageFinder(file.parent, ("", "images", "../images"))
    no_anns: list[tuple[int, dict[str, Any]]] = []
    for n, im in enumerate(doc["images"]):
        if type(im) is dict:
            image_id = im.get("id")
            image_ids.add(image_id)
            yield _record(file, n, im, categories, by_image.get(image_id, no_anns), finder)
        else:
            yield _record(file, n, im, categories, by_image.get(None, no_anns), finder)
    for image_id, anns in by_image.items():
        if image_id not in image_ids:
            n = anns[0][0]
            yield RecordError(str(file), f"annotations[{n}]", f"image_id {image_id!r} is not in 'images'")


_IMAGE_KEYS = frozenset({"id", "file_name", "width", "height", "coco_url"})


def _record(
    file: Path,
    n: int,
    im: Any,
    categories: dict[Any, str],
    anns: list[tuple[int, dict[str, Any]]],
    finder: ImageFinder,
) -> Item:
    name = im.get("file_name") if isinstance(im, dict) else None
    if not name:
        return RecordError(str(file), f"images[{n}]", "an image needs 'file_name'")
    if type(name) is not str:
        name = str(name)
    width, height = im.get("width"), im.get("height")
    if type(width) is not int or type(height) is not int:
        width, height = int(width or 0), int(height or 0)
    if width <= 0 or height <= 0:
        return RecordError(str(file), f"images[{n}]", f"image {name!r} needs a positive 'width' and 'height'")
    local = finder.find(name)
    source = local or str(im.get("coco_url") or im.get("flickr_url") or "")
    if not local and not is_url(source):
        return RecordError(
            str(file), f"images[{n}]", f"image file {name!r} not found beside {file.name} or in images/"
        )
    regions: list[Region] = []
    for an, a in anns:
        got = _regions(a, categories, width, height)
        if isinstance(got, str):
            return RecordError(str(file), f"annotations[{an}]", got)
        regions += got
    metadata = {k: v for k, v in im.items() if k not in _IMAGE_KEYS} if len(im) > 4 else {}
    metadata["coco_image_id"] = im.get("id")
    return Record(stable_id(_stem(name)), source, metadata, (), tuple(regions), width, height)


def _stem(name: str) -> str:
    base = name.rpartition("/")[2] if "/" in name else name
    dot = base.rfind(".")
    return base[:dot] if dot > 0 else base


def _regions(a: Any, categories: dict[Any, str], width: int, height: int) -> list[Region] | str:
    if not isinstance(a, dict):
        return "an annotation must be an object"
    if a.get("category_id") not in categories:
        return f"unknown category_id {a.get('category_id')!r} (not in 'categories')"
    concepts = (categories[a["category_id"]],)
    raw_id = a.get("id")
    rid = str(raw_id) if type(raw_id) is int else stable_id(str(raw_id)) if raw_id is not None else ""
    seg = a.get("segmentation")
    if isinstance(seg, dict):
        try:
            mask = rle.from_coco(seg)
        except ValueError as e:
            return f"segmentation: {e}"
        if (mask.height, mask.width) != (height, width):
            return f"segmentation: RLE size {[mask.height, mask.width]} is not the image's {[height, width]}"
        box = _bbox(a, width, height)
        if isinstance(box, str):
            return box
        return [Region(concepts, box=box or rle.box_of(mask), mask=mask, id=rid)]
    if isinstance(seg, list) and seg:
        out = []
        for ring_no, ring in enumerate(seg):
            if not isinstance(ring, list) or len(ring) % 2:
                return f"segmentation[{ring_no}]: a polygon is a flat list of x, y pixel pairs"
            points = tuple(
                (float(ring[i]) / width, float(ring[i + 1]) / height) for i in range(0, len(ring), 2)
            )
            problem = check_polygon(points)
            if problem:
                return f"segmentation[{ring_no}]: {problem}"
            out.append(Region(concepts, polygon=points, id=rid if ring_no == 0 else f"{rid}-{ring_no}"))
        return out
    box = _bbox(a, width, height)
    if isinstance(box, str):
        return box
    if box is None:
        return "an annotation needs a 'bbox' or a 'segmentation'"
    return [Region(concepts, box=box, id=rid)]


def _bbox(a: dict[str, Any], width: int, height: int) -> Box | str | None:
    bbox = a.get("bbox")
    if not bbox:
        return None
    if not isinstance(bbox, list) or len(bbox) != 4:
        return f"bbox must be [x, y, width, height], got {bbox!r}"
    x, y, w, h = bbox
    try:
        top, left, bottom, right = y / height, x / width, (y + h) / height, (x + w) / width
    except TypeError:
        return f"bbox must be four numbers, got {bbox!r}"
    if 0 <= top < bottom <= 1 and 0 <= left < right <= 1:  # the common case, checked cheaply
        return tuple.__new__(Box, (top, left, bottom, right))
    box = Box(top, left, bottom, right)
    problem = check_box(box)
    if problem:
        return f"bbox {bbox}: {problem} of {width}x{height}"
    return clamped(box)


# ------------------------------------------------------------------------------------- writing


def write(records: list[Record], out: Path, file_names: dict[str, str]) -> None:
    """Write ``out/annotations.json`` for ``records`` (their images are named ``file_names[id]``
    inside ``out/images``; the caller copies or links them)."""
    concepts = sorted(
        {c for r in records for g in r.regions for c in g.concepts} | {c for r in records for c in r.concepts}
    )
    cat_ids = {c: n + 1 for n, c in enumerate(concepts)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for n, r in enumerate(records, start=1):
        w, h = r.width or 1, r.height or 1
        meta = {k: v for k, v in r.metadata.items() if k != "coco_image_id"}
        image = {"id": n, "file_name": file_names[r.input_id], "width": w, "height": h, **meta}
        if r.is_url:
            image["coco_url"] = r.source
        if r.concepts:
            image["concepts"] = list(r.concepts)
        images.append(image)
        for g in r.regions:
            for c in g.concepts:
                annotations.append(_annotation(len(annotations) + 1, n, cat_ids[c], g, w, h))
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": c, "supercategory": ""} for c, i in cat_ids.items()],
    }
    (out / "annotations.json").write_text(json.dumps(doc, indent=1))


def _annotation(aid: int, image_id: int, cat: int, g: Region, w: int, h: int) -> dict[str, Any]:
    box = g.box or (box_of_polygon(g.polygon) if g.polygon else Box(0, 0, 0, 0))
    x, y = box.left * w, box.top * h
    bw, bh = (box.right - box.left) * w, (box.bottom - box.top) * h
    a: dict[str, Any] = {
        "id": aid,
        "image_id": image_id,
        "category_id": cat,
        "bbox": [round(v, 3) for v in (x, y, bw, bh)],
        "area": round(bw * bh, 3),
        "iscrowd": 0,
    }
    if g.polygon:
        a["segmentation"] = [[round(v, 3) for p in g.polygon for v in (p[0] * w, p[1] * h)]]
    elif g.mask is not None:
        a["segmentation"] = rle.to_coco(g.mask)
        a["iscrowd"] = 1
    return a
