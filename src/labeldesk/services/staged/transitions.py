"""Acting on a task: lock the unit, check the caller may act, apply the steps of
:func:`labeldesk.domain.stages.plan` (one history row each), and keep the Clarifai view of the
unit's annotations in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from sqlalchemy import Connection, Row

from labeldesk.domain import stages as st
from labeldesk.domain.stages import Action, State, UnitKind
from labeldesk.services.staged.assignment import history_row, ready_values, reassign
from labeldesk.services.staged.discovery import track_ids
from labeldesk.services.staged.model import Scope, forbidden
from labeldesk.storage.repos import staged as repo


def lock_for(conn: Connection, scope: Scope, row: Row[Any], action: Action, now: datetime) -> list[Row[Any]]:
    """Lock the unit's tasks, check the caller may act, and let them claim an unassigned task."""
    tasks = repo.lock_unit(conn, row.unit_pk)
    mine = tasks[row.stage_index]
    check_actor(scope, row, mine, action)
    if mine.assignee_id is None and State(mine.state) in st.ACTIVE:
        me = scope.ctx.caller_id
        reassign(conn, scope.settings.stages, mine, me, me, f"claimed by {action.value}", now)
        tasks = repo.lock_unit(conn, row.unit_pk)
    return tasks


def check_actor(scope: Scope, row: Row[Any], task: Row[Any], action: Action) -> None:
    """The owner may do anything; an assignee acts on their own task; an unassigned first-stage
    task is claimed by the member who starts or submits it."""
    me = scope.ctx.caller_id
    if scope.ctx.is_owner or task.assignee_id == me:
        return
    stage = scope.settings.stages[row.stage_index].name
    if task.assignee_id is None:
        if row.stage_index == 0 and action in (Action.START, Action.SUBMIT):
            return
        raise forbidden(
            f"task '{row.id}' ({stage}) has no assignee; only the app owner can {action.value} it",
            f"ask the owner to assign it: POST /api/v2/datasets/{row.dataset_id}/file_tasks "
            f'{{"stage": "{stage}", ...}} (label_tasks for label tasks)',
        )
    raise forbidden(
        f"task '{row.id}' ({stage}) is assigned to {row.assignee_email or task.assignee_id}; only its "
        f"assignee or the app owner ('{scope.app.owner_id}') can {action.value} it",
        f"you are '{me}'",
    )


def apply_steps(
    conn: Connection,
    scope: Scope,
    tasks: Sequence[Row[Any]],
    steps: Sequence[st.Step],
    actor: str,
    reason: str,
    now: datetime,
) -> None:
    history = []
    for step in steps:
        task = tasks[step.stage]
        values: dict[str, Any] = {"state": step.after.value}
        if step.after is State.READY:
            values.update(ready_values(scope.settings.stages, task, now))
        repo.update_task(conn, task.pk, **values)
        history.append(
            history_row(
                task.pk,
                now,
                actor,
                step.action,
                step.before,
                step.after,
                task.assignee_id,
                task.assignee_id,
                reason,
            )
        )
    repo.insert_history(conn, history)


def mark_annotations(conn: Connection, row: Row[Any], author: str, status: str) -> None:
    """The Clarifai view: the author's annotations of the unit get ``status`` and the unit's
    first-stage task id (``task_id`` and ``annotation_info.task_id``)."""
    if row.kind == UnitKind.FILE.value:
        input_pks = [row.unit_input_pk]
    elif row.kind == UnitKind.LABEL.value:
        input_pks = repo.sequence_frames(conn, row.dataset_pk, [row.sequence_id]).get(row.sequence_id, [])
    else:
        return  # attribute units carry no annotations of their own
    anns = repo.author_annotations(conn, input_pks, author, row.first_task_id)
    if row.kind == UnitKind.LABEL.value:
        anns = [a for a in anns if row.label_id in track_ids(a.data)]
    infos = {a.pk: {**(a.annotation_info or {}), "task_id": row.first_task_id} for a in anns}
    repo.set_annotation_status(conn, infos, sc.StatusCode.Value(status), row.first_task_id)
