"""Where dataset version archives are kept (the blob store, beside the hosted files) and how
their signed, short-lived URLs are made and checked (served by ``transport/rest/exports.py``,
built by ``jobs/version_exports.py``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from labeldesk.files.store import BlobStore, check_name
from labeldesk.services.context import RequestContext

ROUTE = "/exports"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass
class ExportLinks:
    """Where archives are kept (blob ``<key>`` of app ``<app pk>`` in ``store``) and their signed URLs:
    ``{origin}/exports/{app}/{key}?exp=…&sig=…`` with an HMAC-SHA256 under the server secret
    ``exports`` of ``"{app}/{key}/{exp}"``. The origin is the caller's (as it reached the REST
    port) or, for gRPC callers, ``server_origin``: the REST address the server listens on."""

    store: BlobStore
    secret: bytes
    ttl: int = 3600
    server_origin: str = ""

    def _mac(self, app: str, key: str, exp: int) -> str:
        digest = hmac.new(self.secret, f"{app}/{key}/{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def origin(self, ctx: RequestContext) -> str:
        links = getattr(ctx, "files", None)
        return str(getattr(links, "origin", "") or self.server_origin)

    def url(self, ctx: RequestContext, app_pk: int, key: str) -> str:
        exp = int(time.time()) + self.ttl
        return f"{self.origin(ctx)}{ROUTE}/{app_pk}/{key}?exp={exp}&sig={self._mac(str(app_pk), key, exp)}"

    def check(self, app: str, key: str, exp: str, sig: str) -> str:
        """'' when the URL is good, else why not."""
        if not exp.isdigit() or not hmac.compare_digest(self._mac(app, key, int(exp)), sig):
            return "altered"
        return "expired" if time.time() >= int(exp) else ""

    def _names(self, app_pk: int | str, key: str) -> tuple[str, str]:
        if not str(app_pk).isdigit() or not _NAME.fullmatch(key) or ".." in key:
            raise ValueError(f"not an archive name: {key!r}")
        return str(app_pk), check_name(key)

    def put(self, app_pk: int, key: str, data: bytes) -> None:
        self.store.put(*self._names(app_pk, key), data, "application/zip")

    def put_file(self, app_pk: int, key: str, path: Path) -> None:
        """Store the file at ``path`` (moved into place when the store can, else read and put)."""
        app, name = self._names(app_pk, key)
        put_file = getattr(self.store, "put_file", None)
        if put_file is not None:
            put_file(app, name, path)
        else:
            self.store.put(app, name, path.read_bytes(), "application/zip")

    def open(self, app_pk: int | str, key: str) -> BinaryIO | None:
        return self.store.open(*self._names(app_pk, key))

    def local_path(self, app_pk: int | str, key: str) -> Path | None:
        return self.store.local_path(*self._names(app_pk, key))

    def exists(self, app_pk: int, key: str) -> bool:
        if self.local_path(app_pk, key) is not None:
            return True
        f = self.open(app_pk, key)
        if f is None:
            return False
        f.close()
        return True

    def delete(self, app_pk: int, key: str) -> None:
        self.store.delete(*self._names(app_pk, key))
