"""Where dataset version archives are kept and how their signed, short-lived URLs are made and
checked (served by ``transport/rest/exports.py``, built by ``jobs/version_exports.py``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from pathlib import Path

from labeldesk.services.context import RequestContext

ROUTE = "/exports"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass
class ExportLinks:
    """Where archives are kept (``<folder>/<app pk>/<key>``) and their signed URLs:
    ``{origin}/exports/{app}/{key}?exp=…&sig=…`` with an HMAC-SHA256 under the server secret
    ``exports`` of ``"{app}/{key}/{exp}"``. The origin is the caller's (as it reached the REST
    port) or, for gRPC callers, ``server_origin``: the REST address the server listens on."""

    folder: Path
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

    def path(self, app_pk: int | str, key: str) -> Path:
        if not _NAME.fullmatch(key) or ".." in key or not str(app_pk).isdigit():
            raise ValueError(f"not an archive name: {key!r}")
        return self.folder / str(app_pk) / key

    def delete(self, app_pk: int, key: str) -> None:
        self.path(app_pk, key).unlink(missing_ok=True)
