"""Time per item and throughput (domain/timing.py): table tests and properties."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from labeldesk.domain.timing import Stamp, bucket_for, item_seconds, summary, throughput

T0 = datetime(2026, 12, 6, 4, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_batch_handed_out_at_once_is_timed_one_item_after_another() -> None:
    # three inputs handed out together at 0; submitted at 10, 25 and 55
    stamps = [Stamp("a", at(0), at(s)) for s in (25, 10, 55)]
    assert item_seconds(stamps) == {"a": [10.0, 15.0, 30.0]}


def test_an_item_started_after_the_previous_submission_counts_from_its_start() -> None:
    stamps = [Stamp("a", at(0), at(10)), Stamp("a", at(100), at(104))]
    assert item_seconds(stamps) == {"a": [10.0, 4.0]}


def test_workers_are_timed_apart_and_unstarted_first_items_are_not_timed() -> None:
    stamps = [Stamp("a", None, at(5)), Stamp("a", None, at(9)), Stamp("b", at(1), at(3))]
    assert item_seconds(stamps) == {"a": [4.0], "b": [2.0]}


def test_summary_and_empty_summary() -> None:
    assert summary([4.0, 10.0, 1.0]) == {"items": 3, "median_seconds": 4.0, "mean_seconds": 5.0}
    assert summary([]) == {"items": 0, "median_seconds": 0.0, "mean_seconds": 0.0}


def test_throughput_fills_empty_buckets() -> None:
    stamps = [Stamp("a", None, at(s)) for s in (0, 30, 200)]
    assert [p["count"] for p in throughput(stamps, 60)] == [2, 0, 0, 1]
    assert throughput([], 60) == []


def test_bucket_size_follows_the_span() -> None:
    assert bucket_for([]) == 60
    assert bucket_for([Stamp("a", None, at(0)), Stamp("a", None, at(3000))]) == 60
    assert bucket_for([Stamp("a", None, at(0)), Stamp("a", None, at(7200))]) == 600
    assert bucket_for([Stamp("a", None, at(0)), Stamp("a", None, at(86400 * 30))]) == 86400


@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 1e5), st.floats(0, 1e5)), max_size=40))
def test_times_are_never_negative_and_throughput_counts_every_submission(
    rows: list[tuple[str, float, float]],
) -> None:
    stamps = [Stamp(w, at(s), at(s + d)) for w, s, d in rows]
    spans = item_seconds(stamps)
    assert all(x >= 0 for xs in spans.values() for x in xs)
    assert sum(len(xs) for xs in spans.values()) == len(stamps), "every started item is timed"
    assert sum(int(str(p["count"])) for p in throughput(stamps, bucket_for(stamps))) == len(stamps)
