"""At most N units of work at once per process on PostgreSQL (storage/unit_turns.py): the others
wait their turn and are counted, a nested unit runs in its caller's turn, a failing unit gives its
turn back; and (with ``LABELDESK_TEST_DATABASE_URL``) ``Database.run`` takes its turns so."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from labeldesk.config import Settings
from labeldesk.storage.engine import Database
from labeldesk.storage.raw import Sql
from labeldesk.storage.unit_turns import UnitTurns, stepped_out

PG_URL = os.environ.get("LABELDESK_TEST_DATABASE_URL", "")
WAIT = 10.0  # seconds: only a broken implementation makes a test wait this long


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _crowd(
    run_unit: Callable[[Callable[[], None]], None], size: int, threads: int, waits: Callable[[], int]
) -> int:
    """``threads`` threads each run a unit (through ``run_unit``) that holds its turn until all of
    the others are inside or waiting; answers the most that were inside at once."""
    inside, most = 0, 0
    lock, release = threading.Lock(), threading.Event()

    def unit() -> None:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        assert release.wait(WAIT)
        with lock:
            inside -= 1

    crowd = [threading.Thread(target=run_unit, args=(unit,)) for _ in range(threads)]
    for t in crowd:
        t.start()
    _until(lambda: inside == size and waits() == threads - size)
    release.set()
    for t in crowd:
        t.join(WAIT)
    assert inside == 0
    return most


def test_no_more_than_size_at_once_and_the_others_are_counted() -> None:
    waited: list[int] = []
    turns = UnitTurns(3, lambda: waited.append(1))

    def run_unit(unit: Callable[[], None]) -> None:
        with turns.turn():
            unit()

    assert _crowd(run_unit, 3, 7, lambda: len(waited)) == 3
    assert len(waited) == 4


def test_a_nested_unit_runs_in_its_callers_turn_and_a_failing_one_gives_it_back() -> None:
    turns = UnitTurns(1)
    with turns.turn(), turns.turn():  # would wait for itself forever
        pass
    with pytest.raises(RuntimeError), turns.turn():
        raise RuntimeError("the unit fails")
    done = threading.Event()

    def another() -> None:
        with turns.turn():
            done.set()

    threading.Thread(target=another).start()
    assert done.wait(WAIT), "the failed unit's turn came free"


def test_a_unit_stepped_out_lets_another_in_and_waits_for_a_turn_to_come_back() -> None:
    waited: list[int] = []
    turns = UnitTurns(1, lambda: waited.append(1))
    order: list[str] = []
    other_in, back = threading.Event(), threading.Event()

    def other() -> None:
        with turns.turn():
            order.append("other in")
            other_in.set()
            assert back.wait(WAIT)
            order.append("other out")

    with turns.turn():
        with stepped_out():
            threading.Thread(target=other).start()
            assert other_in.wait(WAIT), "the stepped-out unit's turn went to the other"
            back.set()
        order.append("back")  # only once the other left
    assert order == ["other in", "other out", "back"]
    with stepped_out():  # no turn held: just runs
        order.append("outside")
    assert order[-1] == "outside"


def test_at_least_one_turn() -> None:
    with pytest.raises(ValueError, match="at least one"):
        UnitTurns(0)


@pytest.mark.parametrize(("value", "expected"), [("", 0), ("  ", 0), ("8", 8), (" 12 ", 12), ("0", 0)])
def test_the_setting(value: str, expected: int) -> None:
    assert Settings.from_env({"LABELDESK_DB_CONCURRENCY": value}).db_concurrency == expected


@pytest.mark.parametrize("value", ["-1", "four", "2.5"])
def test_a_bad_setting_says_what_to_give(value: str) -> None:
    with pytest.raises(ValueError, match=r"LABELDESK_DB_CONCURRENCY.*whole number"):
        Settings.from_env({"LABELDESK_DB_CONCURRENCY": value})


@pytest.mark.skipif(
    not PG_URL.startswith("postgresql"), reason="needs LABELDESK_TEST_DATABASE_URL=postgresql…"
)
def test_database_runs_its_units_in_turns_on_postgresql() -> None:
    db = Database(PG_URL, turns=2)
    one = Sql("SELECT 1")
    try:

        def run_unit(unit: Callable[[], None]) -> None:
            def work(conn: Any) -> None:
                assert one.first(conn, ())[0] == 1
                unit()
                # a unit of work inside another (same thread) runs in the outer one's turn
                assert db.run(lambda c: one.first(c, ())[0], write=False) == 1

            db.run(work, write=True)

        assert _crowd(run_unit, 2, 5, lambda: db.counts["unit_waits"]) == 2
        assert db.counts["unit_waits"] == 3
    finally:
        db.dispose()
