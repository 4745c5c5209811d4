"""The work queue's statements sent to the driver (storage/raw.py) behave as SQLAlchemy's did:
times stored in the same text, errors translated and retried the same way, and (PostgreSQL, with
``LABELDESK_TEST_DATABASE_URL``) a dead pooled connection replaced inside the server and
many-value statements (sent with ``$n`` marks) storing every type as SQLAlchemy stores it."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as hs
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.dialects.sqlite import DATETIME

from labeldesk.domain import errors
from labeldesk.storage.engine import Database
from labeldesk.storage.raw import Sql, bind_time, numbered, read_time, statements_alone
from labeldesk.storage.repos import multirow

PG_URL = os.environ.get("LABELDESK_TEST_DATABASE_URL", "")
_TIMES = hs.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=hs.just(timezone.utc)
)


@given(_TIMES)
def test_times_are_stored_as_sqlalchemy_stores_them_and_read_back(ts: datetime) -> None:
    """``lease_until < ?`` compares text on SQLite: the bound text must be SQLAlchemy's exactly."""
    processor = DATETIME().bind_processor(None)  # type: ignore[arg-type]
    assert processor is not None
    assert bind_time(True, ts) == processor(ts)
    assert read_time(bind_time(True, ts)) == ts
    assert bind_time(False, ts) is ts


@given(_TIMES, _TIMES)
def test_stored_times_sort_as_the_times_do(a: datetime, b: datetime) -> None:
    assert (bind_time(True, a) < bind_time(True, b)) == (a < b)


def test_a_driver_error_is_translated_as_sqlalchemys_are(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'raw.db'}")
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id TEXT PRIMARY KEY)")
        insert = Sql("INSERT INTO t (id) VALUES (?)")
        db.run(lambda conn: insert.run(conn, ("a",)), write=True)
        with pytest.raises(errors.ApiError) as e:
            db.run(lambda conn: insert.run(conn, ("a",)), write=True)
        assert e.value.code == errors.CONSTRAINT_VIOLATED
        count = Sql("SELECT count(*) FROM t")
        assert db.run(lambda conn: count.first(conn, ())[0], write=False) == 1, "the failed one left nothing"
    finally:
        db.dispose()


@pytest.mark.skipif(
    not PG_URL.startswith("postgresql"), reason="needs LABELDESK_TEST_DATABASE_URL=postgresql…"
)
@pytest.mark.parametrize("alone", [False, True])
def test_a_dead_connection_under_a_raw_statement_is_replaced_inside_the_server(alone: bool) -> None:
    """Database.run replaces a dead pooled connection and runs the unit again, also when the
    statement that finds it dead runs in autocommit (``statements_alone``)."""
    db, admin = Database(PG_URL), Database(PG_URL)
    pid = Sql("SELECT pg_backend_pid()")

    def backend(conn: Any) -> int:
        if not alone:
            return int(pid.first(conn, ())[0])
        with statements_alone(conn) as on_its_own:
            assert on_its_own
            return int(pid.first(conn, ())[0])

    try:
        first = db.run(backend, write=True)
        with admin.write() as conn:
            assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({first})").scalar_one()
        gone = Sql("SELECT count(*) FROM pg_stat_activity WHERE pid = ?")
        for _ in range(1000):  # the backend exits a moment after the signal
            if not admin.run(lambda conn: gone.first(conn, (first,))[0], write=False):
                break
        second = db.run(backend, write=True)
        assert second != first
        assert db.counts["reconnects"] == 1
        with db.write() as conn:  # and what the pool keeps is in no autocommit
            assert conn.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]
    finally:
        db.dispose()
        admin.dispose()


def test_in_lists_expand_per_call(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'raw.db'}")
    try:
        q = Sql("SELECT value FROM json_each(?) WHERE value IN ({in}) ORDER BY value")
        got = db.run(
            lambda conn: [q.rows(conn, ("[1,2,3,4]", *p), len(p)) for p in ((2,), (1, 4, 9))], write=False
        )
        assert got == [[(2,)], [(1,), (4,)]]
    finally:
        db.dispose()


def test_stored_text_of_a_time_in_another_zone_is_its_utc_time() -> None:
    ts = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert bind_time(True, ts) == "2026-01-01 10:00:00.000000"


@pytest.mark.parametrize(
    ("text", "numbered_text"),
    [
        ("SELECT 1", "SELECT 1"),
        ("SELECT %s", "SELECT $1"),
        (
            "SELECT pk FROM t WHERE a = %s AND b IN (%s, %s)",
            "SELECT pk FROM t WHERE a = $1 AND b IN ($2, $3)",
        ),
        ("VALUES (%s,%s),(%s,%s)", "VALUES ($1,$2),($3,$4)"),
        ("%s", "$1"),
    ],
)
def test_postgresql_statements_are_sent_with_numbered_marks(text: str, numbered_text: str) -> None:
    assert numbered(text) == numbered_text.encode()


