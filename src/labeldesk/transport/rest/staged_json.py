"""The staged-workflow API's JSON: the service's answers (:mod:`labeldesk.services.staged.model`)
as the documented resources (docs/staged-workflow.md: TaskResource, settings, task lists)."""

from __future__ import annotations

from typing import Any

from labeldesk.domain import stages as st
from labeldesk.services.staged.model import SETTING_FLAGS, HistoryEntry, Scope, TaskPage, TaskView, UserTasks


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


def task_json(t: TaskView) -> dict[str, Any]:
    """The TaskResource."""
    resource: dict[str, Any] = {
        "id": t.id,
        "type": t.kind,
        "client_id": t.client_id,
        "app_id": t.app_id,
        "dataset_id": t.dataset_id,
        "stage": t.stage,
        "stage_index": t.stage_index,
        "state": t.state.value,
        "assignee": t.assignee,
        "assignee_user_id": t.assignee_user_id,
        "file_id": t.file_id,
        "sequence_id": t.sequence_id,
        "label_id": t.label_id,
        "annotation_task_id": t.annotation_task_id,
        "due_at": st.format_time(t.due_at),
        "due_explicit": t.due_explicit,
        "delayed": t.overdue_seconds is not None,
        "allowed_actions": [a.value for a in t.allowed_actions],
        "created_at": st.format_time(t.created_at),
        "updated_at": st.format_time(t.updated_at),
        "history": [_history_json(h) for h in t.history],
    }
    if t.overdue_seconds is not None:
        resource["overdue_seconds"] = t.overdue_seconds
    return resource


def _history_json(h: HistoryEntry) -> dict[str, Any]:
    return {
        "at": st.format_time(h.at),
        "by": h.by,
        "by_email": h.by_email,
        "action": h.action,
        "from": h.from_state,
        "to": h.to_state,
        "assignee_from": h.assignee_from,
        "assignee_to": h.assignee_to,
        "reason": h.reason,
    }


def page_json(page: TaskPage, key: str = "tasks") -> dict[str, Any]:
    return {key: [task_json(t) for t in page.tasks], **_paging(page)}


def _paging(page: TaskPage) -> dict[str, int]:
    return {"total": page.total, "offset": page.window.offset, "limit": page.window.limit}


def user_tasks_json(u: UserTasks) -> dict[str, Any]:
    return {
        "client_id": u.client_id,
        "email": u.email,
        "user_id": u.user_id,
        "file_tasks": [task_json(t) for t in u.file_tasks.tasks],
        "label_tasks": [task_json(t) for t in u.label_tasks.tasks],
        "total_file_tasks": u.file_tasks.total,
        "total_label_tasks": u.label_tasks.total,
        "offset": u.file_tasks.window.offset,
        "limit": u.file_tasks.window.limit,
    }


def delayed_json(client_id: str, page: TaskPage) -> dict[str, Any]:
    return {"client_id": client_id, **page_json(page, "delayed_tasks")}
