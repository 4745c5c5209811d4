"""Group commit on SQLite (storage/write_groups.py): write units of work that queue while another
holds the writer's turn share one transaction, and each caller still sees what it would see alone.

Groups are made deterministically: a first unit holds the turn until the others have queued
behind it (``WriteGroups._queued``), so they run as one group of the size the test chose.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text

from labeldesk.domain import errors
from labeldesk.storage.engine import Database, after_commit
from tests.helpers import scratch_database

caller = contextvars.ContextVar("caller", default="nobody")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with scratch_database(
        str(tmp_path / "groups.db"), "CREATE TABLE t (n INTEGER PRIMARY KEY, seen INTEGER)"
    ) as d:
        yield d


def _rows(db: Database) -> list[int]:
    with db.read() as conn:
        return [int(n) for (n,) in conn.execute(text("SELECT n FROM t ORDER BY n"))]


def insert(n: int) -> Callable[[Connection], int]:
    """Inserts ``n`` with the number of rows it saw before it (the units before it in its group)."""

    def work(conn: Connection) -> int:
        seen = int(conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one())
        conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", (n, seen))
        return n

    return work


def in_one_group(db: Database, works: list[Callable[[Connection], Any]]) -> list[Any]:
    """Run ``works`` on threads of their own, queued in this order behind a unit that holds the
    writer's turn until all of them have queued; each one's answer, or the exception it raised."""
    assert db._groups is not None
    hold, holding = threading.Event(), threading.Event()

    def holder(conn: Connection) -> None:
        holding.set()
        assert hold.wait(10)

    leader = threading.Thread(target=db.run, args=(holder,), kwargs={"write": True})
    leader.start()
    assert holding.wait(10)
    outcomes: list[Any] = [None] * len(works)

    def call(i: int) -> None:
        caller.set(f"caller {i}")
        try:
            outcomes[i] = db.run(works[i], write=True)
        except Exception as e:
            outcomes[i] = e

    threads = []
    for i in range(len(works)):
        threads.append(threading.Thread(target=call, args=(i,)))
        threads[-1].start()
        deadline = time.monotonic() + 10
        while len(db._groups._queued) < i + 1:  # queued in this order
            assert time.monotonic() < deadline, "the unit never queued"
            time.sleep(0.001)
    hold.set()
    for thread in [leader, *threads]:
        thread.join(10)
    return outcomes


def test_units_that_queue_together_share_one_commit_in_their_order(db: Database) -> None:
    assert in_one_group(db, [insert(1), insert(2), insert(3)]) == [1, 2, 3]
    assert _rows(db) == [1, 2, 3]
    with db.read() as conn:  # each unit saw the writes of those before it
        assert [s for (s,) in conn.execute(text("SELECT seen FROM t ORDER BY n"))] == [0, 1, 2]
    assert db.counts["group_commits"] == 1
    assert db.counts["grouped_writes"] == 3


def duplicate_of(n: int) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        conn.exec_driver_sql("INSERT INTO t VALUES (-1, 0)")
        conn.exec_driver_sql("INSERT INTO t VALUES (?, 0)", (n,))  # taken already

    return work


duplicate = duplicate_of(1)  # taken by the unit before it in the table below


def fails(conn: Connection) -> None:
    conn.exec_driver_sql("INSERT INTO t VALUES (-1, 0)")
    raise ValueError("a bug in the handler")


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (duplicate, errors.ApiError),  # a constraint: translated as for a unit alone
        (fails, ValueError),  # a server fault: raised to its own caller only
    ],
)
def test_a_failing_unit_is_rolled_back_alone(
    db: Database, bad: Callable[[Connection], None], expected: type[Exception]
) -> None:
    effects: list[str] = []

    def with_effect(n: int, work: Callable[[Connection], Any]) -> Callable[[Connection], Any]:
        def run(conn: Connection) -> Any:
            after_commit(conn, lambda: effects.append(f"{n} on {threading.current_thread().name}"))
            return work(conn)

        return run

    outcomes = in_one_group(db, [with_effect(1, insert(1)), with_effect(2, bad), with_effect(3, insert(3))])
    assert outcomes[0] == 1 and outcomes[2] == 3
    assert isinstance(outcomes[1], expected)
    if isinstance(outcomes[1], errors.ApiError):
        assert outcomes[1].code == errors.CONSTRAINT_VIOLATED
    assert _rows(db) == [1, 3], "the failing unit's first insert was rolled back with it"
    # the failing unit's effect never ran; the others' ran once each, on their callers' threads
    assert sorted(e.split(" on ")[0] for e in effects) == ["1", "3"]
    assert all("MainThread" not in e for e in effects)
    assert len({e.split(" on ")[1] for e in effects}) == 2


def test_a_group_whose_transaction_fails_runs_each_unit_alone(db: Database) -> None:
    calls = {1: 0, 2: 0, 3: 0}

    def counted(n: int, work: Callable[[Connection], Any]) -> Callable[[Connection], Any]:
        def run(conn: Connection) -> Any:
            calls[n] += 1
            return work(conn)

        return run

    def ends_the_transaction(conn: Connection) -> None:
        # ROLLBACK ends the group's transaction: its savepoint is gone, so the group fails as a whole
        conn.connection.dbapi_connection.execute("ROLLBACK")  # type: ignore[union-attr]
        raise ValueError("ended the transaction")

    outcomes = in_one_group(
        db, [counted(1, insert(1)), counted(2, ends_the_transaction), counted(3, insert(3))]
    )
    assert outcomes[0] == 1 and outcomes[2] == 3
    assert isinstance(outcomes[1], ValueError)
    assert _rows(db) == [1, 3], "each written exactly once"
    assert calls == {1: 2, 2: 2, 3: 1}, "the group's units before the failure ran again alone"
    assert db.counts["group_commits"] == 0


def test_each_unit_runs_in_its_callers_context(db: Database) -> None:
    def whose(conn: Connection) -> str:
        return caller.get()

    assert in_one_group(db, [whose, whose, whose]) == ["caller 0", "caller 1", "caller 2"]


def test_many_writers_lose_nothing(db: Database) -> None:
    """32 threads of 50 units each, every seventh failing: each success is written once, no failure is."""

    def unit(n: int) -> Callable[[Connection], int]:
        return fails if n % 7 == 0 else insert(n)

    failed: list[int] = []

    def writer(k: int) -> None:
        for n in range(k * 50, k * 50 + 50):
            try:
                db.run(unit(n), write=True)
            except ValueError:
                failed.append(n)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert _rows(db) == [n for n in range(1600) if n % 7]
    assert sorted(failed) == [n for n in range(1600) if n % 7 == 0]
    assert db.counts["group_commits"] > 0


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(["ok", "duplicate", "bug"]), min_size=1, max_size=6))
@example(kinds=["bug", "ok", "duplicate", "ok"])
def test_any_mix_of_units_in_one_group_ends_as_each_alone(db: Database, kinds: list[str]) -> None:
    with db.write() as conn:
        conn.exec_driver_sql("DELETE FROM t")
        conn.exec_driver_sql("INSERT INTO t VALUES (0, 0)")  # what "duplicate" collides with
    works = {"ok": None, "duplicate": duplicate_of(0), "bug": fails}
    outcomes = in_one_group(db, [works[k] or insert(i + 1) for i, k in enumerate(kinds)])
    for i, (kind, outcome) in enumerate(zip(kinds, outcomes, strict=True)):
        expected = {"ok": i + 1, "duplicate": errors.ApiError, "bug": ValueError}[kind]
        assert outcome == expected if kind == "ok" else isinstance(outcome, expected)  # type: ignore[arg-type]
    assert _rows(db) == [0] + [i + 1 for i, k in enumerate(kinds) if k == "ok"]
