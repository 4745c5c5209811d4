"""YOLO (Ultralytics) detection and segmentation labels.

Layout: ``classes.txt`` (one name a line) or ``data.yaml`` (``names:``) at the root; images under
``images/`` (any sub-folders, e.g. ``images/train``) with one ``labels/<same path>.txt`` each, or
images and ``.txt`` files side by side. A label line is ``class cx cy w h`` (a box, normalised) or
``class x1 y1 x2 y2 x3 y3 ...`` (a polygon, normalised). An image without a label file has no regions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from labeldesk.datasets_io.records import (
    IMAGE_SUFFIXES,
    Box,
    FormatError,
    Item,
    Record,
    RecordError,
    Region,
    check_box,
    check_polygon,
    clamped,
    id_from_path,
    stable_id,
)


def class_names(root: Path) -> list[str]:
    classes = root / "classes.txt"
    if classes.is_file():
        return [stable_id(line.strip()) for line in classes.read_text().splitlines() if line.strip()]
    for name in ("data.yaml", "dataset.yaml"):
        if (root / name).is_file():
            return _yaml_names(root / name)
    raise FormatError(RecordError(str(root), "", "no classes.txt or data.yaml with the class names"))


def _yaml_names(file: Path) -> list[str]:
    import yaml  # PyYAML comes with the clarifai SDK; only data.yaml needs it

    try:
        doc = yaml.safe_load(file.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise FormatError(RecordError(str(file), where, f"broken YAML: {e}")) from e
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        return [stable_id(str(names[k])) for k in sorted(names)]
    if isinstance(names, list):
        return [stable_id(str(n)) for n in names]
    raise FormatError(RecordError(str(file), "", "'names' must be a list or a mapping of class names"))


def _images(root: Path) -> tuple[Path, list[Path]]:
    base = root / "images" if (root / "images").is_dir() else root
    found = []
    for folder, _dirs, files in os.walk(base):
        for f in files:
            if os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES:
                found.append(Path(folder) / f)
    return base, sorted(found)


def read(root: Path) -> Iterator[Item]:
    names = class_names(root)
    base, images = _images(root)
    labels = root / "labels" if base != root else root
    for image in images:
        rel = image.relative_to(base)
        label = (labels / rel).with_suffix(".txt")
        yield _record(image, base, label, names)


def _record(image: Path, base: Path, label: Path, names: list[str]) -> Item:
    regions: list[Region] = []
    if label.is_file():
        for n, line in enumerate(label.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            got = _region(line.split(), names)
            if isinstance(got, str):
                return RecordError(str(label), f"line {n}", got)
            regions.append(got)
    return Record(input_id=id_from_path(image, base), source=str(image), regions=tuple(regions))


def _region(cols: list[str], names: list[str]) -> Region | str:
    if len(cols) != 5 and (len(cols) < 7 or len(cols) % 2 == 0):
        return (
            f"{len(cols)} columns: expected 5 (class cx cy w h) or a class and at least 3 x y pairs "
            "(class x1 y1 x2 y2 x3 y3 ...)"
        )
    try:
        cls = int(cols[0])
        values = [float(v) for v in cols[1:]]
    except ValueError:
        return f"not numbers: {' '.join(cols)!r}"
    if not 0 <= cls < len(names):
        return f"unknown class {cls} (the class list has {len(names)}: 0..{len(names) - 1})"
    concepts = (names[cls],)
    if len(values) == 4:
        cx, cy, w, h = values
        box = Box(cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2)
        problem = check_box(box)
        return f"box {' '.join(cols[1:])}: {problem}" if problem else Region(concepts, box=clamped(box))
    points = tuple((values[i], values[i + 1]) for i in range(0, len(values), 2))
    problem = check_polygon(points)
    return problem or Region(concepts, polygon=points)


def write_labels(records: list[Record], out: Path, file_names: dict[str, str]) -> None:
    """``out/classes.txt`` and ``out/labels/<image stem>.txt`` (images go to ``out/images``)."""
    names = sorted({c for r in records for g in r.regions for c in g.concepts})
    index = {c: n for n, c in enumerate(names)}
    (out / "classes.txt").write_text("".join(f"{c}\n" for c in names))
    labels = out / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    for r in records:
        lines = []
        for g in r.regions:
            for c in g.concepts:
                if g.polygon:
                    lines.append(" ".join([str(index[c]), *(f"{v:.6f}" for p in g.polygon for v in p)]))
                elif g.box is not None:
                    b = g.box
                    cx, cy, w, h = (
                        (b.left + b.right) / 2,
                        (b.top + b.bottom) / 2,
                        b.right - b.left,
                        b.bottom - b.top,
                    )
                    lines.append(f"{index[c]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
        (labels / Path(file_names[r.input_id]).with_suffix(".txt").name).write_text(
            "".join(f"{x}\n" for x in lines)
        )
