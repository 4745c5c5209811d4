"""The staged workflow's endpoints: one method per endpoint of ``/api/v2``, each given the
transaction's connection, the caller and the request already parsed into dataclasses, answering
dataclasses (:mod:`.model`; tasks as :class:`~.model.TaskView`, built by :mod:`.rendering`) that
the transport renders as JSON. The transport runs every call through
:meth:`labeldesk.services.dispatch.Dispatcher.execute` — one write transaction (discovery and
auto-reassign write even on reads), the same database error translation and "internal error" as
every Clarifai RPC — and the caller is authenticated by the same :class:`Authenticator`.
"""

from __future__ import annotations

from sqlalchemy import Connection

from labeldesk.domain import stages as st
from labeldesk.domain.stages import Action, State
from labeldesk.services.auth import Authenticator
from labeldesk.services.staged.access import Access, member_by_email, require_owner
from labeldesk.services.staged.assignment import assign_one, auto_reassign, reassign, units_for
from labeldesk.services.staged.discovery import create_tasks, sync
from labeldesk.services.staged.model import (
    FILE_KINDS,
    LABEL_KINDS,
    MANAGE_RPC,
    READ_RPC,
    WORK_RPC,
    ActionRequest,
    Assignments,
    Caller,
    Scope,
    SettingsChange,
    TaskPage,
    TaskView,
    UserTasks,
    Window,
)
from labeldesk.services.staged.rendering import render, render_one
from labeldesk.services.staged.transitions import apply_steps, lock_for, mark_annotations
from labeldesk.services.staged.workflow_settings import apply_settings
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import staged as repo


