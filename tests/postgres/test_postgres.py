"""Checks that only make sense on a real PostgreSQL (``LABELDESK_TEST_DATABASE_URL``): the API
suite really ran there, and migrations are repeatable. ``.ci/run`` starts the server for these."""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import Connection, insert, inspect, text

from labeldesk.app import RunningServer
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import head_revision, migrate

URL = os.environ.get("LABELDESK_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not URL.startswith("postgresql"), reason="needs LABELDESK_TEST_DATABASE_URL=postgresql…"
)


def test_the_suite_runs_on_postgresql(server: RunningServer) -> None:
    assert server.app.db.engine.dialect.name == "postgresql"


def test_migrate_is_idempotent_and_stamped(server: RunningServer, database_url: str) -> None:
    db = Database(database_url)
    try:
        assert migrate(db) == "upgraded"  # the session server created it already
        with db.read() as conn:
            version = conn.execute(text("select version_num from alembic_version")).scalar_one()
        assert version == head_revision(db)
        assert {"inputs", "annotations", "tasks", "task_assignments"} <= set(
            inspect(db.engine).get_table_names()
        )
    finally:
        db.dispose()


def test_the_work_queue_tables_are_analyzed_sooner(server: RunningServer) -> None:
    """Fresh databases (built from tables.py) and upgraded ones (migration 0026) alike."""
    with server.app.db.read() as conn:
        options = dict(
            conn.exec_driver_sql(
                "select relname, reloptions from pg_class"
                " where relname in ('task_assignments', 'annotations')"
            ).all()
        )
    for table in ("task_assignments", "annotations"):
        assert "autovacuum_analyze_scale_factor=0.01" in options[table], options


