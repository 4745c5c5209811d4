"""Every job kind labeldesk runs, and the worker that runs them (started by ``labeldesk serve``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import make_url

from labeldesk.jobs import imports, version_exports
from labeldesk.jobs.version_exports import MediaLinker, no_links
from labeldesk.jobs.worker import Handler, Worker
from labeldesk.services.dataset_versions import EXPORT_KIND
from labeldesk.services.export_links import ExportLinks
from labeldesk.services.import_jobs import IMPORT_KIND
from labeldesk.storage.engine import Database, is_sqlite
from labeldesk.storage.repos import secrets


def default_export_dir(database_url: str) -> Path:
    """Where dataset version archives go: ``<stem>.exports`` beside a SQLite file, else
    ``./labeldesk.exports``."""
    if is_sqlite(database_url):
        db_file = Path(make_url(database_url).database or "labeldesk.db")
        return db_file.with_name(db_file.stem + ".exports")
    return Path("labeldesk.exports")


def export_links(db: Database, folder: Path | None = None) -> ExportLinks:
    with db.write() as conn:
        secret = secrets.get_or_create(conn, "exports")
    return ExportLinks(folder or default_export_dir(db.url), secret)


def handlers(links: ExportLinks, media: MediaLinker = no_links) -> dict[str, Handler]:
    return {
        IMPORT_KIND: imports.run,
        EXPORT_KIND: version_exports.handler(links, media),
    }


def job_worker(db: Database, links: ExportLinks, media: MediaLinker = no_links) -> Worker:
    return Worker(db, handlers(links, media))
