"""The import reads its source in a thread, up to two chunks ahead of the writes: a reader that
fails mid-way fails the import there (the chunks before it stay written), a bad record stops
the reading too, and no reader thread is left behind either way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from labeldesk.datasets_io.records import FormatError, Item, Record, RecordError
from labeldesk.domain import errors
from labeldesk.services import admin
from labeldesk.services import dataset_import as imp
from labeldesk.storage import tables as t
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'import.db'}")
    migrate(database)
    admin.create_user(database, "u")
    admin.create_app(database, "u", "a")
    yield database
    database.dispose()


def record(n: int) -> Record:
    return Record(f"in-{n:03d}", f"https://example.com/{n}.jpg", width=4, height=3)


def input_ids(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.scalars(select(t.inputs.c.id).order_by(t.inputs.c.id)))


def no_reader_left() -> bool:
    return not any(th.name == "import-reader" for th in threading.enumerate())


def test_a_reader_failing_mid_way_fails_the_import_after_the_chunks_before_it(db: Database) -> None:
    def items() -> Iterator[Item]:
        yield from (record(n) for n in range(5))
        raise FormatError(RecordError("data.json", "line 9", "broken JSON"))

    target = imp.Target(imp.resolve_app(db, "u/a"), dataset_id="d")
    with pytest.raises(FormatError, match="line 9"):
        imp.import_records(db, target, items(), chunk_size=2)
    assert input_ids(db) == ["in-000", "in-001", "in-002", "in-003"]  # two whole chunks, not the fifth
    with db.read() as conn:  # each with its input-level annotation and dataset membership
        assert conn.scalar(select(func.count()).select_from(t.annotations)) == 4
        assert conn.scalar(select(func.count()).select_from(t.dataset_inputs)) == 4
    assert no_reader_left()


def test_a_bad_record_stops_the_reading_too(db: Database) -> None:
    read: list[int] = []

    def items() -> Iterator[Item]:
        for n in range(1000):
            read.append(n)
            yield RecordError("data.json", f"images[{n}]", "bad") if n == 3 else record(n)

    target = imp.Target(imp.resolve_app(db, "u/a"))
    with pytest.raises(imp.ImportStopped) as stopped:
        imp.import_records(db, target, items(), chunk_size=2)
    assert stopped.value.summary.seen == 4 and stopped.value.summary.inputs == 2
    assert input_ids(db) == ["in-000", "in-001"]
    # chunks 1 and 2 (the failing one), two waiting in the queue and one more being handed over
    assert len(read) <= 2 * 5
    assert no_reader_left()


def test_large_chunks_start_with_a_fifth_of_one_small_ones_do_not() -> None:
    assert [len(c) for c in imp._chunks(map(record, range(12_000)), 5_000)] == [1_000, 5_000, 5_000, 1_000]
    assert [len(c) for c in imp._chunks(map(record, range(5)), 2)] == [2, 2, 1]


def test_an_app_deleted_during_an_import_stops_it_and_leaves_no_rows_of_it(db: Database) -> None:
    """The import's connection checks no foreign keys: it checks its app itself, each chunk."""

    def items() -> Iterator[Item]:
        yield from (record(n) for n in range(2))
        yield record(2)  # read after the first chunk was handed over; the app goes meanwhile
        with db.write() as conn:
            conn.execute(t.apps.delete())
        yield record(3)

    target = imp.Target(imp.resolve_app(db, "u/a"))
    with pytest.raises(errors.ApiError, match="deleted during the import") as stopped:
        imp.import_records(db, target, items(), chunk_size=2)
    assert stopped.value.code == errors.DOES_NOT_EXIST
    with db.read() as conn:  # no rows of an app that is not there
        assert conn.scalar(select(func.count()).select_from(t.inputs)) == 0
        assert conn.scalar(select(func.count()).select_from(t.annotations)) == 0
    assert no_reader_left()


def test_the_import_connection_is_its_own(db: Database) -> None:
    """Foreign keys off on the import's connection only; it is closed, not pooled, afterwards."""
    with db.bulk_writes() as writes, writes() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
        mine = conn.connection.dbapi_connection
    with db.write() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.connection.dbapi_connection is not mine
