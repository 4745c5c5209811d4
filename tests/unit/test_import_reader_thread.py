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
