"""The formats by name: what ``--format`` accepts for import and for export."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from labeldesk.datasets_io import coco, csvfile, folder, jsonl, voc, yolo
from labeldesk.datasets_io.records import Item, Record

Reader = Callable[[Path], Iterator[Item]]
Writer = Callable[[list[Record], Path, dict[str, str]], None]

READERS: dict[str, Reader] = {
    "coco": coco.read,
    "yolo": yolo.read,
    "voc": voc.read,
    "jsonl": jsonl.read,
    "csv": csvfile.read,
    "folder": folder.read,
}

# name -> (writer, the folder below OUT the images go to)
WRITERS: dict[str, tuple[Writer, str]] = {
    "coco": (coco.write, "images"),
    "yolo": (yolo.write_labels, "images"),
    "voc": (voc.write, "JPEGImages"),
    "jsonl": (jsonl.write, "images"),
    "csv": (csvfile.write, "images"),
}


def detect_format(path: Path) -> str:
    """The format of a dataset folder or file, from what it contains."""
    if path.is_file():
        return {".json": "coco", ".jsonl": "jsonl", ".csv": "csv"}.get(path.suffix.lower(), "")
    if (path / "classes.txt").is_file() or (path / "data.yaml").is_file() or (path / "labels").is_dir():
        return "yolo"
    if (path / "Annotations").is_dir():
        return "voc"
    if (path / "annotations.json").is_file() or any(path.glob("annotations/*.json")):
        return "coco"
    for suffix, fmt in ((".jsonl", "jsonl"), (".csv", "csv")):
        if any(path.glob(f"*{suffix}")):
            return fmt
    return "folder"
