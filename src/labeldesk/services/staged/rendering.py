"""Stored tasks as the staged-workflow API shows them (:class:`~.model.TaskView`, with their history
and people's emails), as of one "now"; the transport turns them into JSON
(``transport/rest/staged_json.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from labeldesk.domain import stages as st
from labeldesk.domain.stages import StageSpec, State
from labeldesk.services.staged.model import (
    SYSTEM,
    HistoryEntry,
    TaskView,
    WorkflowSettings,
)
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import staged as repo


def render_one(conn: Connection, task_id: str) -> TaskView:
    row = repo.task_by_id(conn, task_id)
    assert row is not None
    return render(conn, [row], utcnow())[0]


def render(conn: Connection, rows: Sequence[Row[Any]], now: datetime) -> list[TaskView]:
    settings = {
        pk: WorkflowSettings.from_row(r)
        for pk, r in repo.settings_of(conn, {r.dataset_pk for r in rows}).items()
    }
    history = repo.history_of(conn, [r.pk for r in rows])
    people = {
        u for hs in history.values() for h in hs for u in (h.actor_id, h.from_assignee_id, h.to_assignee_id)
    }
    emails = repo.emails_of(conn, {u for u in people if u and u != SYSTEM})
    return [task_view(r, settings[r.dataset_pk].stages, history.get(r.pk, []), emails, now) for r in rows]


def task_view(
    row: Row[Any],
    stages: Sequence[StageSpec],
    history: Sequence[Row[Any]],
    emails: Mapping[str, str | None],
    now: datetime,
) -> TaskView:
    """What the API shows of a stored task, as of ``now``."""
    state = State(row.state)
    due = st.as_utc(row.due_at) if row.due_at is not None else None
    delayed = st.is_overdue(state, due, now) and due is not None
    return TaskView(
        id=row.id,
        kind=row.kind,
        client_id=row.owner_id,
        app_id=row.app_id,
        dataset_id=row.dataset_id,
        stage=stages[row.stage_index].name,
        stage_index=row.stage_index,
        state=state,
        assignee=row.assignee_email,
        assignee_user_id=row.assignee_id,
        file_id=row.file_id,
        sequence_id=row.sequence_id,
        label_id=row.label_id,
        annotation_task_id=row.first_task_id,
        due_at=due,
        due_explicit=bool(row.due_explicit),
        overdue_seconds=int((now - due).total_seconds()) if delayed and due is not None else None,
        allowed_actions=st.allowed_actions(state, row.stage_index),
        created_at=row.created_at,
        updated_at=row.modified_at,
        history=[_history_entry(h, emails) for h in history],
    )


def _history_entry(h: Row[Any], emails: Mapping[str, str | None]) -> HistoryEntry:
    return HistoryEntry(
        at=h.at,
        by=h.actor_id,
        by_email=emails.get(h.actor_id),
        action=h.action,
        from_state=h.from_state,
        to_state=h.to_state,
        assignee_from=emails.get(h.from_assignee_id) if h.from_assignee_id else None,
        assignee_to=emails.get(h.to_assignee_id) if h.to_assignee_id else None,
        reason=h.reason,
    )
