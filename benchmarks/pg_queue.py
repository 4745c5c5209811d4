"""What the work queue costs PostgreSQL: statements per call, their plans at 10k and 1M inputs,
and CPU per call on both sides (the server's Python and PostgreSQL's backend).

    python benchmarks/pg_queue.py --database-url postgresql+psycopg://postgres@127.0.0.1:55432/bench \\
        [--inputs 10000,1000000] [--calls 300] [--explain] [--strategy DYNAMIC|PARTITIONED]

For each size it seeds an app (COPY, as ``work_queue.py`` does), builds a server in this process
(no transport) over that database, creates a DYNAMIC (or PARTITIONED EVENLY) task over all
inputs and lets one worker
loop LABEL_START -> LABEL_SUBMIT through ``Dispatcher.call``. It prints

- the SQL statements (round trips) per LABEL_START and per LABEL_SUBMIT, BEGIN/COMMIT included;
- per statement over the timed loop: its wall time and PostgreSQL's CPU, per submission;
- the CPU per call of this process (``time.process_time``: the server's Python, no transport) and
  of the PostgreSQL backends serving this database (``pg_cpu.PgCpu``: psutil over the backend
  processes, so run it on the database's machine as root or as the postgres user);
- with ``--explain``: ``EXPLAIN (ANALYZE, BUFFERS)`` of every distinct statement of a cycle
  after the timed ones, run with the parameters it had (the generic plan, see :func:`explain_all`),
  in a transaction that is rolled back. Every hot statement must be an index scan, so that its
  cost does not grow with the app.

CPU per call is the number to compare on a shared machine; wall time is printed too.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
from pg_cpu import PgCpu
from profile_label_start import label_call, post_dynamic_task
from sqlalchemy import Engine, event
from work_queue import A, App, seed

from labeldesk.app import build
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate

Statement = tuple[str, Any]


def short(sql: str) -> str:
    return " ".join(sql.split())[:150]


def measure(url: str, app: App, calls: int, explain: bool, strategy: str = "DYNAMIC") -> dict[str, float]:
    server = build(url, run_migrations=False)
    d = server.dispatcher
    worker = app.workers[0][0]
    post_dynamic_task(d, app, "pgq", [worker], strategy)

    put = label_call(d, app, "pgq")

    seen: list[Statement] = []

    def record(*a: Any) -> None:
        seen.append((a[2], a[3]))

    event.listen(server.db.engine, "before_cursor_execute", record)
    begins: list[int] = []
    event.listen(server.db.engine, "begin", lambda *_: begins.append(1))

    def cycle() -> dict[str, tuple[list[Statement], int]]:
        """One LABEL_START and its submissions; the statements of the START and the first SUBMIT."""
        seen.clear()
        begins.clear()
        got = put(A.LABEL_START).task_assignments
        per = {"LABEL_START": (list(seen), len(begins))}
        seen.clear()
        begins.clear()
        put(A.LABEL_SUBMIT, got[0].input.id)
        per["LABEL_SUBMIT"] = (list(seen), len(begins))
        for a in got[1:]:
            put(A.LABEL_SUBMIT, a.input.id)
        return per

    cycle()
    per = cycle()  # the second cycle: the worker's batch is planned, as in steady state
    for name, (stmts, n_begin) in per.items():
        print(f"\n{name}: {len(stmts)} statements + BEGIN/COMMIT x{n_begin}")
        for sql, _ in stmts:
            print(f"  {short(sql)}")
    pg = PgCpu(url)
    pg()  # finds the pool's backends; later readings only read their CPU times
    timings = StatementTimes(server.db.engine, pg)
    starts: list[float] = []
    submits: list[float] = []
    pg_start = pg_submit = 0.0
    wall0 = time.perf_counter()
    for _ in range(calls):
        pg0 = pg(refresh=False)
        before, measuring = time.process_time(), timings.cpu
        got = put(A.LABEL_START).task_assignments
        starts.append(time.process_time() - before - (timings.cpu - measuring))
        pg_start += pg(refresh=False) - pg0
        for a in got:
            pg0 = pg(refresh=False)
            before, measuring = time.process_time(), timings.cpu
            put(A.LABEL_SUBMIT, a.input.id)
            submits.append(time.process_time() - before - (timings.cpu - measuring))
            pg_submit += pg(refresh=False) - pg0
    wall = time.perf_counter() - wall0
    timings.report(len(submits))
    if explain:  # after the loop: the worker has a history, as a labeler after a day's work
        last = cycle()
        explain_all(server.db, last["LABEL_START"][0] + last["LABEL_SUBMIT"][0])
    server.db.dispose()
    return {
        "start_cpu": statistics.median(starts) * 1000,
        "submit_cpu": statistics.median(submits) * 1000,
        "pg_start": pg_start / len(starts) * 1000,
        "pg_submit": pg_submit / len(submits) * 1000,
        "per_submission": (sum(starts) + sum(submits)) / len(submits) * 1000,
        "pg_per_submission": (pg_start + pg_submit) / len(submits) * 1000,
        "wall_ms_per_submission": wall / len(submits) * 1000,
        "statements_start": len(per["LABEL_START"][0]),
        "statements_submit": len(per["LABEL_SUBMIT"][0]),
    }


class StatementTimes:
    """Per statement text, summed: wall time from sending it to having its result (one thread:
    the database's time plus the driver's) and the CPU PostgreSQL's backends spent on it
    (``pg_cpu.PgCpu``; the transaction's BEGIN counts in its first statement, COMMIT in none).

    Reading the backends' CPU costs this process ``/proc`` reads around every statement, more than
    the statement costs the server: ``cpu`` sums this process's CPU spent in these hooks, which
    the timed loop takes out of the server's CPU per call."""

    def __init__(self, engine: Engine, pg: PgCpu) -> None:
        self.totals: dict[str, list[float]] = {}
        self._began = self._pg = 0.0
        self.cpu = 0.0
        self.pg = pg
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_: Any) -> None:
        cpu = time.process_time()
        self._pg = self.pg(refresh=False)
        self._began = time.perf_counter()
        self.cpu += time.process_time() - cpu

    def _after(self, _conn: Any, _cur: Any, sql: str, *_: Any) -> None:
        wall = time.perf_counter() - self._began
        cpu = time.process_time()
        entry = self.totals.setdefault(short(sql), [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += wall
        entry[2] += self.pg(refresh=False) - self._pg
        self.cpu += time.process_time() - cpu

    def report(self, submissions: int) -> None:
        print(f"\nper submission over the timed loop ({submissions} submissions): wall ms, PostgreSQL CPU ms")
        for sql, (n, total, pg) in sorted(self.totals.items(), key=lambda kv: -kv[1][2]):
            print(
                f"  {total / submissions * 1000:7.3f} {pg / submissions * 1000:7.3f}  "
                f"x{n / submissions:5.2f}  {sql[:100]}"
            )


def numbered(sql: str) -> str:
    """``sql`` with psycopg's ``%s`` marks as PostgreSQL's ``$1``, ``$2``, ..."""
    marks = iter(range(1, sql.count("%s") + 1))
    return re.sub("%s", lambda _: f"${next(marks)}", sql)


def explain_all(db: Database, statements: list[Statement]) -> None:
    """EXPLAIN ANALYZE each distinct statement with its parameters, rolled back. Statements with
    positional parameters are shown with their *generic* plan (``PREPARE`` + ``EXECUTE`` under
    ``plan_cache_mode = force_generic_plan``): the plan LABEL_START runs them with (storage/repos/
    assignments.py, ``lock_worker_queue``), and one that must fit whatever the parameters."""
    done: set[str] = set()
    for sql, params in statements:
        if sql in done or not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH")):
            continue  # (a planning batch's INSERT would collide with the seats it made)
        done.add(sql)
        generic = isinstance(params, (list, tuple))
        with db.engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            with raw.cursor() as cur:
                how = "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON) "
                if generic:
                    cur.execute("PREPARE pgq_explain AS " + numbered(sql))
                    cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                    values = psycopg.ClientCursor(raw).mogrify(", ".join(["%s"] * len(params)), params)
                    cur.execute(f"{how} EXECUTE pgq_explain({values})")
                else:
                    cur.execute(how + sql, params)
                plan = [row[0] for row in cur.fetchall()]
                if generic:
                    cur.execute("DEALLOCATE pgq_explain")
            raw.rollback()
        print(f"\n-- {'generic plan: ' if generic else ''}{short(sql)}")
        for line in plan:
            print(f"   {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL URL (the apps are left there)")
    parser.add_argument("--inputs", default="10000,1000000", help="comma-separated app sizes")
    parser.add_argument("--calls", type=int, default=300, help="LABEL_START calls to time per size")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE every hot statement")
    parser.add_argument("--strategy", choices=("DYNAMIC", "PARTITIONED"), default="DYNAMIC")
    args = parser.parse_args(argv)
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    db = Database(args.database_url)
    migrate(db)
    rows = []
    for n in (int(x) for x in args.inputs.split(",")):
        app = seed(db, n, 1, log)
        print(f"\n===== {n:,} inputs")
        rows.append((n, measure(args.database_url, app, args.calls, args.explain, args.strategy)))
    db.dispose()
    print(
        "\ninputs     stmts START/SUBMIT  server CPU ms START/SUBMIT  PG CPU ms START/SUBMIT  "
        "server+PG CPU ms/submission  wall ms/submission"
    )
    for n, m in rows:
        print(
            f"{n:>9,}  {m['statements_start']:>6.0f} / {m['statements_submit']:<6.0f}  "
            f"{m['start_cpu']:>12.2f} / {m['submit_cpu']:<12.2f}  "
            f"{m['pg_start']:>9.2f} / {m['pg_submit']:<9.2f}  "
            f"{m['per_submission']:>12.2f} + {m['pg_per_submission']:<12.2f}  "
            f"{m['wall_ms_per_submission']:>10.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