def test_revision_0004_hashes_tokens_on_postgresql() -> None:
    """The keys upgrade of tests/unit/test_migrate.py, on two scratch PostgreSQL databases."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from tests.unit.test_migrate import upgrade_0003_keys

    base = make_url(URL)
    names = [f"{base.database}_mig0004_old", f"{base.database}_mig0004_fresh"]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'drop database if exists "{name}"'))
                conn.execute(text(f'create database "{name}"'))
        db, fresh = (Database(base.set(database=n).render_as_string(hide_password=False)) for n in names)
        try:
            upgrade_0003_keys(db, fresh)
        finally:
            db.dispose()
            fresh.dispose()
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'drop database if exists "{name}"'))
        admin.dispose()


def test_a_real_deadlock_is_retried_inside_the_server() -> None:
    """Two transactions lock two rows in opposite orders: PostgreSQL aborts one (SQLSTATE 40P01),
    and Database.run re-runs that whole unit of work instead of answering TRY_AGAIN."""
    db = Database(URL)
    table = f"deadlock_{uuid.uuid4().hex[:8]}"
    try:
        with db.write() as conn:
            conn.exec_driver_sql(f"create table {table} (id int primary key, n int)")
            conn.exec_driver_sql(f"insert into {table} values (1, 0), (2, 0)")
        both_hold_one = threading.Barrier(2)
        attempts = {1: 0, 2: 0}
        outcome: dict[int, object] = {}

        def work(first: int, conn: Connection) -> int:
            attempts[first] += 1
            conn.exec_driver_sql(f"update {table} set n = n + 1 where id = {first}")
            if attempts[first] == 1:
                both_hold_one.wait(10)
            conn.exec_driver_sql(f"update {table} set n = n + 1 where id = {3 - first}")
            return attempts[first]

        def go(first: int) -> None:
            try:
                outcome[first] = db.run(lambda conn: work(first, conn), write=True)
            except Exception as e:  # reported by the assertion below
                outcome[first] = e

        threads = [threading.Thread(target=go, args=(i,)) for i in (1, 2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        # one went through at once; the other was aborted and re-run (more than once when its
        # retry took a row before the first one's blocked update woke up: a new deadlock)
        first, later = sorted(outcome.values())  # type: ignore[type-var]
        assert first == 1 and isinstance(later, int) and later >= 2, outcome
        with db.read() as conn:
            rows = conn.exec_driver_sql(f"select n from {table} order by id").scalars().all()
        assert rows == [2, 2], "each unit of work counted once: the aborted attempt left nothing"
        # every attempt after each one's first was a retry: /metrics' labeldesk_db_retries_total
        assert db.counts["retries"] == attempts[1] + attempts[2] - 2
    finally:
        with db.write() as conn:
            conn.exec_driver_sql(f"drop table if exists {table}")
        db.dispose()


@pytest.mark.parametrize("write", [True, False])
def test_a_dead_pooled_connection_is_replaced_inside_the_server(write: bool) -> None:
    """The pool does not ping a connection before each use (a round trip per call): when the
    server dropped a pooled connection (a restart, an idle timeout), the unit of work fails on its
    first statement and runs again on a new connection; the caller never sees it."""
    db = Database(URL)
    admin = Database(URL)
    backend_pid = "select pg_backend_pid()"
    try:
        first = db.run(lambda conn: conn.exec_driver_sql(backend_pid).scalar_one(), write=write)
        with admin.write() as conn:
            assert conn.exec_driver_sql(f"select pg_terminate_backend({first})").scalar_one()
        gone = "select count(*) from pg_stat_activity where pid = %(pid)s"
        for _ in range(1000):  # the backend exits a moment after the signal
            with admin.read() as conn:
                if not conn.exec_driver_sql(gone, {"pid": first}).scalar_one():
                    break
        second = db.run(lambda conn: conn.exec_driver_sql(backend_pid).scalar_one(), write=write)
        assert second != first
        assert db.counts == {"retries": 0, "reconnects": 1, "account_news_lost": 0, "unit_waits": 0}
    finally:
        db.dispose()
        admin.dispose()


def test_a_seat_claim_reads_the_same_whatever_the_worker_did_before(server: RunningServer) -> None:
    """DYNAMIC's seat claim on a task PostgreSQL's statistics do not know yet (every new task until
    autovacuum analyzes the table): its work must not grow with the seats the worker already had.
    Written the plain way, PostgreSQL scanned all of them once per candidate seat (837 buffer
    reads here for 2,000 earlier seats); one index look-up per candidate reads a few dozen."""
    from labeldesk.domain.statuses import OPEN, SUCCESS
    from labeldesk.services import admin
    from labeldesk.storage import tables as t
    from labeldesk.storage.clock import utcnow
    from labeldesk.storage.repos import assignments

    db = server.app.db
    owner, app_id = f"plan-{uuid.uuid4().hex[:8]}", "plans"
    admin.create_user(db, owner, f"{owner}@example.com")
    app_pk = admin.create_app(db, owner, app_id)
    history, now = 2000, utcnow()
    stamps = {"created_at": now, "modified_at": now}
    with db.write() as conn:
        conn.execute(
            insert(t.inputs),
            [
                {"app_pk": app_pk, "id": f"in-{i}", "data": b"", "status": 30000, **stamps}
                for i in range(history + 50)
            ],
        )
        old_pk, task_pk = (
            conn.execute(
                insert(t.tasks)
                .values(app_pk=app_pk, id=task_id, spec=b"", status=0, created_by=owner, **stamps)
                .returning(t.tasks.c.pk)
            ).scalar_one()
            for task_id in ("old", "new")
        )
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            seats = (
                "insert into task_assignments (task_pk, input_pk, worker_id, status, comment,"
                " created_at, modified_at, off_source)"
                " select %(task)s, pk, case when n <= %(h)s then 'w' else '#' || n end,"
                " case when n <= %(h)s then %(done)s else %(open)s end, '', %(now)s, %(now)s, false"
                " from (select pk, row_number() over (order by pk) n from inputs where app_pk = %(app)s) s"
            )
            # statistics from before the new task had seats, of a table that holds an earlier task's
            # (as a running server's does; whether the database is otherwise fresh must not matter)
            cur.execute(
                seats,
                {"task": old_pk, "h": history, "done": SUCCESS, "open": SUCCESS, "now": now, "app": app_pk},
            )
            cur.execute("analyze task_assignments")
            cur.execute(
                seats,
                {"task": task_pk, "h": history, "done": SUCCESS, "open": OPEN, "now": now, "app": app_pk},
            )
            sql = assignments._TAKE_OPEN_ANSWERED.text(conn)
            # (worker_id, lease_until, now, now, task_pk, worker_id, limit, True)
            cur.execute(
                "explain (analyze, buffers, format json) " + sql, ("w", now, now, now, task_pk, "w", 10, True)
            )
            answer = cur.fetchone()[0][0]["Plan"]
            raw.rollback()
    assert answer["Actual Rows"] == 10
    (take,) = [n for n in _nodes(answer) if n["Node Type"] == "ModifyTable"]  # the claim, without the inputs
    assert take["Actual Rows"] == 10
    assert take["Shared Hit Blocks"] + take.get("Shared Read Blocks", 0) < 300, take


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an ``EXPLAIN (FORMAT JSON)`` plan."""
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


