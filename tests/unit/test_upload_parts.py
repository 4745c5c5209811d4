"""Upload part bookkeeping (pure): new parts, retries, conflicts, and the missing byte ranges."""

from __future__ import annotations

import hashlib
import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labeldesk.domain.upload_parts import Part, PartRefused, gaps, place

A = Part(0, 10, "aa", 1)
B = Part(10, 10, "bb", 2)


@pytest.mark.parametrize(
    ("part", "stored", "new"),
    [
        (A, [], True),
        (B, [A], True),  # out of order is fine
        (A, [A], False),  # the same part again: a retry
        (Part(0, 10, "aa", 7), [A], False),  # a retry under another part number
    ],
)
def test_new_parts_and_retries(part: Part, stored: list[Part], new: bool) -> None:
    assert place(part, 20, stored) is new


@pytest.mark.parametrize(
    ("part", "stored", "message"),
    [
        (Part(0, 0, "x"), [], "a part needs at least one byte"),
        (Part(15, 10, "x"), [], "bytes 15..24 go beyond the upload's content_length 20"),
        (Part(0, 10, "zz"), [A], "bytes 0..9 overlap part 1 (bytes 0..9) with different bytes"),
        (Part(5, 10, "aa"), [A], "bytes 5..14 overlap part 1 (bytes 0..9) with different bytes"),
        (Part(0, 5, "aa"), [A], "overlap part 1"),
    ],
)
def test_refused_parts(part: Part, stored: list[Part], message: str) -> None:
    with pytest.raises(PartRefused, match=re.escape(message)):
        place(part, 20, stored)


def test_the_gaps_are_the_ranges_no_part_covers() -> None:
    assert gaps([], 20) == [(0, 19)]
    assert gaps([B], 25) == [(0, 9), (20, 24)]
    assert gaps([B, A], 20) == []


@given(st.binary(min_size=1, max_size=200), st.data())
def test_parts_sent_in_any_order_with_retries_complete_the_upload_exactly(
    data: bytes, draw: st.DataObject
) -> None:
    cuts = sorted(draw.draw(st.sets(st.integers(1, len(data) - 1), max_size=8)) if len(data) > 1 else set())
    bounds = [0, *cuts, len(data)]
    parts = [
        Part(a, b - a, hashlib.sha256(data[a:b]).hexdigest(), n)
        for n, (a, b) in enumerate(itertools.pairwise(bounds), start=1)
    ]
    sent = draw.draw(st.permutations(parts + draw.draw(st.lists(st.sampled_from(parts), max_size=4))))
    stored: list[Part] = []
    for part in sent:
        if place(part, len(data), stored):
            stored.append(part)
        assert sum(p.size for p in stored) + sum(b - a + 1 for a, b in gaps(stored, len(data))) == len(data)
    assert sorted(stored) == parts and gaps(stored, len(data)) == []
