"""The staged workflow's values: who calls, what they ask for (parsed by the transport into these
dataclasses), the dataset they work in, and the workflow's constants."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from sqlalchemy import Row

from labeldesk.domain import errors
from labeldesk.domain import stages as st
from labeldesk.domain.stages import Action, StageSpec, State, UnitKind
from labeldesk.services.context import AppRef, RequestContext

SYSTEM = "system"
READ_RPC = "ListTasks"  # scope Tasks:Get
WORK_RPC = "PutTaskAssignments"  # scope Tasks:Add: what labelers and reviewers do
MANAGE_RPC = "PatchTasks"  # scope Tasks:Patch: stages and assignments
DEFAULT_LIMIT = 100
MAX_OFFSET = 2**31 - 1  # far beyond any listing, well inside every database's integer range
MAX_ASSIGNMENTS = 1000
MAX_REASON = 2000
RESCAN_MARGIN = timedelta(seconds=60)
PERMISSION_DENIED = sc.TASK_PERMISSION_DENIED
FILE_KINDS = (UnitKind.FILE.value, UnitKind.FRAME_ATTRIBUTE.value, UnitKind.DATASET_ATTRIBUTE.value)
LABEL_KINDS = (UnitKind.LABEL.value,)
SETTING_FLAGS = ("auto_reassign", "frame_attributes", "dataset_attributes")


@dataclass(frozen=True)
class Caller:
    """Who calls: the ``Authorization`` value (``Bearer <key or PAT>`` or ``Key <key or PAT>``)."""

    authorization: str | None


@dataclass(frozen=True)
class Window:
    offset: int = 0
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class WorkflowSettings:
    """A dataset's stages and workflow flags, as stored."""

    stages: list[StageSpec]
    auto_reassign: bool = False
    frame_attributes: bool = False
    dataset_attributes: bool = False
    annotations_seen_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Row[Any]) -> WorkflowSettings:
        seen = row.annotations_seen_at
        return cls(
            stages=st.stages_from_json(row.stages),
            auto_reassign=row.auto_reassign,
            frame_attributes=row.frame_attributes,
            dataset_attributes=row.dataset_attributes,
            annotations_seen_at=st.as_utc(seen) if seen is not None else None,
        )


@dataclass(frozen=True)
class Scope:
    """A resolved dataset, with the caller's context on its app."""

    ctx: RequestContext
    app: AppRef
    dataset_pk: int
    dataset_id: str
    settings: WorkflowSettings


def label_key(sequence_id: str, label_id: str) -> str:
    return json.dumps([sequence_id, label_id])


@dataclass(frozen=True)
class Item:
    """One entry of a bulk assignment, as given."""

    where: str
    email: str | None
    set_due: bool
    due_at: datetime | None
    task_id: str | None = None
    kind: UnitKind = UnitKind.FILE
    file_id: str | None = None
    sequence_id: str | None = None
    label_id: str | None = None

    @property
    def key(self) -> str:
        if self.kind is UnitKind.LABEL:
            return label_key(self.sequence_id or "", self.label_id or "")
        return self.file_id or ""


@dataclass(frozen=True)
class Assignments:
    """A bulk assignment: the stage (by name; None = the first) and its items."""

    stage: str | None
    items: list[Item]


@dataclass(frozen=True)
class ActionRequest:
    """A start/submit/accept/reject: the reason (required to reject), and for a reject the email of
    whom to hand the rework to."""

    reason: str = ""
    rework_email: str | None = None


@dataclass(frozen=True)
class SettingsChange:
    stages: list[StageSpec] | None
    flags: dict[str, bool]


def conflict(description: str, details: str = "") -> errors.ApiError:
    return errors.ApiError(st.CONFLICT, description, details)


def forbidden(description: str, details: str = "") -> errors.ApiError:
    return errors.ApiError(PERMISSION_DENIED, description, details)


# ------------------------------------------------------------------------- what the endpoints answer


@dataclass(frozen=True)
class HistoryEntry:
    """One transition or change of assignee of a task (people by user id and email)."""

    at: datetime
    by: str
    by_email: str | None
    action: str
    from_state: str
    to_state: str
    assignee_from: str | None
    assignee_to: str | None
    reason: str


@dataclass(frozen=True)
class TaskView:
    """A task as the API shows it (the TaskResource of docs/staged-workflow.md)."""

    id: str
    kind: str
    client_id: str
    app_id: str
    dataset_id: str
    stage: str
    stage_index: int
    state: State
    assignee: str | None
    assignee_user_id: str | None
    file_id: str | None
    sequence_id: str | None
    label_id: str | None
    annotation_task_id: str
    due_at: datetime | None
    due_explicit: bool
    overdue_seconds: int | None
    """None unless the task is delayed (not handed in, due time passed)"""
    allowed_actions: list[Action]
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntry]


@dataclass(frozen=True)
class TaskPage:
    tasks: list[TaskView]
    total: int
    window: Window


@dataclass(frozen=True)
class UserTasks:
    client_id: str
    email: str | None
    user_id: str
    file_tasks: TaskPage
    label_tasks: TaskPage
