"""The one clock storage uses, so tests and leases agree on what "now" is."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
