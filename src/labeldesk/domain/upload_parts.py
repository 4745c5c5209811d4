"""The parts of an upload: which bytes are there, and whether a part sent now is new, a retry or a
conflict. Pure rules, no I/O (``services/uploads.py`` stores parts and their bytes).

A part is ``(start, size, digest)``: ``size`` bytes from offset ``start`` whose SHA-256 is
``digest``. Stored parts never overlap, so an upload is complete exactly when their sizes add up to
its length.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Part(NamedTuple):
    start: int
    size: int
    digest: str
    number: int = 0

    @property
    def end(self) -> int:
        """One past the part's last byte."""
        return self.start + self.size


class PartRefused(ValueError):
    """The part cannot be stored; the message says why (without the field path)."""


def _span(start: int, end: int) -> str:
    return f"bytes {start:,}..{end - 1:,}"


def place(part: Part, length: int, stored: Iterable[Part]) -> bool:
    """True when ``part`` is new and must be stored, False when it repeats a stored part (a
    retry); :class:`PartRefused` when it is empty, ends beyond ``length``, or overlaps a stored
    part with other bytes or another range. ``stored``: the stored parts it may overlap."""
    if part.size <= 0:
        raise PartRefused("a part needs at least one byte")
    if part.end > length:
        raise PartRefused(f"{_span(part.start, part.end)} go beyond the upload's content_length {length:,}")
    for other in stored:
        if other.start >= part.end or other.end <= part.start:
            continue
        if (other.start, other.size, other.digest) == (part.start, part.size, part.digest):
            return False
        raise PartRefused(
            f"{_span(part.start, part.end)} overlap part {other.number} ({_span(other.start, other.end)}) "
            "with different bytes"
        )
    return True


def gaps(stored: Iterable[Part], length: int) -> list[tuple[int, int]]:
    """The byte ranges (first, last) of ``0..length - 1`` no stored part covers, in order."""
    out, at = [], 0
    for part in sorted(stored):
        if part.start > at:
            out.append((at, part.start - 1))
        at = max(at, part.end)
    if at < length:
        out.append((at, length - 1))
    return out
