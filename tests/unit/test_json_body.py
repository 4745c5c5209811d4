"""Request bodies are read by orjson when it reads them exactly as ``json`` does, else by ``json``:
the same value for every document either accepts, the same errors for the rest."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labeldesk.domain.errors import ApiError
from labeldesk.transport.convert.json_parse import _loads

_scalars = st.none() | st.booleans() | st.floats(allow_nan=False) | st.text() | st.integers()
_documents = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
)


@given(_documents)
def test_any_document_reads_as_json_reads_it(document: Any) -> None:
    body = json.dumps(document).encode()
    assert _loads(body) == json.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"x": 123456789012345678901234567890}',  # orjson would make it a float
        b'{"x": -18446744073709551616}',
        b'\xef\xbb\xbf{"x": 1}',  # a byte-order mark
        b'{"x": "\\ud800"}',  # a lone surrogate
        b'{"x": 1e400}',
    ],
)
def test_what_orjson_refuses_or_reads_differently_reads_as_json_reads_it(body: bytes) -> None:
    assert _loads(body) == json.loads(body.decode("utf-8-sig"))
    assert type(_loads(body)["x"]) is type(json.loads(body.decode("utf-8-sig"))["x"])


def test_nan_is_read_as_before() -> None:
    assert math.isnan(_loads(b'{"x": NaN}')["x"])


@pytest.mark.parametrize(
    ("body", "says"),
    [(b'{"x": 1,}', "not valid JSON"), (b'{"x": "\xff"}', "not valid UTF-8")],
)
def test_bad_bodies_are_named_as_before(body: bytes, says: str) -> None:
    with pytest.raises(ApiError, match=says):
        _loads(body)
