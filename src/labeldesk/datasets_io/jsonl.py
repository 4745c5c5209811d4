"""JSON Lines: one neutral record (:mod:`labeldesk.datasets_io.neutral`) per line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from labeldesk.datasets_io import neutral
from labeldesk.datasets_io.records import Item, Record, RecordError
from labeldesk.datasets_io.sources import dataset_file


def read(path: Path) -> Iterator[Item]:
    file = dataset_file(path, ".jsonl")
    with file.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                yield RecordError(str(file), f"line {n}", f"broken JSON: {e.msg} (column {e.colno})")
                continue
            got = neutral.from_dict(d, file.parent)
            yield RecordError(str(file), f"line {n}", got) if isinstance(got, str) else got


def write(records: list[Record], out: Path, images: dict[str, str]) -> None:
    with (out / "dataset.jsonl").open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(neutral.to_dict(r, neutral.image_ref(r, images))) + "\n")
