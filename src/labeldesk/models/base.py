"""What every backend adapter answers: per image, concepts with values and regions (a box or a
polygon in relative coordinates, with concepts). A failure is a :class:`BackendError` naming the
backend and what went wrong (unreachable, timed out, an HTTP error, an answer it cannot read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pybase64

# Why a backend failed: the status codes the API answers for them.
UNREACHABLE = "unreachable"
TIMEOUT = "timeout"
HTTP_ERROR = "http_error"
GARBAGE = "bad_answer"
BAD_INPUT = "bad_input"


@dataclass(frozen=True)
class Score:
    concept: str  # concept id (the backend's label)
    value: float


@dataclass(frozen=True)
class Region:
    concepts: tuple[Score, ...]
    box: tuple[float, float, float, float] | None = None  # top_row, left_col, bottom_row, right_col (0-1)
    polygon: tuple[tuple[float, float], ...] | None = None  # (x = col, y = row) pairs, 0-1


@dataclass
class Prediction:
    concepts: list[Score] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)


@dataclass(frozen=True)
class Image:
    """An image to predict on: its bytes -- raw, or as the standard base64 text a client sent
    (``b64``: handed to backends that take base64 as it came, never decoded and encoded again) --
    and its URL when it has a public one."""

    data: bytes = b""
    url: str = ""
    b64: bytes | memoryview = b""

    def base64(self) -> bytes | memoryview:
        return self.b64 or pybase64.b64encode(self.data)

    def raw(self) -> bytes:
        return self.data or pybase64.b64decode(self.b64)

    def head(self) -> bytes:
        """The first 12 bytes (enough to tell PNG, GIF, WebP and JPEG apart)."""
        return self.data[:12] or pybase64.b64decode(self.b64[:16])


class BackendError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Adapter(Protocol):
    def predict(self, images: list[Image]) -> list[Prediction]:
        """One prediction per image, in order; BackendError when the backend fails."""


def clamp01(v: float) -> float:
    return min(1.0, max(0.0, v))


def number(v: object, where: str) -> float:
    """A number from a backend's answer, or a GARBAGE error naming where it was expected."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise BackendError(GARBAGE, f"{where}: expected a number, got {str(v)[:40]!r}")
    return float(v)