class StagedService:
    def __init__(self, auth: Authenticator) -> None:
        self.access = Access(auth)

    # ------------------------------------------------------------------------- datasets

    def list_dataset_tasks(
        self,
        conn: Connection,
        caller: Caller,
        dataset_id: str,
        client_id: str | None = None,
        stage: str | None = None,
        state: str | None = None,
        assignee: str | None = None,
        win: Window = Window(),
    ) -> TaskPage:
        """GET /api/v2/datasets/{datasetId}/tasks → ``{"tasks": [TaskResource ...], "total", ...}``."""
        scope = self.access.dataset(conn, caller, dataset_id, client_id, READ_RPC)
        stage_index = st.stage_index(scope.settings.stages, stage) if stage else None
        state_value = st.parse_state(state).value if state else None
        assignee_id = member_by_email(conn, scope.app, assignee, "assignee").id if assignee else None
        sync(conn, scope)
        now = auto_reassign(conn, [scope.dataset_pk])
        q = repo.dataset_tasks(scope.dataset_pk, stage_index, state_value, assignee_id)
        rows, total = repo.page(conn, q, win.offset, win.limit)
        return TaskPage(render(conn, rows, now), total, win)

    def get_stages(
        self, conn: Connection, caller: Caller, dataset_id: str, client_id: str | None = None
    ) -> Scope:
        """GET /api/v2/datasets/{datasetId}/stages: the stages and workflow settings."""
        return self.access.dataset(conn, caller, dataset_id, client_id, READ_RPC)

    def put_stages(
        self,
        conn: Connection,
        caller: Caller,
        dataset_id: str,
        change: SettingsChange,
        client_id: str | None = None,
    ) -> Scope:
        """PUT /api/v2/datasets/{datasetId}/stages: change stages (before work starts), due times,
        auto_reassign, frame_attributes, dataset_attributes. Owner only."""
        scope = self.access.dataset(conn, caller, dataset_id, client_id, MANAGE_RPC)
        require_owner(scope, "change the stages and settings of a dataset")
        scope = apply_settings(conn, scope, change)
        sync(conn, scope)
        auto_reassign(conn, [scope.dataset_pk])
        return scope

    def assign(
        self,
        conn: Connection,
        caller: Caller,
        dataset_id: str,
        request: Assignments,
        client_id: str | None,
        label: bool,
    ) -> None:
        """POST /api/v2/datasets/{datasetId}/file_tasks (file and attribute units of a stage) and
        .../label_tasks (``label``: tracked objects of sequences): (re)assign. Owner only."""
        scope = self.access.dataset(conn, caller, dataset_id, client_id, MANAGE_RPC)
        require_owner(scope, "assign tasks")
        stage = st.stage_index(scope.settings.stages, request.stage) if request.stage else 0
        items = request.items
        sync(conn, scope)
        units = units_for(conn, scope, items, label)
        users = {e: member_by_email(conn, scope.app, e, "email").id for e in {i.email for i in items} if e}
        create_tasks(conn, scope, repo.units_without_tasks(conn, scope.dataset_pk))
        now = utcnow()
        for item, unit_pk in zip(items, units):
            assign_one(conn, scope, item, unit_pk, stage, users.get(item.email or ""), now)
        auto_reassign(conn, [scope.dataset_pk])

    # ------------------------------------------------------------------------- tasks

    def get_task(self, conn: Connection, caller: Caller, task_id: str) -> TaskView:
        """GET /api/v2/tasks/{taskId}."""
        self.access.task(conn, caller, task_id, READ_RPC)
        return render_one(conn, task_id)

    def act(
        self, conn: Connection, caller: Caller, task_id: str, action: Action, request: ActionRequest
    ) -> TaskView:
        """POST /api/v2/tasks/{taskId}/start|submit|accept|reject: one caller action on a task and
        everything it causes in its unit (:func:`labeldesk.domain.stages.plan`)."""
        scope, row = self.access.task(conn, caller, task_id, WORK_RPC)
        email = request.rework_email
        rework_to = member_by_email(conn, scope.app, email, "email") if email else None
        now = utcnow()
        tasks = lock_for(conn, scope, row, action, now)
        subject = f"task '{task_id}' ({scope.settings.stages[row.stage_index].name})"
        steps = st.plan([State(x.state) for x in tasks], row.stage_index, action, subject)
        apply_steps(conn, scope, tasks, steps, scope.ctx.caller_id, request.reason, now)
        status = st.annotation_status_after(action, row.stage_index, len(tasks))
        if status is not None:
            mark_annotations(conn, row, tasks[0].assignee_id or scope.ctx.caller_id, status)
        if rework_to is not None and rework_to.id != tasks[0].assignee_id:
            first = repo.lock_unit(conn, row.unit_pk)[0]
            by = scope.ctx.caller_id
            reassign(conn, scope.settings.stages, first, rework_to.id, by, f"rework: {request.reason}", now)
        auto_reassign(conn, [scope.dataset_pk])
        return render_one(conn, task_id)

    # ------------------------------------------------------------------------- clients

    def user_tasks(
        self,
        conn: Connection,
        caller: Caller,
        client_id: str,
        email: str | None = None,
        win: Window = Window(),
    ) -> UserTasks:
        """GET /api/v2/clients/{clientId}/user_tasks?email=: the user's tasks in the client's apps
        the caller can see → ``{"file_tasks": [...], "label_tasks": [...]}``."""
        client, apps = self.access.client_apps(conn, caller, client_id)
        user = self.access.user_of_client(conn, caller, client, apps, email)
        pks = [a.pk for a in apps]
        now = auto_reassign(conn, repo.auto_reassign_datasets(conn, pks))
        files = repo.page(conn, repo.user_tasks(pks, user.id, FILE_KINDS), win.offset, win.limit)
        labels = repo.page(conn, repo.user_tasks(pks, user.id, LABEL_KINDS), win.offset, win.limit)
        return UserTasks(
            client,
            user.email,
            user.id,
            TaskPage(render(conn, files[0], now), files[1], win),
            TaskPage(render(conn, labels[0], now), labels[1], win),
        )

    def delayed_tasks(
        self,
        conn: Connection,
        caller: Caller,
        client_id: str,
        win: Window = Window(),
        app_id: str | None = None,
    ) -> tuple[str, TaskPage]:
        """GET /api/v2/clients/{clientId}/delayed_tasks?app_id=: overdue tasks (not Submitted/Accepted,
        due time passed) of the client's apps (or of one), most overdue first; runs auto-reassign first."""
        client, apps = self.access.client_apps(conn, caller, client_id, app_id)
        pks = [a.pk for a in apps]
        now = auto_reassign(conn, repo.auto_reassign_datasets(conn, pks))
        rows, total = repo.page(conn, repo.delayed_tasks(pks, now), win.offset, win.limit)
        return client, TaskPage(render(conn, rows, now), total, win)