def test_the_answer_reads_each_seats_input_by_primary_key(server: RunningServer) -> None:
    """LABEL_START's answer (the seats with their inputs, input-level annotations and datasets):
    each seat's input is one look-up of the inputs' primary key and each dataset test one probe
    of its index. Written as a plain join, PostgreSQL merge-joined the seats with the inputs'
    primary-key index, reading every input below the highest one handed out (11,000 rows per call
    on a 10k app), and hashed the whole ``dataset_inputs`` table once per call."""
    from labeldesk.domain.statuses import PENDING
    from labeldesk.services import admin
    from labeldesk.storage import tables as t
    from labeldesk.storage.clock import utcnow
    from labeldesk.storage.repos import assignments

    db = server.app.db
    owner = f"answer-{uuid.uuid4().hex[:8]}"
    admin.create_user(db, owner, f"{owner}@example.com")
    app_pk = admin.create_app(db, owner, "answers")
    now = utcnow()
    stamps = {"created_at": now, "modified_at": now}
    with db.write() as conn:
        pks = conn.execute(
            insert(t.inputs).returning(t.inputs.c.pk),
            [{"app_pk": app_pk, "id": f"i{i}", "data": b"", "status": 30000, **stamps} for i in range(3000)],
        ).scalars()
        pks = sorted(pks)
        last = pks[-10:]  # the task's seats are on the app's newest inputs
        # a dataset holds them all: an empty dataset_inputs table is rightly scanned, not probed
        # (its statistics came from whatever tests ran before; analyzed empty, the probe went)
        dataset_pk = conn.execute(
            insert(t.datasets).values(app_pk=app_pk, id="d", **stamps).returning(t.datasets.c.pk)
        ).scalar_one()
        conn.execute(
            insert(t.dataset_inputs),
            [{"dataset_pk": dataset_pk, "input_pk": p, "created_at": now} for p in pks],
        )
        task_pk = conn.execute(
            insert(t.tasks)
            .values(app_pk=app_pk, id="t", spec=b"", status=0, created_by=owner, **stamps)
            .returning(t.tasks.c.pk)
        ).scalar_one()
        seats = conn.execute(
            insert(t.task_assignments).returning(t.task_assignments.c.pk),
            [
                {
                    "task_pk": task_pk,
                    "input_pk": p,
                    "worker_id": "w",
                    "status": PENDING,
                    "comment": "",
                    **stamps,
                }
                for p in last
            ],
        ).all()
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            cur.execute("analyze inputs, dataset_inputs")
            sql = assignments._WITH_INPUTS.text(conn, len(seats))
            cur.execute("explain (analyze, format json) " + sql, (True, *(s[0] for s in seats)))
            plan = cur.fetchone()[0][0]["Plan"]
            raw.rollback()
    assert plan["Actual Rows"] == 10
    nodes = _nodes(plan)
    assert not [n for n in nodes if n["Node Type"] in ("Merge Join", "Hash Join", "Hash")], plan

    def scans(table: str) -> list[dict[str, Any]]:
        return [n for n in nodes if n.get("Relation Name") == table]

    assert sum(n["Actual Rows"] * n["Actual Loops"] for n in scans("inputs")) == 10, plan
    assert not [n for n in scans("dataset_inputs") if "Seq" in n["Node Type"]], plan


