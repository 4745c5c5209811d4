"""PatchTasks pointed a task at another input source (dataset, saved search, input, all inputs).

The task's planned inputs that the new source does not select are treated exactly like inputs
that left the source (:func:`~labeldesk.storage.repos.assignments.leave_source`): their unstarted
seats go, their kept work (started, submitted, reviewed) is marked ``off_source`` -- so an expired
DYNAMIC lease on such an input is not handed to someone else, and rejecting that work does not
re-open the input. Planned inputs the new source does select and that were off the old one are
back (:func:`~labeldesk.storage.repos.assignments.return_to_source`); the plan reset that follows
refills them.
"""

from __future__ import annotations

from collections.abc import Collection

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import Connection

from labeldesk.storage.repos import assignments as repo


def source_changed(old: resources_pb2.Task, new: resources_pb2.Task) -> bool:
    a, b = old.input_source, new.input_source
    return (a.type, a.id) != (b.type, b.id)


def switch_source(conn: Connection, task_pk: int, selected_pks: Collection[int]) -> None:
    """Mark the task's seats by the new source, given the inputs it selects now."""
    on, off = repo.planned_by_source_mark(conn, task_pk)
    if not on and not off:
        return
    selected = set(selected_pks)
    repo.leave_source(conn, [task_pk], (on | off) - selected)
    repo.return_to_source(conn, task_pk, off & selected)
