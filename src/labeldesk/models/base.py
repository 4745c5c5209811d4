"""What every backend adapter answers: per image, concepts with values and regions (a box or a
polygon in relative coordinates, with concepts). A failure is a :class:`BackendError` naming the
backend and what went wrong (unreachable, timed out, an HTTP error, an answer it cannot read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

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
    """An image to predict on: its bytes, and its URL when it has a public one."""

    data: bytes
    url: str = ""


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
