"""services/common.py: the helpers every service leans on."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from labeldesk.domain import errors
from labeldesk.services.common import new_id, new_ids, ordered_ids, page_of, struct_to_dict, timestamp


@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    st.sampled_from(
        [None, timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    ),
)
def test_timestamp_matches_protobuf(dt: datetime, tz: timezone | None) -> None:
    dt = dt.replace(tzinfo=tz)
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc))
    assert timestamp(dt) == expected


def test_timestamp_of_none_is_empty() -> None:
    assert timestamp(None) == timestamp_pb2.Timestamp()


@pytest.mark.parametrize(
    ("page", "per_page", "expected"),
    [(0, 0, (1, 128)), (3, 10, (3, 10)), (1, 1000, (1, 1000))],
)
def test_page_of(page: int, per_page: int, expected: tuple[int, int]) -> None:
    p = page_of(page, per_page)
    assert (p.page, p.per_page) == expected


def test_page_of_refuses_huge_pages() -> None:
    with pytest.raises(errors.ApiError) as e:
        page_of(1, 1001)
    assert e.value.code == errors.INVALID_REQUEST and "per_page" in e.value.description


def test_struct_to_dict_keeps_nested_values() -> None:
    s = struct_pb2.Struct()
    s.update({"a": 1, "b": {"c": [True, None, "x"]}})
    assert struct_to_dict(s) == {"a": 1.0, "b": {"c": [True, None, "x"]}}
    assert struct_to_dict(struct_pb2.Struct()) is None


class _Item:
    def __init__(self, id: str) -> None:
        self.id = id


@pytest.mark.parametrize(
    ("ids", "taken", "code", "text"),
    [
        ([], set(), errors.INVALID_REQUEST, "at least one"),
        (["a", "a"], set(), errors.INVALID_REQUEST, "more than once"),
        (["bad id"], set(), errors.INVALID_REQUEST, "not a valid"),
        (["a", "b"], {"b"}, errors.DUPLICATE_KEY, "'b' already exist"),
    ],
)
def test_new_ids_refusals(ids: list[str], taken: set[str], code: int, text: str) -> None:
    with pytest.raises(errors.ApiError) as e:
        new_ids("thing", "things", [_Item(i) for i in ids], lambda xs: [x for x in xs if x in taken])
    assert e.value.code == code and text in e.value.description


def test_new_ids_generates_missing_ids() -> None:
    ids = new_ids("thing", "things", [_Item(""), _Item("given")], lambda xs: [])
    assert ids[1] == "given" and len(ids[0]) == 32


def test_new_ids_are_random_version_4_uuids() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for i in ids:
        parsed = uuid.UUID(i)
        assert parsed.hex == i and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_ordered_ids_start_with_the_time_and_are_distinct() -> None:
    before = time.time_ns() // 1_000_000
    ids = ordered_ids(1000)
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert all(before <= int(i[:12], 16) <= after for i in ids)
    assert ordered_ids(1)[0][:12] >= ids[-1][:12]
