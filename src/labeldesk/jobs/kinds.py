"""Every job kind labeldesk runs, and the worker that runs them (started by ``labeldesk serve``)."""

from __future__ import annotations

from labeldesk.jobs import imports
from labeldesk.jobs.worker import Handler, Worker
from labeldesk.storage.engine import Database

HANDLERS: dict[str, Handler] = {
    imports.KIND: imports.run,
}


def job_worker(db: Database) -> Worker:
    return Worker(db, HANDLERS)
