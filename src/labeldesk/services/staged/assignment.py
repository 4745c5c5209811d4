"""Who does a task: the owner's bulk (re)assignment of a stage's units, and auto-reassign, which
moves overdue, unstarted work to the least-loaded assignee of its stage. Every change of assignee
is one history row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.domain import stages as st
from labeldesk.domain.stages import Action, StageSpec, State, UnitKind
from labeldesk.services.staged.discovery import label_unit
from labeldesk.services.staged.model import SYSTEM, Item, Scope, WorkflowSettings, conflict
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import accounts
from labeldesk.storage.repos import staged as repo


def assign_one(
    conn: Connection,
    scope: Scope,
    item: Item,
    unit_pk: int,
    stage: int,
    user_id: str | None,
    now: datetime,
) -> None:
    task = repo.lock_unit(conn, unit_pk)[stage]
    if task.assignee_id != user_id:
        who = f"assigned by {scope.ctx.caller_id}" if user_id else f"unassigned by {scope.ctx.caller_id}"
        try:
            reassign(conn, scope.settings.stages, task, user_id, scope.ctx.caller_id, who, now)
        except st.IllegalTransition as e:
            raise conflict(f"{item.where}: {e.description}", e.details) from None
        task = repo.lock_unit(conn, unit_pk)[stage]
    if item.set_due:
        due = item.due_at or st.effective_due(None, scope.settings.stages[stage], task.ready_at)
        repo.update_task(conn, task.pk, due_at=due, due_explicit=item.due_at is not None)


def units_for(conn: Connection, scope: Scope, items: Sequence[Item], label: bool) -> list[int]:
    """The unit pk of every item (label units named on assignment are created); all-or-nothing."""
    by_task = {i.task_id: repo.task_by_id(conn, i.task_id) for i in items if i.task_id}
    if label:
        create_named_labels(conn, scope, [i for i in items if not i.task_id])
    found = {
        kind: repo.units_by_key(conn, scope.dataset_pk, kind.value, [i.key for i in items if i.kind is kind])
        for kind in {i.kind for i in items if not i.task_id}
    }
    out = []
    for item in items:
        if item.task_id:
            out.append(unit_of_task(scope, item, by_task[item.task_id], label))
        elif item.key in found[item.kind]:
            out.append(found[item.kind][item.key].pk)
        else:
            raise missing_unit(scope, item)
    if len(set(out)) != len(out):
        dup = next(i for i, pk in zip(items, out) if out.count(pk) > 1)
        raise errors.invalid(f"{dup.where}: this unit is assigned more than once in the request")
    return out


def unit_of_task(scope: Scope, item: Item, row: Row[Any] | None, label: bool) -> int:
    if row is None or row.dataset_pk != scope.dataset_pk:
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"{item.where}.task_id: task '{item.task_id}' is not a task of dataset '{scope.dataset_id}'",
        )
    if (row.kind == UnitKind.LABEL.value) != label:
        other = "file_tasks" if label else "label_tasks"
        raise errors.invalid(f"{item.where}.task_id: task '{item.task_id}' is a {row.kind} task; use {other}")
    return int(row.unit_pk)


def create_named_labels(conn: Connection, scope: Scope, items: Sequence[Item]) -> None:
    seqs = {i.sequence_id for i in items if i.sequence_id}
    frames = repo.sequence_frames(conn, scope.dataset_pk, seqs)
    missing = [i for i in items if i.sequence_id not in frames]
    if missing:
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"{missing[0].where}.sequence_id: dataset '{scope.dataset_id}' has no sequence "
            f"'{missing[0].sequence_id}'",
            "a sequence is the inputs with the same metadata sequence_id, or one video input (its id)",
        )
    repo.insert_units(conn, [label_unit(scope, i.sequence_id or "", i.label_id or "") for i in items])


def missing_unit(scope: Scope, item: Item) -> errors.ApiError:
    if item.kind is UnitKind.FILE:
        return errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"{item.where}.file_id: '{item.file_id}' is not a single-frame input of dataset "
            f"'{scope.dataset_id}'",
            "add it with PostDatasetInputs; frames of a sequence (metadata sequence_id, or a video) are "
            f"assigned per tracked object with POST /api/v2/datasets/{scope.dataset_id}/label_tasks",
        )
    what = f"{item.kind.value} unit" + (f" of '{item.file_id}'" if item.file_id else "")
    return errors.ApiError(
        errors.DOES_NOT_EXIST,
        f"{item.where}: dataset '{scope.dataset_id}' has no {what}",
        "turn frame_attributes / dataset_attributes on with PUT /api/v2/datasets/{datasetId}/stages",
    )


def reassign(
    conn: Connection,
    stages: Sequence[StageSpec],
    task: Row[Any],
    user_id: str | None,
    actor: str,
    reason: str,
    now: datetime,
    auto: bool = False,
) -> None:
    before = State(task.state)
    after = st.next_state(before, Action.ASSIGN, task.stage_index, f"task '{task.id}'")
    values: dict[str, Any] = {"assignee_id": user_id, "state": after.value}
    if after is State.READY:
        values.update(ready_values(stages, task, now))
    if auto:
        values["auto_reassigned_at"] = now
    repo.update_task(conn, task.pk, **values)
    repo.insert_history(
        conn,
        [history_row(task.pk, now, actor, Action.ASSIGN, before, after, task.assignee_id, user_id, reason)],
    )


def ready_values(stages: Sequence[StageSpec], task: Row[Any], now: datetime) -> dict[str, Any]:
    """A task becoming Ready (again, or for a new assignee): its relative due time restarts."""
    values: dict[str, Any] = {"ready_at": now}
    if not task.due_explicit:
        values["due_at"] = st.effective_due(None, stages[task.stage_index], now)
    return values


def history_row(
    task_pk: int,
    at: datetime,
    actor: str,
    action: Action,
    before: State,
    after: State,
    from_assignee: str | None,
    to_assignee: str | None,
    reason: str,
) -> dict[str, Any]:
    return {
        "task_pk": task_pk,
        "at": at,
        "actor_id": actor,
        "action": action.value,
        "from_state": before.value,
        "to_state": after.value,
        "from_assignee_id": from_assignee,
        "to_assignee_id": to_assignee,
        "reason": reason,
    }


def auto_reassign(conn: Connection, dataset_pks: Sequence[int]) -> datetime:
    """Move overdue, unstarted work of datasets with auto_reassign on to the least-loaded
    assignee of its stage; answers the "now" it used."""
    now = utcnow()
    settings = {pk: WorkflowSettings.from_row(r) for pk, r in repo.settings_of(conn, dataset_pks).items()}
    on = [pk for pk, s in settings.items() if s.auto_reassign]
    loads: dict[tuple[int, int], dict[str, st.Candidate]] = {}
    for row in repo.overdue_ready(conn, on, now):
        if st.may_auto_reassign(State(row.state), row.due_at, row.auto_reassigned_at, now):
            key = (row.dataset_pk, row.stage_index)
            if key not in loads:
                loads[key] = candidates(conn, row)
            auto_move(conn, row, loads[key], settings[row.dataset_pk].stages, now)
    return now


def auto_move(
    conn: Connection,
    row: Row[Any],
    pool: dict[str, st.Candidate],
    stages: Sequence[StageSpec],
    now: datetime,
) -> None:
    """Move one overdue task to the least-loaded other assignee (``pool``, updated in place);
    skip it when nobody else is there or another transaction holds it."""
    pick = st.least_loaded(list(pool.values()), exclude=row.assignee_id)
    if pick is None:
        return
    task = repo.lock_task_if_free(conn, row.pk)
    if task is None or task.state != State.READY.value or task.assignee_id != row.assignee_id:
        return
    old = pool.get(row.assignee_id)
    reason = (
        f"overdue since {st.format_time(row.due_at)}: moved from {old.email if old else row.assignee_id} "
        f"to the least-loaded assignee of the stage ({pick.open_tasks} open tasks)"
    )
    reassign(conn, stages, task, pick.user_id, SYSTEM, reason, now, auto=True)
    pool[pick.user_id] = replace(pick, open_tasks=pick.open_tasks + 1)
    if old is not None:
        pool[old.user_id] = replace(old, open_tasks=max(0, old.open_tasks - 1))


def candidates(conn: Connection, row: Row[Any]) -> dict[str, st.Candidate]:
    """The stage's assignees in the dataset who are still members of the app, with their load."""
    app = accounts.get_app_by_pk(conn, row.app_pk)
    members = accounts.members(conn, app.pk, app.user_id)
    return {
        r.user_id: st.Candidate(r.user_id, r.email or "", int(r.open_tasks or 0))
        for r in repo.stage_loads(conn, row.dataset_pk, row.stage_index)
        if r.user_id in members
    }
