"""What ``labeldesk import --server PATH`` uploads: an archive as it is, or a folder (or one file)
packed into a temporary zip. Images are stored (already compressed), annotation files deflated."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
#: files compressing too little to be worth the CPU (the server's readers take these images)
STORED = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".mp4", ".zip", ".gz", ".tgz"}
)


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _members(path: Path) -> Iterator[tuple[Path, str]]:
    """(file, name in the archive): a folder's files below it (sorted; links to files followed),
    or one file under its own name."""
    if path.is_file():
        yield path, path.name
        return
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            file = Path(folder, name)
            if file.is_file():
                yield file, file.relative_to(path).as_posix()


@contextmanager
def archive_of(path: Path) -> Iterator[Path]:
    """``path`` when it is an archive already, else a temporary zip of it (deleted afterwards)."""
    if is_archive(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="labeldesk-upload-") as tmp:
        out = Path(tmp) / f"{path.resolve().name or 'dataset'}.zip"
        with zipfile.ZipFile(out, "w", allowZip64=True) as z:
            for file, name in _members(path):
                compress = zipfile.ZIP_STORED if file.suffix.lower() in STORED else zipfile.ZIP_DEFLATED
                z.write(file, name, compress_type=compress)
        yield out
