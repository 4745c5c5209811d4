"""Which inputs of a MANUAL-review task go to reviewers.

The scale of ``TaskReviewManualStrategyInfo.sample_percentage`` (a proto ``float``)
------------------------------------------------------------------------------------
Clarifai's proto comment and documentation example use a *fraction* (``0.5`` meaning half), while
the name says *percentage*; both kinds of clients exist, so both are accepted (:func:`sample_percent`):

* a value in ``[0, 1]`` is a **fraction**: ``0.5`` → 50 %, ``0.05`` → 5 %, ``1`` → 100 %;
* a value in ``(1, 100]`` is a **percentage**: ``30`` → 30 %, ``1.5`` → 1.5 %;
* anything else (negative, above 100, NaN, infinite) is refused with ApiError 11102.

So a share of 1 % or less must be written as a fraction (``0.01``). The wire value is a 32-bit
float, so it is read to 7 significant digits (``0.3`` arrives as ``0.30000001192…`` and means
exactly 30 %).

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

__all__ = ["is_sampled_for_review", "sample_percent"]

_HASH_BYTES = 8
_HASH_SPACE = 1 << (8 * _HASH_BYTES)


def sample_percent(sample_percentage: float) -> float:
    """The share of inputs to review, in percent, from ``sample_percentage`` as a client sends it
    (see the module docstring): a value in [0, 1] is a fraction, one in (1, 100] a percentage.
    Anything else raises ApiError 11102 saying how to write the share."""
    if not math.isfinite(sample_percentage) or not 0.0 <= sample_percentage <= 100.0:
        raise errors.invalid(
            f"sample_percentage ({sample_percentage}) must be between 0 and 100: a value from 0 to 1 is "
            "a fraction (0.5 means 50 %), a value above 1 a percentage (30 means 30 %)"
        )
    exact = Fraction(f"{sample_percentage:.7g}")  # the float32 the wire carried, as the client wrote it
    return float(exact * 100 if exact <= 1 else exact)


def _check_percent(percent: float) -> float:
    """Return ``percent`` if it is an already normalised percentage in [0, 100], else ApiError 11102."""
    if not math.isfinite(percent) or not 0.0 <= percent <= 100.0:
        raise errors.invalid(f"review sample ({percent} %) must be between 0 and 100 percent")
    return percent


def _bucket(salt: str, input_id: str) -> int:
    """A uniform 64-bit integer for the pair; length-prefixing keeps ``("ab","c")`` ≠ ``("a","bc")``."""
    salt_bytes = salt.encode("utf-8")
    message = len(salt_bytes).to_bytes(4, "big") + salt_bytes + input_id.encode("utf-8")
    digest = hashlib.blake2b(message, digest_size=_HASH_BYTES, person=b"labeldesk-review").digest()
    return int.from_bytes(digest, "big")


def is_sampled_for_review(salt: str, input_id: str, percent: float) -> bool:
    """Whether ``input_id`` is in the review sample of a task salted by ``salt``.

    ``percent`` is the share already normalised by :func:`sample_percent` (0 to 100; pass
    ``TaskRecord.sample_percentage``, never the raw request value). Deterministic; over many
    inputs the sampled share converges to ``percent`` %. The comparison is done in exact rational
    arithmetic, so 0 samples nothing and 100 samples everything, with no float rounding at either end.
    """
    _check_percent(percent)
    # bucket / 2**64 < p / 100   <=>   bucket * 100 < p * 2**64   (p exactly, as a Fraction)
    return _bucket(salt, input_id) * 100 < Fraction(percent) * _HASH_SPACE
