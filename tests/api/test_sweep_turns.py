"""The server's periodic sweeps run once per period between all the replicas on a database, not
once in each (storage/sweep_turns.py), on SQLite and PostgreSQL (LABELDESK_TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from itertools import pairwise

import pytest

from labeldesk.app import RunningServer, build
from labeldesk.storage import sweep_turns
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database
from labeldesk.storage.repos.multirow import insert_if_missing, insert_ignoring_duplicates
from tests.helpers import beside_a_writer

PERIOD = 60.0


@pytest.fixture
def replicas(server: RunningServer) -> Iterator[tuple[Database, Database]]:
    """The session server's database and a second connection pool on it: another replica."""
    other = Database(server.app.db.url)
    yield server.app.db, other
    other.dispose()


def _name() -> str:
    return f"probe-{uuid.uuid4().hex[:8]}"  # a sweep of this test's own: the server runs others


def test_one_replica_takes_each_round(replicas: tuple[Database, Database]) -> None:
    a, b = replicas
    name, now = _name(), utcnow()
    assert sweep_turns.take(a, name, PERIOD, now) is True  # the first round ever
    assert sweep_turns.take(b, name, PERIOD, now) is False
    assert sweep_turns.take(a, name, PERIOD, now + timedelta(seconds=30)) is False  # ran 30 s ago
    # due again a little before the period is over, so the replica that ran it keeps it
    later = now + timedelta(seconds=PERIOD * sweep_turns.SLACK)
    assert sweep_turns.take(b, name, PERIOD, later) is True
    assert sweep_turns.take(a, name, PERIOD, later) is False
    assert sweep_turns.take(a, _name(), PERIOD, later) is True  # each sweep has its own turn


def test_a_moment_far_ahead_does_not_stop_the_sweep(replicas: tuple[Database, Database]) -> None:
    """A replica whose clock was ahead (or a clock set back since) wrote a due moment days away:
    the sweep is due all the same, not days later."""
    a, b = replicas
    name, now = _name(), utcnow()
    assert sweep_turns.take(a, name, PERIOD, now + timedelta(days=3))
    assert sweep_turns.take(b, name, PERIOD, now) is True
    assert sweep_turns.take(a, name, PERIOD, now) is False


def test_replicas_at_once_run_each_round_once(replicas: tuple[Database, Database]) -> None:
    """16 callers over two replicas' pools ask for the same round at the same moment, ten rounds:
    one caller takes each (PostgreSQL: the others wait for its row, then find it not due)."""
    name, start = _name(), utcnow()
    barrier = threading.Barrier(16)

    def ask(n: int, now: datetime) -> bool:
        barrier.wait(timeout=30)
        return sweep_turns.take(replicas[n % 2], name, PERIOD, now)

    with ThreadPoolExecutor(16) as pool:
        for round_ in range(10):
            now = start + timedelta(seconds=PERIOD * round_)
            taken = list(pool.map(ask, range(16), [now] * 16))
            assert taken.count(True) == 1, (round_, taken)


def test_a_round_not_due_is_a_read(server: RunningServer) -> None:
    """Asking while the sweep is not due answers at once while another process holds SQLite's
    write lock: every labeler's submission waits for that lock, so idle wake-ups must not take it."""
    db, name = server.app.db, _name()
    assert sweep_turns.take(db, name, PERIOD)
    assert beside_a_writer(db, lambda: sweep_turns.take(db, name, PERIOD)) == (True, [False])


def test_shared_sweeps_of_two_replicas_never_overlap_a_period(database_url: str) -> None:
    """Two replicas' sweep loops, 0.4 s period: the sweep runs about once a period between them
    (each loop wakes every period; unshared, both would run it every time), and never twice within
    SLACK of a period, whichever replica runs it."""
    period, name = 0.4, _name()
    runs: list[tuple[datetime, int]] = []
    servers = [RunningServer(build(database_url), "127.0.0.1", 0, 0) for _ in range(2)]
    woke = [0, 0]
    lock = threading.Lock()

    def job(n: int) -> None:
        with lock:
            runs.append((utcnow(), n))

    def wake(n: int) -> None:
        with lock:
            woke[n] += 1

    try:
        for n, s in enumerate(servers):
            s._every(period, partial(job, n), name, shared=True)
            s._every(period, partial(wake, n), "wake-ups")  # as often as the sweep's loop wakes
        time.sleep(2.2)
    finally:
        for s in servers:
            s._stopping.set()
            s.app.db.dispose()
    with lock:
        moments = sorted(at for at, _ in runs)
    assert len(moments) >= 2
    assert len(moments) < sum(woke)  # each round's wake-ups ran it once between them
    gaps = [(b - a).total_seconds() for a, b in pairwise(moments)]
    # (less a margin for the moments between a turn taken and its job timing itself, under load;
    # replicas running the same round would be a few milliseconds apart)
    assert min(gaps) >= period * sweep_turns.SLACK - 0.15, gaps


def test_insert_if_missing_says_whether_it_inserted(replicas: tuple[Database, Database]) -> None:
    a, b = replicas
    row = {"name": _name(), "due_at": utcnow()}
    with a.write() as conn:
        assert insert_if_missing(conn, t.sweep_turns, row) is True
        assert insert_if_missing(conn, t.sweep_turns, row) is False
    with b.write() as conn:
        assert insert_if_missing(conn, t.sweep_turns, row) is False
        insert_ignoring_duplicates(conn, t.sweep_turns, [row, {**row, "name": _name()}])
        assert insert_if_missing(conn, t.sweep_turns, row) is False