def test_label_start_plans_generically_for_its_own_transaction_only(server: RunningServer) -> None:
    """The queue lock of a LABEL_START switches PostgreSQL to generic plans (its statements were
    re-planned on every call) until that transaction ends, and for nothing else on the connection."""
    from labeldesk.storage.repos import assignments

    db = server.app.db
    mode = text("SELECT current_setting('plan_cache_mode')")
    with db.engine.connect() as conn:  # transactions begun as Database's are (conn.begin())
        assert conn.execute(mode).scalar_one() == "auto"
        conn.rollback()
        with conn.begin():
            assignments.lock_worker_queue(conn, 1, "someone")
            assert conn.execute(mode).scalar_one() == "force_generic_plan"
        assert conn.execute(mode).scalar_one() == "auto"
        conn.rollback()
        with pytest.raises(RuntimeError), conn.begin():
            assignments.lock_worker_queue(conn, 1, "someone")
            raise RuntimeError("the unit of work failed")
        assert conn.execute(mode).scalar_one() == "auto"


def test_a_label_start_takes_its_queue_lock_with_its_task(server: RunningServer) -> None:
    """LABEL_START reads its task and takes the worker's queue lock in one statement once the
    process knows the task's pk (the lock's key): the lock is held until the transaction ends and
    generic plans are on. A task the process has not read yet, or one made again under the same id,
    is read without it (the service then takes the lock by the pk it read)."""
    from labeldesk.services import admin
    from labeldesk.services.task_cache import TaskCache
    from labeldesk.storage import tables as t
    from labeldesk.storage.clock import utcnow
    from labeldesk.storage.repos import assignments

    db = server.app.db
    owner = f"lock-{uuid.uuid4().hex[:8]}"
    admin.create_user(db, owner, f"{owner}@example.com")
    app_pk = admin.create_app(db, owner, "locks")

    def new_task() -> int:
        now = utcnow()
        with db.write() as conn:
            conn.execute(t.tasks.delete().where(t.tasks.c.app_pk == app_pk))
            row = dict(
                app_pk=app_pk, id="t", spec=b"", status=0, created_by=owner, created_at=now, modified_at=now
            )
            return int(conn.execute(insert(t.tasks).values(**row).returning(t.tasks.c.pk)).scalar_one())

    def taken_elsewhere(task_pk: int) -> bool:
        with db.engine.connect() as other:
            free = other.execute(
                text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": assignments._queue_key(task_pk, "w")}
            ).scalar_one()
            other.rollback()
        return not free

    def start(cache: TaskCache, task_pk: int) -> bool:
        with db.engine.connect() as conn, conn.begin():
            record, locked = cache.load_locking_queue(conn, app_pk, "t", "w")
            assert record.pk == task_pk
            assert taken_elsewhere(task_pk) == locked
            if locked:
                mode = conn.execute(text("SELECT current_setting('plan_cache_mode')")).scalar_one()
                assert mode == "force_generic_plan"
        assert not taken_elsewhere(task_pk), "the lock ends with the transaction"
        return locked

    cache, first = TaskCache(), new_task()
    assert [start(cache, first), start(cache, first)] == [False, True]
    again = new_task()  # same id, another pk: the lock taken for the old pk is not this task's
    assert [start(cache, again), start(cache, again)] == [False, True]
    with (
        db.engine.connect() as conn,
        conn.begin(),
        pytest.raises(Exception, match="task 'gone' does not exist"),
    ):
        cache.load_locking_queue(conn, app_pk, "gone", "w")
