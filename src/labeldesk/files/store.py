"""Where the bytes of hosted files live: a small interface and its local-directory implementation.

A blob is named by its app (the app's integer key, as text) and a key chosen by labeldesk
(32 hex characters, plus ``.tiny`` / ``.small`` for thumbnails). What a blob *is* (content type,
size, dimensions, owner input) is recorded in the database (table ``blobs``); the store only
keeps bytes, so any object store can implement it:

``put(app, key, data, content_type)``
    store (or replace) the bytes; ``content_type`` is for stores that serve files themselves.
``open(app, key) -> BinaryIO | None``
    the bytes for reading, or ``None`` when there is no such blob.
``delete(app, key)``
    remove the blob; removing a missing blob is not an error.
``local_path(app, key) -> Path | None``
    a file on this machine holding the bytes (the route then serves it with Range support),
    or ``None`` for remote stores.
``direct_url(app, key, expires_in) -> str | None``
    a URL the store serves itself (an S3 presigned GET), or ``None`` to use labeldesk's
    ``/files`` route. The local store answers ``None``.

Stores that can list what they hold (the local one: ``apps()``, ``keys(app, prefix)``) let the
server collect dataset version archives whose version or app is gone (``jobs/version_exports.py``).

Keys never contain ``/`` or ``..``: :func:`check_name` refuses anything but ``[A-Za-z0-9._-]``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(name: str) -> str:
    """``name`` when it is a safe path segment (no separators, no ``..``), else ValueError."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"not a valid blob name: {name!r}")
    return name


class BlobStore(Protocol):
    def put(self, app: str, key: str, data: bytes, content_type: str) -> None: ...

    def open(self, app: str, key: str) -> BinaryIO | None: ...

    def delete(self, app: str, key: str) -> None: ...

    def local_path(self, app: str, key: str) -> Path | None: ...

    def direct_url(self, app: str, key: str, expires_in: int) -> str | None: ...

    def keys(self, app: str, prefix: str = "") -> list[str]: ...


class LocalDirStore:
    """Blobs as files under ``root``: ``<root>/<app>/<key[:2]>/<key>``, written atomically
    (a temporary file renamed into place), so a reader never sees half a file."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalDirStore({str(self.root)!r})"

    def _path(self, app: str, key: str) -> Path:
        return self.root / check_name(app) / check_name(key)[:2] / key

    def put(self, app: str, key: str, data: bytes, content_type: str) -> None:
        path = self._path(app, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, app: str, key: str, source: Path) -> None:
        """Move the file ``source`` into place (copied first when it is on another filesystem)."""
        path = self._path(app, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        os.close(fd)
        try:
            shutil.move(source, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, app: str, key: str) -> BinaryIO | None:
        try:
            return self._path(app, key).open("rb")
        except FileNotFoundError:
            return None

    def delete(self, app: str, key: str) -> None:
        self._path(app, key).unlink(missing_ok=True)

    def local_path(self, app: str, key: str) -> Path | None:
        path = self._path(app, key)
        return path if path.is_file() else None

    def direct_url(self, app: str, key: str, expires_in: int) -> str | None:
        return None

    def apps(self) -> list[str]:
        """The apps that have blobs here."""
        try:
            return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name))
        except FileNotFoundError:
            return []

    def keys(self, app: str, prefix: str = "") -> list[str]:
        """The keys of ``app``'s blobs that start with ``prefix`` (only one folder is listed when
        the prefix names it); temporary files of writes under way are not blobs."""
        base = self.root / check_name(app)
        folders = (
            [base / prefix[:2]] if len(prefix) >= 2 else (sorted(base.iterdir()) if base.is_dir() else [])
        )
        out: list[str] = []
        for folder in folders:
            try:
                names = os.listdir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            out += sorted(n for n in names if n.startswith(prefix) and not n.startswith(".tmp-"))
        return out
