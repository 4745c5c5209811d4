"""The TaskResource of the staged-workflow API (docs/staged-workflow.md), built from stored rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from labeldesk.domain import stages as st
from labeldesk.domain.stages import StageSpec, State
from labeldesk.services.staged.model import SETTING_FLAGS, SYSTEM, Scope, Window, WorkflowSettings
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import staged as repo


def render_one(conn: Connection, task_id: str) -> dict[str, Any]:
    row = repo.task_by_id(conn, task_id)
    assert row is not None
    return render(conn, [row], utcnow())[0]


def render(conn: Connection, rows: Sequence[Row[Any]], now: datetime) -> list[dict[str, Any]]:
    settings = {
        pk: WorkflowSettings.from_row(r)
        for pk, r in repo.settings_of(conn, {r.dataset_pk for r in rows}).items()
    }
    history = repo.history_of(conn, [r.pk for r in rows])
    people = {
        u for hs in history.values() for h in hs for u in (h.actor_id, h.from_assignee_id, h.to_assignee_id)
    }
    emails = repo.emails_of(conn, {u for u in people if u and u != SYSTEM})
    return [task_resource(r, settings[r.dataset_pk].stages, history.get(r.pk, []), emails, now) for r in rows]


def paging(win: Window, total: int) -> dict[str, int]:
    return {"total": total, "offset": win.offset, "limit": win.limit}


def task_resource(
    row: Row[Any],
    stages: Sequence[StageSpec],
    history: Sequence[Row[Any]],
    emails: Mapping[str, str | None],
    now: datetime,
) -> dict[str, Any]:
    """The TaskResource (docs/staged-workflow.md)."""
    state = State(row.state)
    due = st.as_utc(row.due_at) if row.due_at is not None else None
    resource = {
        "id": row.id,
        "type": row.kind,
        "client_id": row.owner_id,
        "app_id": row.app_id,
        "dataset_id": row.dataset_id,
        "stage": stages[row.stage_index].name,
        "stage_index": row.stage_index,
        "state": state.value,
        "assignee": row.assignee_email,
        "assignee_user_id": row.assignee_id,
        "file_id": row.file_id,
        "sequence_id": row.sequence_id,
        "label_id": row.label_id,
        "annotation_task_id": row.first_task_id,
        "due_at": st.format_time(due),
        "due_explicit": bool(row.due_explicit),
        "delayed": st.is_overdue(state, due, now),
        "allowed_actions": [a.value for a in st.allowed_actions(state, row.stage_index)],
        "created_at": st.format_time(row.created_at),
        "updated_at": st.format_time(row.modified_at),
        "history": [history_json(h, emails) for h in history],
    }
    if resource["delayed"] and due is not None:
        resource["overdue_seconds"] = int((now - due).total_seconds())
    return resource


def history_json(h: Row[Any], emails: Mapping[str, str | None]) -> dict[str, Any]:
    return {
        "at": st.format_time(h.at),
        "by": h.actor_id,
        "by_email": emails.get(h.actor_id),
        "action": h.action,
        "from": h.from_state,
        "to": h.to_state,
        "assignee_from": emails.get(h.from_assignee_id) if h.from_assignee_id else None,
        "assignee_to": emails.get(h.to_assignee_id) if h.to_assignee_id else None,
        "reason": h.reason,
    }


def settings_json(scope: Scope) -> dict[str, Any]:
    """A dataset's stages and workflow settings (GET/PUT .../stages)."""
    s = scope.settings
    return {
        "client_id": scope.app.owner_id,
        "app_id": scope.app.id,
        "dataset_id": scope.dataset_id,
        "stages": [x.to_json() for x in s.stages],
        **{flag: getattr(s, flag) for flag in SETTING_FLAGS},
    }
