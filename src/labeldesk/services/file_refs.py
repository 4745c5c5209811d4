"""Where an imported file's bytes go, and where an exported input's bytes come from.

One small seam between dataset import/export and the blob store: :func:`local_file_sink` answers
the function that turns a local image path into the URL stored on the input, and
:func:`local_path_of` turns a stored URL back into a readable file (or None for remote URLs).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

FileSink = Callable[[str], str]
_PLAIN = re.compile(r"[A-Za-z0-9/_.\-]*")


def local_file_sink() -> FileSink:
    """Local images are referenced in place (``file://`` URLs)."""

    plain_folders: dict[str, bool] = {}  # an import's files are in a few folders: each checked once

    def sink(path: str) -> str:
        full = path if path.startswith("/") else os.path.abspath(path)
        folder, _, name = full.rpartition("/")
        plain = plain_folders.get(folder)
        if plain is None:
            plain = plain_folders[folder] = _PLAIN.fullmatch(folder) is not None
        return "file://" + (full if plain and _PLAIN.fullmatch(name) else quote(full))

    return sink


def local_path_of(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(unquote(urlparse(url).path))
    return None
