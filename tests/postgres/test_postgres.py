"""Checks that only make sense on a real PostgreSQL (``LABELDESK_TEST_DATABASE_URL``): the API
suite really ran there, and migrations are repeatable. ``.ci/run`` starts the server for these."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import inspect, text

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
