"""``metadata.labeldesk.max_concurrency``: a whole number of calls in flight in [1, 64], default 4;
JSON numbers (floats over the Struct) that are whole are accepted; it is not part of the version."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labeldesk.domain import errors
from labeldesk.domain import model_binding as mb

BASE = {"backend": "oip", "url": "http://m:8000", "model_name": "det"}


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [(None, mb.DEFAULT_CONCURRENCY), (1, 1), (2.0, 2), (64, 64)],
)
def test_max_concurrency_is_read(given_value: Any, expected: int) -> None:
    block = dict(BASE) if given_value is None else {**BASE, "max_concurrency": given_value}
    binding = mb.parse({"labeldesk": block})
    assert binding is not None and binding.max_concurrency == expected


@pytest.mark.parametrize("bad", [0, 65, 1.5, -1, True, "4", None])
def test_a_bad_max_concurrency_is_refused_naming_the_field(bad: Any) -> None:
    with pytest.raises(errors.ApiError, match=r"labeldesk\.max_concurrency: give a whole number"):
        mb.parse({"labeldesk": {**BASE, "max_concurrency": bad}})


@given(st.integers(1, mb.MAX_CONCURRENCY), st.integers(1, mb.MAX_CONCURRENCY))
def test_concurrency_never_changes_the_model_version(a: int, b: int) -> None:
    one = mb.parse({"labeldesk": {**BASE, "max_concurrency": a}})
    two = mb.parse({"labeldesk": {**BASE, "max_concurrency": b}})
    assert mb.version_id(one) == mb.version_id(two)
