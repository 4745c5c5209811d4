"""Checks that only make sense on a real PostgreSQL (``LABELDESK_TEST_DATABASE_URL``): the API
suite really ran there, and migrations are repeatable. ``.ci/run`` starts the server for these."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from sqlalchemy import Connection, inspect, text

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
        assert sorted(outcome.values()) == [1, 2], outcome  # type: ignore[type-var]
        with db.read() as conn:
            rows = conn.exec_driver_sql(f"select n from {table} order by id").scalars().all()
        assert rows == [2, 2], "each unit of work counted once: the aborted attempt left nothing"
    finally:
        with db.write() as conn:
            conn.exec_driver_sql(f"drop table if exists {table}")
        db.dispose()