@pytest.mark.skipif(
    not PG_URL.startswith("postgresql"), reason="needs LABELDESK_TEST_DATABASE_URL=postgresql…"
)
def test_a_many_row_insert_on_postgresql_stores_every_value_as_sqlalchemy_would() -> None:
    """More than 50 values: psycopg would parse such a text anew each call; it goes with $n marks
    on a raw cursor instead, and every type must still arrive as it does through SQLAlchemy."""
    name = f"raw_{uuid.uuid4().hex[:8]}"
    table = Table(
        name,
        MetaData(),
        Column("pk", BigInteger, primary_key=True),
        Column("id", String(64), nullable=False, unique=True),
        Column("n", Integer),
        Column("flag", Boolean),
        Column("blob", LargeBinary),
        Column("at", DateTime(timezone=True)),
        Column("doc", JSON),
    )
    db = Database(PG_URL)
    ts = datetime(2026, 12, 7, 6, 30, 1, 123456, tzinfo=timezone.utc)
    rows = [
        (
            f"r{i}",
            i if i % 7 else None,
            i % 2 == 0,
            bytes([i % 256]) * (i % 5),
            ts,
            orjson.dumps({"i": i}).decode(),
        )
        for i in range(200)
    ]
    columns = ("id", "n", "flag", "blob", "at", "doc")
    try:
        table.create(db.engine)
        pks = db.run(lambda conn: multirow.insert_pks(conn, table, columns, rows), write=True)
        assert len(set(pks)) == 200
        with db.engine.connect() as conn:
            stored = conn.execute(select(table).order_by(table.c.pk)).all()
        assert [r.pk for r in stored] == sorted(pks)
        by_id = {r.id: r for r in stored}
        for i, (rid, n, flag, blob, at, _doc) in enumerate(rows):
            got = by_id[rid]
            assert (got.n, got.flag, bytes(got.blob), got.at, got.doc) == (n, flag, blob, at, {"i": i})
        again = rows[:60]  # a constraint error in such a statement is translated as any other
        with pytest.raises(errors.ApiError) as e:
            db.run(lambda conn: multirow.insert_pks(conn, table, columns, again), write=True)
        assert e.value.code == errors.CONSTRAINT_VIOLATED
    finally:
        table.drop(db.engine, checkfirst=True)
        db.dispose()


def _alone_then_fail(db: Database, table: str, before: bool) -> bool:
    """A unit of work that writes 'a' in a ``statements_alone`` block (after writing 'first' in
    the transaction when ``before``), 'b' after the block, then fails; answers what the block
    answered."""
    put = Sql(f"INSERT INTO {table} (id) VALUES (?)")
    answered: list[bool] = []

    def work(conn: Any) -> None:
        if before:
            put.run(conn, ("first",))
        with statements_alone(conn) as alone:
            answered.append(alone)
            put.run(conn, ("a",))
        put.run(conn, ("b",))
        raise RuntimeError("the unit fails after the block")

    with pytest.raises(RuntimeError):
        db.run(work, write=True)
    return answered[0]


def _ids(db: Database, table: str) -> list[str]:
    read = Sql(f"SELECT id FROM {table}")
    return sorted(r[0] for r in db.run(lambda conn: read.rows(conn, ()), write=False))


def test_statements_alone_on_sqlite_stay_in_the_transaction(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'alone.db'}")
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id TEXT PRIMARY KEY)")
        assert _alone_then_fail(db, "t", before=False) is False
        assert _ids(db, "t") == [], "all of the failed unit rolled back"
    finally:
        db.dispose()


@pytest.mark.skipif(
    not PG_URL.startswith("postgresql"), reason="needs LABELDESK_TEST_DATABASE_URL=postgresql…"
)
def test_statements_alone_on_postgresql_commit_each_and_only_in_the_block() -> None:
    """In the block each statement commits (the unit's failure after it does not undo it); after
    it the unit is one transaction again (what it wrote is undone); a block after the unit's first
    statement is in the transaction; and no connection is kept in autocommit."""
    db = Database(PG_URL)
    table = f"alone_{uuid.uuid4().hex[:8]}"
    try:
        with db.write() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {table} (id TEXT PRIMARY KEY)")
        assert _alone_then_fail(db, table, before=False) is True
        assert _ids(db, table) == ["a"], "'a' committed alone; 'b' rolled back with the unit"
        with db.write() as conn:
            conn.exec_driver_sql(f"DELETE FROM {table}")
        assert _alone_then_fail(db, table, before=True) is False
        assert _ids(db, table) == [], "after the unit's first statement the block is in its transaction"
        for _ in range(3):  # whichever kept connection the next unit takes
            with db.write() as conn:
                assert conn.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]
    finally:
        with db.write() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        db.dispose()
