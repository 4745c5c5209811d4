"""The work queue's task records, kept per process.

Every LABEL_START and LABEL_SUBMIT loads its task: parsing the stored ``Task`` and building its
:class:`~labeldesk.services.task_record.TaskRecord` cost more than reading the row. The row is
still read on every call (one indexed lookup), and the record made for it is reused while the
stored spec and status are the same bytes. So a task changed by any process or replica is seen
at once -- there is nothing to invalidate -- and the cache only saves the parsing.

Records are shared between calls: their ``spec`` must not be changed (nothing in the queue's path
does; PatchTasks works on copies).
"""

from __future__ import annotations

import threading

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import Connection

from labeldesk.services.task_model import task_missing
from labeldesk.services.task_record import TaskRecord
from labeldesk.storage.repos import assignments as repo

#: tasks remembered per process; beyond that the cache starts over
MAX_TASKS = 1024


class TaskCache:
    def __init__(self, size: int = MAX_TASKS) -> None:
        self.size = size
        self._entries: dict[tuple[int, str], tuple[int, int, bytes, TaskRecord]] = {}
        self._lock = threading.Lock()

    def load(
        self, conn: Connection, app_pk: int, task_id: str, queue: tuple[int, str] | None = None
    ) -> TaskRecord:
        """The task ``task_id`` of the app as stored now, or ApiError TASK_MISSING (54102).
        ``queue``: a worker's queue lock taken in the same statement (``repo.task_row``)."""
        row = repo.task_row(conn, app_pk, task_id, queue)
        if row is None:
            raise task_missing(task_id)
        return self.record(app_pk, task_id, row)

    def load_locking_queue(
        self, conn: Connection, app_pk: int, task_id: str, worker_id: str
    ) -> tuple[TaskRecord, bool]:
        """:meth:`load`, for a LABEL_START of ``worker_id``: answers whether the same statement
        took the worker's queue lock (``repo.lock_worker_queue``), which it can when this process
        knows the task's pk (the lock's key) -- not when the task is new to it, or was deleted and
        made again since (the lock taken then is for a pk that is gone: harmless)."""
        known = self._entries.get((app_pk, task_id))
        guess = None if known is None else known[0]
        record = self.load(conn, app_pk, task_id, None if guess is None else (guess, worker_id))
        return record, record.pk == guess

    def known(self, app_pk: int, task_id: str) -> tuple[TaskRecord, tuple[int, int, bytes]] | None:
        """The record last made for the task in this process, if any, with the stored row it was
        made from (``(pk, status, spec)``). It may be out of date: a hint for how to read the task
        (:meth:`record` answers what is stored), or what a statement checks is still stored."""
        known = self._entries.get((app_pk, task_id))
        return None if known is None else (known[3], (known[0], known[1], known[2]))

    def record(self, app_pk: int, task_id: str, row: tuple[int, int, bytes]) -> TaskRecord:
        """The record of the task whose stored row (``repo.task_row``'s ``(pk, status, spec)``)
        is ``row``."""
        pk, status, spec = row
        key = (app_pk, task_id)
        known = self._entries.get(key)
        if known is not None and known[0] == pk and known[1] == status and known[2] == spec:
            return known[3]
        parsed = resources_pb2.Task.FromString(spec)
        parsed.status.code = status
        record = TaskRecord(pk=pk, id=task_id, app_pk=app_pk, spec=parsed, status=status)
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = (pk, status, spec, record)
        return record
