"""Schema upgrades: a database made by the first release (revision 0001) is brought to the newest
revision by ``migrate`` with its rows intact, and a fresh one is created at the newest revision."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
    text,
)

from labeldesk.services import admin
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import head_revision, migrate
from labeldesk.storage.repos import inputs as inputs_repo
from labeldesk.storage.tables import PK, metadata
from tests.ops.test_crash import _databases

ADDED_IN_0002 = ("data_json", "data_json_format")
TABLES_ADDED_IN_0002 = ("task_review_log",)
# tables of later revisions: dropped too, to make a true revision-0001 database
TABLES_ADDED_AFTER_0002 = (
    "server_secrets",
    "inputs_add_jobs",
    "concept_relations",
    "blobs",
    "jobs",
    "dataset_version_inputs",
    "dataset_versions",
    "models",
    "prelabel_outcomes",
    "prelabel_inputs",
    "model_decisions",
    "upload_parts",
    "uploads",
    "sweep_turns",
)
# columns of task_assignments added by revisions 0010 (time per item) and 0011 (off_source)
ADDED_IN_0010 = ("started_at", "submitted_at", "off_source")
# columns added by later revisions: 0035 (unsettled_above), 0036 (the rescan's versions)
ADDED_LATER = (("tasks", "unsettled_above"), ("tasks", "source_rescan_version"), ("datasets", "late_version"))
TABLES_ADDED_AFTER_0004 = (
    "dataset_version_inputs",
    "dataset_versions",
    "jobs",
    "models",
    "prelabel_outcomes",
    "prelabel_inputs",
    "model_decisions",
    "upload_parts",
    "uploads",
    "sweep_turns",
)
# the keys table before revision 0004: the token in plain text is the primary key
LEGACY_TOKENS = ("0123456789abcdef0123456789abcdef", "0123456789abffffffffffffffffffff", "short")


def _legacy_keys(conn: Connection, user_id: str) -> None:
    """Replace the keys table by its shape before revision 0004, holding LEGACY_TOKENS."""
    conn.execute(text("drop table keys"))
    old = MetaData()
    keys = Table(
        "keys",
        old,
        Column("id", String(64), primary_key=True),
        Column("kind", String(32), nullable=False),
        Column("user_id", String(128), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        Column("app_pk", PK, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=True),
        Column("description", Text, nullable=False, default=""),
        Column("scopes", JSON, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=True),
    )
    Table("users", old, Column("id", String(128), primary_key=True))
    Table("apps", old, Column("pk", PK, primary_key=True))
    keys.create(conn)
    for token in LEGACY_TOKENS:
        conn.execute(
            keys.insert().values(
                id=token, kind="personal_access_token", user_id=user_id, scopes=["All"], created_at=utcnow()
            )
        )


def _version(db: Database) -> str:
    with db.read() as conn:
        return str(conn.execute(text("select version_num from alembic_version")).scalar_one())


def _annotation_columns(db: Database) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns("annotations")}


def _tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def _shape(db: Database, table: str) -> dict[str, object]:
    """What a table looks like to the database: columns, keys, foreign keys and indexes."""
    insp = inspect(db.engine)
    return {
        "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
        "pk": insp.get_pk_constraint(table)["constrained_columns"],
        "fks": sorted(
            (tuple(f["constrained_columns"]), f["referred_table"], f["options"].get("ondelete"))
            for f in insp.get_foreign_keys(table)
        ),
        "indexes": sorted((i["name"], tuple(i["column_names"])) for i in insp.get_indexes(table)),
    }


def test_fresh_database_is_created_at_the_newest_revision(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert migrate(db) == "created"
        assert _version(db) == head_revision(db)
        assert set(ADDED_IN_0002) <= _annotation_columns(db)
        assert set(TABLES_ADDED_IN_0002) <= _tables(db)
        assert migrate(db) == "upgraded"  # and again: nothing to do
    finally:
        db.dispose()


def test_a_0001_database_is_upgraded_and_keeps_its_annotations(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        metadata.create_all(db.engine)
        metadata.create_all(fresh.engine)
        created = {table: _shape(fresh, table) for table in TABLES_ADDED_IN_0002}
        admin.create_user(db, "u", "u@example.com")
        app_pk = admin.create_app(db, "u", "a")
        with db.write() as conn:
            for column in ADDED_IN_0002:
                conn.execute(text(f"alter table annotations drop column {column}"))
            for column in ADDED_IN_0010:
                conn.execute(text(f"alter table task_assignments drop column {column}"))
            for table, column in ADDED_LATER:
                conn.execute(text(f"alter table {table} drop column {column}"))
            for table in TABLES_ADDED_IN_0002 + TABLES_ADDED_AFTER_0002:
                conn.execute(text(f"drop table {table}"))
            _legacy_keys(conn, "u")
            conn.execute(text("create table alembic_version (version_num varchar(32) primary key)"))
            conn.execute(text("insert into alembic_version values ('0001')"))
            row = {"id": "in-1", "data": b"", "metadata": None, "status": 30000}
            input_pk = inputs_repo.insert_many(conn, app_pk, [row])["in-1"].pk
            conn.execute(
                text(
                    "insert into annotations (app_pk, id, input_pk, user_id, data, status, model_version_id, "
                    "embed_model_version_id, input_level, trusted, created_at, modified_at) values "
                    "(:app, 'ann-1', :input, 'u', x'', 24150, '', '', 0, 1, :now, :now)"
                ),
                {"app": app_pk, "input": input_pk, "now": utcnow()},
            )
        assert not set(ADDED_IN_0002) & _annotation_columns(db)
        assert not set(TABLES_ADDED_IN_0002) & _tables(db)
        assert migrate(db) == "upgraded"
        assert _version(db) == head_revision(db)
        assert set(ADDED_IN_0002) <= _annotation_columns(db)
        assert set(TABLES_ADDED_IN_0002) <= _tables(db)
        upgraded = {table: _shape(db, table) for table in TABLES_ADDED_IN_0002}
        assert upgraded == created, "the upgrade creates the tables as a fresh database has them"
        assert _shape(db, "blobs") == _shape(fresh, "blobs"), "revision 0005 makes blobs as tables.py does"
        assert _shape(db, "task_assignments") == _shape(fresh, "task_assignments"), (
            "0010 adds the timing columns"
        )
        with db.read() as conn:
            kept = conn.execute(text("select id, data_json from annotations")).all()
        assert [tuple(k) for k in kept] == [("ann-1", None)], "rendered on read until next written"
    finally:
        db.dispose()
        fresh.dispose()


def test_server_secrets_are_made_once_and_kept(tmp_path: Path) -> None:
    from labeldesk.storage.repos import secrets as server_secrets

    db = Database(f"sqlite:///{tmp_path / 'secrets.db'}")
    try:
        migrate(db)
        with db.write() as conn:
            first = server_secrets.get_or_create(conn, "files")
        with db.write() as conn:
            assert server_secrets.get_or_create(conn, "files") == first
            assert server_secrets.get_or_create(conn, "keys") != first
        assert len(first) == server_secrets.SECRET_BYTES
    finally:
        db.dispose()


def test_revision_0004_hashes_the_stored_tokens_and_they_keep_working(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'keys.db'}")
    fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        upgrade_0003_keys(db, fresh)
    finally:
        db.dispose()
        fresh.dispose()


def upgrade_0003_keys(db: Database, fresh: Database) -> None:
    """Make ``db`` a revision-0003 database holding plain-text tokens, upgrade it, and check the
    tokens are hashed, still authenticate, and the table matches a ``fresh`` one (also run on
    PostgreSQL by tests/postgres)."""
    from labeldesk.services.auth import Authenticator
    from labeldesk.storage.repos import accounts

    migrate(fresh)
    migrate(db)
    admin.create_user(db, "u", "u@example.com")
    with db.write() as conn:
        _legacy_keys(conn, "u")
        for table in TABLES_ADDED_AFTER_0004:  # later revisions make them again
            conn.execute(text(f"drop table {table}"))
        for column in ADDED_IN_0010:
            conn.execute(text(f"alter table task_assignments drop column {column}"))
        for table, column in ADDED_LATER:
            conn.execute(text(f"alter table {table} drop column {column}"))
        conn.execute(text("update alembic_version set version_num = '0003'"))
    assert migrate(db) == "upgraded"
    assert _version(db) == head_revision(db)
    assert _shape(db, "keys") == _shape(fresh, "keys")
    uniques = [sorted(u["column_names"]) for u in inspect(db.engine).get_unique_constraints("keys")]
    assert ["secret_hash"] in uniques
    with db.read() as conn:
        stored = conn.execute(text("select id, secret_hash from keys")).all()
        ids = {row.id for row in stored}
        assert not ids & set(LEGACY_TOKENS), "no token is stored in plain text"
        assert {LEGACY_TOKENS[0][:12], LEGACY_TOKENS[1][:12]} <= ids and len(ids) == 3
        assert all(len(row.secret_hash) == 64 for row in stored)
        for token in LEGACY_TOKENS:
            assert Authenticator().key(conn, f"Key {token}").user_id == "u"
        found = accounts.get_key(conn, "u", LEGACY_TOKENS[0])
        assert found is not None and found.id == LEGACY_TOKENS[0][:12]


@pytest.mark.parametrize("database", _databases())
def test_revision_0034_gives_the_jobs_of_tasks_their_task(
    private_database: Callable[[str, str], str], database: str
) -> None:
    """Jobs queued before revision 0034 get ``task_pk`` from their payloads, and the queue's look-up
    of a task's jobs (by ``ix_jobs_task``) finds them; a job for no task keeps none."""
    from alembic import command

    from labeldesk.storage.migrate import alembic_config
    from labeldesk.storage.repos import models as models_repo

    db = Database(private_database(database, "jobs.db"))
    try:
        migrate(db)
        command.downgrade(alembic_config(db), "0033")
        admin.create_user(db, "u", "u@example.com")
        app_pk = admin.create_app(db, "u", "a")
        now = utcnow()
        with db.write() as conn:
            for job_id, kind, payload in (
                ("j-model", "auto_annotation", {"task_pk": 7, "model_id": "m", "task_id": "t"}),
                ("j-assist", "prelabels", {"task_pk": 7, "task_id": "t"}),
                ("j-other-task", "auto_annotation", {"task_pk": 8, "model_id": "m", "task_id": "u"}),
                ("j-import", "import", {"root": "x"}),
            ):
                conn.execute(
                    insert(Table("jobs", MetaData(), autoload_with=conn)).values(
                        id=job_id,
                        app_pk=app_pk,
                        kind=kind,
                        payload=payload,
                        state="done",
                        progress={},
                        error="",
                        attempts=1,
                        created_at=now,
                        modified_at=now,
                    )
                )
        assert migrate(db) == "upgraded"
        with db.read() as conn:
            stored = dict(conn.execute(text("select id, task_pk from jobs")).all())
            found = [j.id for j in models_repo.jobs_of_task(conn, app_pk, "auto_annotation", 7)]
        assert stored == {"j-model": 7, "j-assist": 7, "j-other-task": 8, "j-import": None}
        assert found == ["j-model"]
    finally:
        db.dispose()
