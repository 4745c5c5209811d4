"""Reading the files a dataset consists of: JSON with the line of a syntax error, images looked
up in the folders each format keeps them in."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from labeldesk.datasets_io.records import FormatError, RecordError


def load_json(file: Path) -> Any:
    try:
        raw = file.read_bytes()
    except OSError as e:
        raise FormatError(RecordError(str(file), "", f"cannot read: {e}")) from e
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(RecordError(str(file), "", f"cannot read: {e}")) from e
    try:  # the standard library's error names the line
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(
            RecordError(str(file), f"line {e.lineno}", f"broken JSON: {e.msg} (column {e.colno})")
        ) from e


class ImageFinder:
    """Finds image files by name in a few folders, listing each folder once (a stat per image
    would dominate an import of 100k files): a plain name is one lookup in a map of every
    listed name to the path of its first folder."""

    def __init__(self, base: Path, folders: Iterable[str]) -> None:
        self._dirs = [str(base / f if f else base) for f in folders]
        self._paths: dict[str, str] | None = None

    def _all_paths(self) -> dict[str, str]:
        paths: dict[str, str] = {}
        for folder in reversed(self._dirs):  # earlier folders win
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            prefix = folder + os.sep
            paths.update({name: prefix + name for name in names})
        self._paths = paths
        return paths

    def find(self, name: str) -> str | None:
        """The path of ``name`` in the first folder that has it, else None."""
        paths = self._paths if self._paths is not None else self._all_paths()
        found = paths.get(name)  # a plain name (a name with a folder is in no listing)
        if found is not None or ("/" not in name and "\\" not in name):
            return found
        for folder in self._dirs:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                return candidate
        return None


def dataset_file(path: Path, suffix: str) -> Path:
    """``path`` itself, or the first ``*<suffix>`` file of the folder ``path``."""
    if not path.is_dir():
        return path
    found = sorted(path.glob(f"*{suffix}"))
    if not found:
        raise FormatError(RecordError(str(path), "", f"no {suffix} file in the folder"))
    return found[0]
