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
