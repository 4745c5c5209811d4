"""Reading the files a dataset consists of: JSON with the line of a syntax error, images looked
up in the folders each format keeps them in."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labeldesk.datasets_io.records import FormatError, RecordError


def load_json(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(RecordError(str(file), "", f"cannot read: {e}")) from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(
            RecordError(str(file), f"line {e.lineno}", f"broken JSON: {e.msg} (column {e.colno})")
        ) from e


def find_image(base: Path, name: str, folders: Iterable[str]) -> Path | None:
    """``name`` in the first of ``folders`` (relative to ``base``) that has it, else None."""
    for folder in folders:
        candidate = (base / folder / name) if folder else base / name
        if candidate.is_file():
            return candidate
    return None
