"""Short-lived signed URLs of the ``/files`` route, so that an ``<img>`` loads a hosted file
without an Authorization header.

A URL reads ``{origin}/files/{size}/{app}/{key}?exp={unix seconds}&sig={signature}`` where
``app`` is the app's integer key, ``size`` one of the blob's sizes (``orig``, ``tiny``,
``small``) and ``signature`` the unpadded base64url HMAC-SHA256, under the server secret
``files`` (table ``server_secrets``, the same on every replica), of ``"{app}/{key}/{exp}"``.
The size is outside the signature on purpose: Clarifai's ``hosted`` block gives one
``prefix`` and one ``suffix`` that a client joins with any listed size
(``{prefix}/{size}/{suffix}``), and every size is a rendering of the same file.

Expiry times are rounded up to a step of 1/8 of the lifetime, so that an input read twice
within a few minutes gets the same URL and the browser's cache keeps working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from urllib.parse import urlencode

ROUTE = "/files"


def _mac(secret: bytes, app: str, key: str, exp: int) -> str:
    digest = hmac.new(secret, f"{app}/{key}/{exp}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def expiry(now: float, ttl: int) -> int:
    """When a URL signed at ``now`` stops working: at least ``ttl`` seconds later, rounded up
    to a step of ttl/8 (``ttl`` 0: already expired, which tests use)."""
    if ttl <= 0:
        return int(now)
    step = max(1, ttl // 8)
    return -(-math.ceil(now + ttl) // step) * step


@dataclass(frozen=True)
class UrlSigner:
    """Signs and checks file URLs with the server secret; ``ttl`` is their lifetime in seconds."""

    secret: bytes
    ttl: int

    def query(self, app: str, key: str, now: float | None = None) -> str:
        """The ``exp=…&sig=…`` query string of a fresh URL for the blob."""
        exp = expiry(time.time() if now is None else now, self.ttl)
        return urlencode({"exp": exp, "sig": _mac(self.secret, app, key, exp)})

    def check(self, app: str, key: str, exp: str, sig: str, now: float | None = None) -> str:
        """ "" when the URL is good; else why it is refused ("altered" or "expired")."""
        try:
            exp_n = int(exp)
        except ValueError:
            return "altered"
        if not hmac.compare_digest(_mac(self.secret, app, key, exp_n), sig):
            return "altered"
        if (time.time() if now is None else now) >= exp_n:
            return "expired"
        return ""

    def links(self, origin: str) -> FileLinks:
        return FileLinks(self, origin.rstrip("/"))


@dataclass(frozen=True)
class FileLinks:
    """The signer plus where this request's caller reaches the server (``http://host:port``)."""

    signer: UrlSigner
    origin: str

    @property
    def prefix(self) -> str:
        """``hosted.prefix``: the files route at this origin."""
        return self.origin + ROUTE

    def suffix(self, app: str, key: str) -> str:
        """``hosted.suffix``: ``{app}/{key}?exp=…&sig=…``."""
        return f"{app}/{key}?{self.signer.query(app, key)}"

    def url(self, app: str, key: str, size: str = "orig") -> str:
        return f"{self.prefix}/{size}/{self.suffix(app, key)}"
