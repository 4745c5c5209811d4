"""The worker loop: claim a job, run its handler, record progress as it goes, finish it.

A handler is ``handler(db, job, report) -> result``: ``job`` is the claimed row (``payload``,
``progress`` as left by an earlier, interrupted attempt), ``report(progress)`` stores progress and
extends the lease (and raises :class:`LeaseLost` when another worker took the job over, or when the
job was cancelled: the worker then ends it CANCELLED, so a handler stops at its next report). Handlers
must be resumable: a job whose worker died is claimed again once its lease runs out, with the
progress its last report stored, and runs again from there. A handler failing raises; the job is
retried up to ``max_attempts`` times, then marked failed with the error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Row

from labeldesk.storage.engine import Database
from labeldesk.storage.repos import jobs as repo

log = logging.getLogger("labeldesk.jobs")

Report = Callable[[dict[str, Any]], None]
Handler = Callable[[Database, Row[Any], Report], Any]


class LeaseLost(Exception):
    """The job's lease ran out and another worker has it now: stop without writing more."""


class Worker:
    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.5,
        max_attempts: int = 3,
    ) -> None:
        self.db = db
        self.handlers = dict(handlers)
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_one(self) -> bool:
        """Claim and run one job; False when there was none (found by a read: an idle poll
        writes nothing, :func:`repo.claimable`)."""
        kinds = list(self.handlers)
        with self.db.read() as conn:
            if not repo.claimable(conn, kinds):
                return False
        with self.db.write() as conn:
            job = repo.claim(conn, kinds, self.lease)
        if job is None:
            return False
        progress: dict[str, Any] = dict(job.progress or {})

        def report(p: dict[str, Any]) -> None:
            progress.update(p)
            with self.db.write() as conn:
                if not repo.heartbeat(conn, job.pk, progress, self.lease):
                    raise LeaseLost(job.id)

        try:
            result = self.handlers[job.kind](self.db, job, report)
        except LeaseLost:
            with self.db.write() as conn:
                if repo.stop_cancelled(conn, job.pk, progress):
                    log.info("job %s (%s): cancelled", job.id, job.kind)
                    return True
            log.warning("job %s (%s): lease lost, another worker continues it", job.id, job.kind)
            return True
        except Exception as e:
            log.warning("job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, e, exc_info=True)
            with self.db.write() as conn:
                if repo.stop_cancelled(conn, job.pk, progress):
                    return True
                if job.attempts >= self.max_attempts or getattr(e, "final", False):
                    repo.finish(conn, job.pk, repo.FAILED, progress, error=str(e))
                else:
                    repo.requeue(conn, job.pk, str(e))
            return True
        with self.db.write() as conn:
            repo.finish(conn, job.pk, repo.DONE, progress, result=result)
        return True

    def run_until_idle(self) -> int:
        """Run jobs until none is free; answer how many ran (tests, and the CLI)."""
        n = 0
        while self.run_one():
            n += 1
        return n

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_one()
            except Exception:  # the loop must survive a database hiccup
                log.warning("job worker: claiming failed", exc_info=True)
                ran = False
            if not ran:
                self._stop.wait(self.poll_seconds)

    def start(self) -> Worker:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="jobs")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


class FinalError(Exception):
    """A failure retrying cannot fix (a missing file, a bad record): the job fails at once."""

    final = True
