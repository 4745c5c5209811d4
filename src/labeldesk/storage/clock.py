"""The one clock the server uses, so tests and leases agree on what "now" is.

Tests never sleep to let a lease run out: :func:`advance` moves this process's clock forward and
:func:`reset` puts it back (the ``clock`` fixture in ``tests/conftest.py`` does both).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_skew = timedelta(0)


def utcnow() -> datetime:
    return datetime.now(timezone.utc) + _skew


def advance(seconds: float) -> None:
    """Move the clock of this process forward by ``seconds`` (tests only)."""
    global _skew
    _skew += timedelta(seconds=seconds)


def reset() -> None:
    """Back to the wall clock."""
    global _skew
    _skew = timedelta(0)
