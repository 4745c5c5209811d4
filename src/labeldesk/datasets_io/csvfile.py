"""CSV: one input a row. Columns ``id``, ``image`` (required: a path relative to the file, or an
http(s) URL), ``concepts`` (ids separated by ``;``), ``metadata`` (a JSON object) and ``regions``
(a JSON list of regions as in JSONL), ``width`` and ``height`` (pixels, optional). Extra columns
become metadata."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labeldesk.datasets_io import neutral
from labeldesk.datasets_io.records import FormatError, Item, Record, RecordError
from labeldesk.datasets_io.sources import dataset_file

COLUMNS = ("id", "image", "concepts", "metadata", "regions", "width", "height")


def read(path: Path) -> Iterator[Item]:
    file = dataset_file(path, ".csv")
    with file.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "image" not in reader.fieldnames:
            raise FormatError(RecordError(str(file), "line 1", "the header needs an 'image' column"))
        for row in reader:
            line = f"line {reader.line_num}"
            d: dict[str, Any] = {"id": row.get("id") or "", "image": row.get("image") or ""}
            if (row.get("width") or "").isdigit() and (row.get("height") or "").isdigit():
                d["width"], d["height"] = int(row["width"]), int(row["height"])
            d["concepts"] = [c.strip() for c in (row.get("concepts") or "").split(";") if c.strip()]
            try:
                d["metadata"] = json.loads(row["metadata"]) if row.get("metadata") else {}
                d["regions"] = json.loads(row["regions"]) if row.get("regions") else []
            except json.JSONDecodeError as e:
                yield RecordError(str(file), line, f"broken JSON in the metadata or regions column: {e.msg}")
                continue
            extra = {k: v for k, v in row.items() if k not in COLUMNS and k and v}
            if extra and isinstance(d["metadata"], dict):
                d["metadata"] = {**extra, **d["metadata"]}
            got = neutral.from_dict(d, file.parent)
            yield RecordError(str(file), line, got) if isinstance(got, str) else got


def write(records: list[Record], out: Path, images: dict[str, str]) -> None:
    with (out / "dataset.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in records:
            d = neutral.to_dict(r, neutral.image_ref(r, images))
            w.writerow(
                [
                    d["id"],
                    d["image"],
                    ";".join(d.get("concepts", [])),
                    json.dumps(d["metadata"]) if "metadata" in d else "",
                    json.dumps(d["regions"]) if "regions" in d else "",
                    d.get("width", ""),
                    d.get("height", ""),
                ]
            )
