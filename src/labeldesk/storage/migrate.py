"""Schema set-up and upgrades (Alembic, packaged with the code).

A fresh database is built straight from :mod:`labeldesk.storage.tables` and stamped with the
newest revision (Alembic's "building an up to date database from scratch" recipe); an existing
one is upgraded through the revisions in ``migrations/versions``. Every schema change after the
first release therefore comes as a new revision *and* an edit of ``tables.py``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from labeldesk.storage.engine import Database
from labeldesk.storage.tables import metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = db.engine
    return cfg


def migrate(db: Database) -> str:
    """Bring the schema to the newest revision; answer what was done ("created" / "upgraded")."""
    cfg = alembic_config(db)
    existing = set(inspect(db.engine).get_table_names())
    if "alembic_version" not in existing and not (existing & set(metadata.tables)):
        metadata.create_all(db.engine)
        command.stamp(cfg, "head")
        return "created"
    command.upgrade(cfg, "head")
    return "upgraded"


def head_revision(db: Database) -> str:
    """The newest revision: what :func:`migrate` stamps or upgrades a database to."""
    head = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
    assert head is not None
    return head
