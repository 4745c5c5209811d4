"""Pascal VOC: one XML file per image (``Annotations/*.xml``) with ``filename``, ``size`` and
``object`` elements (``name``, ``bndbox`` xmin ymin xmax ymax in pixels); images in
``JPEGImages/`` (or beside the XML files). Concepts are the object names: VOC has no class list,
so any name is known."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from labeldesk.datasets_io.records import (
    Box,
    Item,
    Record,
    RecordError,
    Region,
    box_of_polygon,
    check_box,
    clamped,
    is_url,
    stable_id,
)
from labeldesk.datasets_io.sources import ImageFinder


def read(root: Path) -> Iterator[Item]:
    folder = root / "Annotations" if (root / "Annotations").is_dir() else root
    finder = ImageFinder(root, ("JPEGImages", "images", "", str(folder.relative_to(root))))
    for xml_file in sorted(folder.glob("*.xml")):
        yield _record(xml_file, finder)


def _text(el: ET.Element, path: str) -> str:
    found = el.find(path)
    return (found.text or "").strip() if found is not None else ""


def _record(xml_file: Path, finder: ImageFinder) -> Item:
    try:
        doc = ET.parse(xml_file).getroot()
    except ET.ParseError as e:
        line, col = e.position
        return RecordError(
            str(xml_file), f"line {line}", f"broken XML: {e.msg if hasattr(e, 'msg') else e} (column {col})"
        )
    name = _text(doc, "filename") or xml_file.with_suffix(".jpg").name
    try:
        width, height = int(float(_text(doc, "size/width"))), int(float(_text(doc, "size/height")))
    except ValueError:
        return RecordError(str(xml_file), "size", "needs <size><width> and <height> in pixels")
    if width <= 0 or height <= 0:
        return RecordError(str(xml_file), "size", f"size {width}x{height} is not positive")
    local = finder.find(name)
    url = _text(doc, "source/url") or _text(doc, "path")
    if local is None and not is_url(url):
        return RecordError(
            str(xml_file), "filename", f"image file {name!r} not found in JPEGImages/ or beside it"
        )
    regions = []
    for n, obj in enumerate(doc.findall("object")):
        label = _text(obj, "name")
        if not label:
            return RecordError(str(xml_file), f"object[{n}]", "an object needs a <name>")
        try:
            xmin, ymin, xmax, ymax = (
                float(_text(obj, f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")
            )
        except ValueError:
            return RecordError(str(xml_file), f"object[{n}]", "needs <bndbox> with xmin, ymin, xmax, ymax")
        box = Box(ymin / height, xmin / width, ymax / height, xmax / width)
        problem = check_box(box)
        if problem:
            return RecordError(
                str(xml_file),
                f"object[{n}]",
                f"bndbox ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}): {problem} of {width}x{height}",
            )
        regions.append(Region((stable_id(label),), box=clamped(box)))
    return Record(
        input_id=stable_id(Path(name).stem),
        source=local or url,
        regions=tuple(regions),
        width=width,
        height=height,
    )


def write(records: list[Record], out: Path, file_names: dict[str, str]) -> None:
    """``out/Annotations/<stem>.xml`` per record (images go to ``out/JPEGImages``)."""
    folder = out / "Annotations"
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        w, h = r.width or 1, r.height or 1
        objects = []
        for g in r.regions:
            b = g.box or (box_of_polygon(g.polygon) if g.polygon else None)  # VOC has no polygons
            if b is None:
                continue
            for c in g.concepts:
                objects.append(
                    f"  <object><name>{escape(c)}</name><difficult>0</difficult><bndbox>"
                    f"<xmin>{b.left * w:.2f}</xmin><ymin>{b.top * h:.2f}</ymin>"
                    f"<xmax>{b.right * w:.2f}</xmax><ymax>{b.bottom * h:.2f}</ymax></bndbox></object>\n"
                )
        name = file_names[r.input_id]
        url = f"  <source><url>{escape(r.source)}</url></source>\n" if r.is_url else ""
        (folder / Path(name).with_suffix(".xml").name).write_text(
            f"<annotation>\n  <folder>JPEGImages</folder>\n  <filename>{escape(name)}</filename>\n{url}"
            f"  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>\n"
            f"{''.join(objects)}</annotation>\n"
        )
