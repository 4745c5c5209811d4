"""``serve --workers``: a whole number of processes from 1 to 64, or ``auto`` (one per CPU core
the server may run on); anything else is refused naming what to give. ``auto`` end to end:
tests/ops/test_workers_auto.py."""

from __future__ import annotations

import os
import re

import click
import pytest

from labeldesk.cli import MAX_WORKERS, WorkerCount, usable_cores


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1", 1), ("2", 2), (" 8 ", 8), ("64", 64), (3, 3), ("auto", None), ("AUTO", None), (" auto ", None)],
)
def test_a_count_or_auto_is_read(given: object, expected: int | None) -> None:
    want = min(usable_cores(), MAX_WORKERS) if expected is None else expected
    assert WorkerCount().convert(given, None, None) == want


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("0", "give 1 to 64 processes (or 'auto'), not 0"),
        ("65", "give 1 to 64 processes (or 'auto'), not 65"),
        ("-2", "give 1 to 64 processes (or 'auto'), not -2"),
        ("two", "give a whole number of processes (1 to 64) or 'auto', not 'two'"),
        ("1.5", "give a whole number of processes (1 to 64) or 'auto', not '1.5'"),
        ("", "give a whole number of processes (1 to 64) or 'auto', not ''"),
    ],
)
def test_anything_else_is_refused_saying_what_to_give(given: str, says: str) -> None:
    with pytest.raises(click.BadParameter, match=f"^{re.escape(says)}$"):
        WorkerCount().convert(given, None, None)


def test_auto_counts_the_cores_this_process_may_use() -> None:
    if hasattr(os, "sched_getaffinity"):
        assert usable_cores() == len(os.sched_getaffinity(0))
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)
