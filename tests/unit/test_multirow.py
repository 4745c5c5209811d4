"""SQLite's batched inserts write shared ``None``/``bool``/short-blob columns as literals, bind other
shared values once and blobs as ``bytearray`` (storage/repos/multirow.py): what is stored must be
exactly what binding every value as given stores."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Boolean, Column, Integer, LargeBinary, MetaData, String, Table

from labeldesk.storage.repos.multirow import sqlite_insert

_TABLE = Table(
    "t",
    MetaData(),
    Column("pk", Integer, primary_key=True),
    Column("a", String),
    Column("b", Boolean),
    Column("c", LargeBinary),
    Column("d", Integer),
    Column("e", String),
)
_COLUMNS = ("a", "b", "c", "d", "e")
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.binary(max_size=40),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=5).filter(lambda s: "\x00" not in s),
)
# columns that often share one value across the batch (the case the literals are for)
_SHARED = st.sampled_from([None, True, False, b"", b"\x0a\x00", b"x" * 17, 0, 1, 0.0, 1.0, "", "u"])


def _stored(rows: list[tuple[Any, ...]], fast: bool) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (pk INTEGER PRIMARY KEY, a VARCHAR, b BOOLEAN, c BLOB, d INTEGER, e VARCHAR)")
    if fast:
        db.execute(*sqlite_insert(_TABLE, _COLUMNS, rows))
    else:
        marks = ", ".join(["(?, ?, ?, ?, ?)"] * len(rows))
        db.execute(f"INSERT INTO t ({', '.join(_COLUMNS)}) VALUES {marks}", [v for r in rows for v in r])
    cells = ", ".join(f"{c}, typeof({c})" for c in _COLUMNS)
    return list(db.execute(f"SELECT pk, {cells} FROM t ORDER BY pk"))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.lists(
            st.one_of(
                st.lists(_VALUES, min_size=n, max_size=n),
                _SHARED.map(lambda v: [v] * n),
            ),
            min_size=5,
            max_size=5,
        )
    )
)
def test_literals_and_bytearrays_store_what_binding_stores(columns: list[list[Any]]) -> None:
    rows = list(zip(*columns))
    assert _stored(rows, fast=True) == _stored(rows, fast=False)


def test_shared_none_and_bools_are_written_into_the_text() -> None:
    rows = [("x", True, b"long blob " * 3, 1, None), ("y", True, b"another one", 2, None)]
    sql, params = sqlite_insert(_TABLE, _COLUMNS, rows)
    assert sql == "INSERT INTO t (b, e, a, c, d) VALUES (1, NULL, ?, ?, ?), (1, NULL, ?, ?, ?)"
    assert params == ("x", bytearray(b"long blob " * 3), 1, "y", bytearray(b"another one"), 2)
    assert all(type(p) is not bytes for p in params)


def test_other_shared_values_are_bound_once_and_numbered_first() -> None:
    """The app, the owner, the batch's time: one parameter each for the whole statement, ahead of
    the rows' own (a plain ``?`` counts on from the largest number so far)."""
    blob = b"a long shared blob"
    rows = [("u", False, blob, 7, "2026-12-07"), ("v", False, blob, 7, "2026-12-07")]
    sql, params = sqlite_insert(_TABLE, _COLUMNS, rows)
    assert sql == "INSERT INTO t (b, c, d, e, a) VALUES (0, ?1, ?2, ?3, ?), (0, ?1, ?2, ?3, ?)"
    assert params == (bytearray(blob), 7, "2026-12-07", "u", "v")
    assert _stored(rows, fast=True) == _stored(rows, fast=False)


def test_a_false_among_equal_numbers_is_not_taken_for_a_shared_bool() -> None:
    """``False == 0 == 0.0``: a text column holding them stores '0' and '0.0' when bound."""
    rows = [(False, False, b"", 0, "x"), (0.0, False, b"", 0, "y"), (0, 0, b"", False, "z")]
    assert _stored(rows, fast=True) == _stored(rows, fast=False)
