"""Which inputs of a MANUAL-review task go to reviewers.

``TaskReviewManualStrategyInfo.sample_percentage`` is a proto ``float`` and is read as a
**percentage in [0, 100]**: ``10`` sends 10 % of inputs to review, and ``0.5`` (the value in one of
Clarifai's own examples) sends 0.5 % — not half. Reading it as a fraction when it is ≤ 1 would make
``1`` ambiguous (1 % or 100 %?), so no such guessing is done; values outside [0, 100] are rejected.

The choice is a pure function of ``(salt, input_id)`` so that every replica, every retry and every
later re-evaluation agrees on whether an input is sampled, with nothing stored. It uses BLAKE2b,
not Python's ``hash()`` (salted per process, so replicas would disagree). ``salt`` is the task id
in practice: the same input is sampled independently in different tasks.
"""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction

from labeldesk.domain import errors

__all__ = ["is_sampled_for_review", "validate_sample_percentage"]

_HASH_BYTES = 8
_HASH_SPACE = 1 << (8 * _HASH_BYTES)


def validate_sample_percentage(sample_percentage: float) -> float:
    """Return ``sample_percentage`` if it is a finite number in [0, 100], else raise ApiError 11102."""
    if not math.isfinite(sample_percentage) or not 0.0 <= sample_percentage <= 100.0:
        raise errors.invalid(
            f"review_strategy_info.sample_percentage ({sample_percentage}) must be between 0 and 100 "
            "(a percentage: 0.5 means 0.5 %)"
        )
    return sample_percentage


def _bucket(salt: str, input_id: str) -> int:
    """A uniform 64-bit integer for the pair; length-prefixing keeps ``("ab","c")`` ≠ ``("a","bc")``."""
    salt_bytes = salt.encode("utf-8")
    message = len(salt_bytes).to_bytes(4, "big") + salt_bytes + input_id.encode("utf-8")
    digest = hashlib.blake2b(message, digest_size=_HASH_BYTES, person=b"labeldesk-review").digest()
    return int.from_bytes(digest, "big")


def is_sampled_for_review(salt: str, input_id: str, sample_percentage: float) -> bool:
    """Whether ``input_id`` is in the review sample of a task salted by ``salt``.

    Deterministic; over many inputs the sampled share converges to ``sample_percentage`` %. The
    comparison is done in exact rational arithmetic, so 0 samples nothing and 100 samples
    everything, with no float rounding at either end.
    """
    validate_sample_percentage(sample_percentage)
    # bucket / 2**64 < p / 100   <=>   bucket * 100 < p * 2**64   (p exactly, as a Fraction)
    return _bucket(salt, input_id) * 100 < Fraction(sample_percentage) * _HASH_SPACE
