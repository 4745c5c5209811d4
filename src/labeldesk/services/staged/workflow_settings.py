"""A dataset's stages and workflow settings: changing them, and the due times that follow them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from labeldesk.domain import stages as st
from labeldesk.domain.stages import UnitKind
from labeldesk.services.staged.discovery import frame_attribute_units
from labeldesk.services.staged.model import Scope, SettingsChange, WorkflowSettings, conflict
from labeldesk.storage.repos import staged as repo


def apply_settings(conn: Connection, scope: Scope, change: SettingsChange) -> Scope:
    old = scope.settings
    values: dict[str, Any] = dict(change.flags)
    stages = old.stages
    if change.stages is not None:
        if [s.name for s in change.stages] != [s.name for s in old.stages]:
            require_no_work(conn, scope)
            repo.delete_units(conn, scope.dataset_pk)
            repo.forget_frames(conn, scope.dataset_pk)
            values["annotations_seen_at"] = None
        stages = change.stages
        values["stages"] = [s.to_json() for s in stages]
    if change.flags.get("frame_attributes") and not old.frame_attributes:
        repo.insert_units(conn, frame_attribute_units(scope, repo.frames(conn, scope.dataset_pk)))
    for flag, kind in (
        ("frame_attributes", UnitKind.FRAME_ATTRIBUTE),
        ("dataset_attributes", UnitKind.DATASET_ATTRIBUTE),
    ):
        if change.flags.get(flag) is False and getattr(old, flag):
            repo.delete_units(conn, scope.dataset_pk, [kind.value])
    repo.update_settings(conn, scope.dataset_pk, **values)
    stored = repo.settings(conn, scope.dataset_pk)
    assert stored is not None
    scope = replace(scope, settings=WorkflowSettings.from_row(stored))
    refresh_dues(conn, scope)
    return scope


def require_no_work(conn: Connection, scope: Scope) -> None:
    started = repo.first_started_task(conn, scope.dataset_pk)
    if started is not None:
        raise conflict(
            f"work has started in dataset '{scope.dataset_id}' (task '{started.id}' of stage "
            f"'{scope.settings.stages[started.stage_index].name}' is {started.state}): its stage list "
            "can no longer change",
            "you can still change due_at / due_in_hours of the same stages (same names, same order), or "
            "use a new dataset for a different workflow",
        )


def refresh_dues(conn: Connection, scope: Scope) -> None:
    """Due times that come from the stages follow a change of the stages' due times."""
    stages = scope.settings.stages
    dues = {}
    for r in repo.implicit_due_tasks(conn, scope.dataset_pk):
        due = st.effective_due(None, stages[r.stage_index], r.ready_at)
        if (due is None) != (r.due_at is None) or (due is not None and due != st.as_utc(r.due_at)):
            dues[r.pk] = due
    repo.set_dues(conn, dues)
