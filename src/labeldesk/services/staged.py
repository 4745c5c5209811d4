"""The staged workflow (Deepen-style tasks API): one method per endpoint of ``/api/v2``, taking plain
Python values and the caller's credentials, answering JSON-ready dicts. No HTTP here.

- A ``clientId`` is the owning user's id; a ``datasetId`` names a dataset of one of that user's apps
  (unique per client, else 409 asking to rename); users are named by email and must own or
  collaborate on the dataset's app.
- The credentials are the same app keys and personal access tokens as the Clarifai API
  (:class:`~labeldesk.services.auth.Authenticator`); the caller must own or collaborate on the app.
- Work units and their tasks are discovered lazily and idempotently (:meth:`StagedService._sync`):
  when a dataset's tasks are listed or assigned, or its stages change; inputs added later are found
  then too.
- The state machine is :mod:`labeldesk.domain.stages`; every transition is one history row.
- One source of truth, two views: transitions change the status of the unit's annotations
  (``annotation_status_after``) and stamp them with the first-stage task id, so Clarifai's
  ``ListAnnotations(task_id=...)`` shows them.
- Every call is one write transaction (discovery and auto-reassign write even on reads).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf.message import DecodeError
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.domain import stages as st
from labeldesk.domain.stages import Action, StageSpec, State, UnitKind
from labeldesk.services.auth import APP_KEY, Authenticator
from labeldesk.services.common import MAX_PER_PAGE, new_id
from labeldesk.services.context import AppRef, RequestContext
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import accounts
from labeldesk.storage.repos import staged as repo

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


# =============================================================================================
# Plain values in
# =============================================================================================


@dataclass(frozen=True)
class Caller:
    """Who calls: the ``Authorization`` value (``Bearer <key or PAT>`` or ``Key <key or PAT>``)."""

    authorization: str | None


@dataclass(frozen=True)
class Window:
    offset: int = 0
    limit: int = DEFAULT_LIMIT


def window(
    page: int | None = None, per_page: int | None = None, offset: int | None = None, limit: int | None = None
) -> Window:
    """Pagination by ``page`` (1-based) / ``per_page`` or by ``offset`` / ``limit`` (default 100)."""
    if (page is not None or per_page is not None) and (offset is not None or limit is not None):
        raise errors.invalid("give page/per_page or offset/limit, not both")
    size = per_page if per_page is not None else limit if limit is not None else DEFAULT_LIMIT
    if not 1 <= size <= MAX_PER_PAGE:
        raise errors.invalid(f"per_page/limit must be between 1 and {MAX_PER_PAGE}, got {size}")
    if page is not None and not 1 <= page <= MAX_OFFSET // size + 1:
        raise errors.invalid(f"page: must be between 1 and {MAX_OFFSET // size + 1}, got {page}")
    if offset is not None and not 0 <= offset <= MAX_OFFSET:
        raise errors.invalid(f"offset: must be between 0 and {MAX_OFFSET}, got {offset}")
    return Window(((page or 1) - 1) * size if page is not None else offset or 0, size)


@dataclass(frozen=True)
class Settings:
    stages: list[StageSpec]
    auto_reassign: bool = False
    frame_attributes: bool = False
    dataset_attributes: bool = False
    annotations_seen_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Settings:
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
    settings: Settings

    def settings_json(self) -> dict[str, Any]:
        s = self.settings
        return {
            "client_id": self.app.owner_id,
            "app_id": self.app.id,
            "dataset_id": self.dataset_id,
            "stages": [x.to_json() for x in s.stages],
            **{flag: getattr(s, flag) for flag in SETTING_FLAGS},
        }


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


def conflict(description: str, details: str = "") -> errors.ApiError:
    return errors.ApiError(st.CONFLICT, description, details)


def forbidden(description: str, details: str = "") -> errors.ApiError:
    return errors.ApiError(PERMISSION_DENIED, description, details)


def _no_unknown(obj: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise errors.invalid(f"{where}: unknown field(s) {unknown}", f"allowed: {', '.join(sorted(allowed))}")


def _text(obj: Mapping[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = obj.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if value is None or value == "":
        if required:
            raise errors.invalid(f"{where}.{key}: required")
        return None
    if not isinstance(value, str) or len(value) > 400:
        raise errors.invalid(f"{where}.{key}: expected a string of at most 400 characters")
    return value


def _action_body(action: Action, body: Mapping[str, Any]) -> tuple[str, str | None]:
    """``reason`` (required to reject) and, for reject, an optional ``email`` to hand rework to."""
    _no_unknown(body, {"reason", "email"} if action is Action.REJECT else {"reason"}, "request body")
    reason = body.get("reason") or ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise errors.invalid(f"reason: expected a string of at most {MAX_REASON} characters")
    if action is Action.REJECT and not reason.strip():
        raise errors.invalid(
            "reason: say why the work is rejected, so its labeller knows what to fix",
            'e.g. {"reason": "the box around the car is too loose"}',
        )
    return reason.strip(), _text(body, "email", "request body")


def _item(x: Any, where: str, label: bool, default_due: tuple[bool, datetime | None]) -> Item:
    example = (
        '{"sequence_id": "s1", "label_id": "car-1", "email": "a@x"}'
        if label
        else ('{"file_id": "<input id>", "email": "a@x"}')
    )
    if not isinstance(x, dict):
        raise errors.invalid(f"{where}: an assignment is an object like {example}")
    keys = {"email", "due_at", "task_id"} | ({"sequence_id", "label_id"} if label else {"file_id", "type"})
    _no_unknown(x, keys, where)
    if "email" not in x:
        raise errors.invalid(f"{where}.email: give the assignee's email (null to unassign)", example)
    email = x["email"]
    if email is not None and (not isinstance(email, str) or not email.strip()):
        raise errors.invalid(f"{where}.email: expected an email address or null")
    set_due, due_at = (True, st.parse_time(x["due_at"], f"{where}.due_at")) if "due_at" in x else default_due
    base = Item(where, email.strip() if email else None, set_due, due_at)
    task_id = _text(x, "task_id", where)
    if task_id:
        return replace(base, task_id=task_id, kind=UnitKind.LABEL if label else UnitKind.FILE)
    if label:
        return replace(
            base,
            kind=UnitKind.LABEL,
            sequence_id=_text(x, "sequence_id", where, True),
            label_id=_text(x, "label_id", where, True),
        )
    kind = _unit_kind(x.get("type", UnitKind.FILE.value), f"{where}.type")
    needs_file = kind is not UnitKind.DATASET_ATTRIBUTE
    return replace(base, kind=kind, file_id=_text(x, "file_id", where, needs_file))


def _unit_kind(value: Any, where: str) -> UnitKind:
    allowed = [k.value for k in UnitKind if k is not UnitKind.LABEL]
    if value not in allowed:
        raise errors.invalid(
            f"{where}: '{value}' is not a file task type", f"use one of: {', '.join(allowed)}"
        )
    return UnitKind(value)


def _assignment_request(
    body: Mapping[str, Any], stages: Sequence[StageSpec], label: bool
) -> tuple[int, list[Item]]:
    _no_unknown(body, {"stage", "assignments", "due_at"}, "request body")
    stage = body.get("stage")
    if stage is not None and not isinstance(stage, str):
        raise errors.invalid("stage: expected a stage name", f"one of: {', '.join(s.name for s in stages)}")
    index = st.stage_index(stages, stage) if stage else 0
    items = body.get("assignments")
    if not isinstance(items, list) or not items or len(items) > MAX_ASSIGNMENTS:
        raise errors.invalid(f"assignments: give a list of 1-{MAX_ASSIGNMENTS} assignments")
    default_due = (True, st.parse_time(body["due_at"], "due_at")) if "due_at" in body else (False, None)
    return index, [_item(x, f"assignments[{i}]", label, default_due) for i, x in enumerate(items)]


@dataclass(frozen=True)
class SettingsChange:
    stages: list[StageSpec] | None
    flags: dict[str, bool]


def _settings_change(body: Mapping[str, Any]) -> SettingsChange:
    _no_unknown(body, {"stages", *SETTING_FLAGS}, "request body")
    if not body:
        raise errors.invalid(
            "request body: give stages and/or settings",
            '{"stages": ["Labelling", {"name": "QA", "due_in_hours": 24}], "auto_reassign": true}',
        )
    flags = {}
    for flag in SETTING_FLAGS:
        if flag in body:
            if not isinstance(body[flag], bool):
                raise errors.invalid(f"{flag}: expected true or false, got {body[flag]!r}")
            flags[flag] = body[flag]
    return SettingsChange(st.parse_stages(body["stages"]) if "stages" in body else None, flags)


# =============================================================================================
# What units are made of
# =============================================================================================


def label_key(sequence_id: str, label_id: str) -> str:
    return json.dumps([sequence_id, label_id])


def _data(raw: bytes) -> resources_pb2.Data:
    try:
        return resources_pb2.Data.FromString(raw)
    except DecodeError:  # pragma: no cover - stored by our own services
        return resources_pb2.Data()


def sequence_of(input_id: str, metadata: Mapping[str, Any] | None, raw_data: bytes) -> str | None:
    """The sequence an input is a frame of: metadata ``sequence_id``, or the input itself when it
    is a video (its frames are sampled every ``sample_ms``); None for a single frame."""
    value = (metadata or {}).get("sequence_id")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON numbers come back from Struct metadata as floats
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:128]
    video = _data(raw_data).video
    return input_id if video.url or video.base64 else None


def track_ids(raw_data: bytes) -> set[str]:
    """Tracked objects of an annotation: ``track_id`` of its regions, also inside video frames."""
    d = _data(raw_data)
    regions = [*d.regions, *(r for f in d.frames for r in f.data.regions)]
    return {r.track_id[:128] for r in regions if r.track_id}


# =============================================================================================
# The service
# =============================================================================================


class StagedService:
    def __init__(self, db: Database, auth: Authenticator) -> None:
        self.db = db
        self.auth = auth

    # ------------------------------------------------------------------------- endpoints: datasets

    def list_dataset_tasks(
        self,
        caller: Caller,
        dataset_id: str,
        client_id: str | None = None,
        stage: str | None = None,
        state: str | None = None,
        assignee: str | None = None,
        win: Window = Window(),
    ) -> dict[str, Any]:
        """GET /api/v2/datasets/{datasetId}/tasks → ``{"tasks": [TaskResource ...], "total", ...}``."""
        with self._tx() as conn:
            scope = self._dataset(conn, caller, dataset_id, client_id, READ_RPC)
            stage_index = st.stage_index(scope.settings.stages, stage) if stage else None
            state_value = st.parse_state(state).value if state else None
            assignee_id = (
                self._member_by_email(conn, scope.app, assignee, "assignee").id if assignee else None
            )
            self._sync(conn, scope)
            now = self._auto_reassign(conn, [scope.dataset_pk])
            q = repo.dataset_tasks(scope.dataset_pk, stage_index, state_value, assignee_id)
            rows, total = repo.page(conn, q, win.offset, win.limit)
            return {"tasks": self._render(conn, rows, now), **_paging(win, total)}

    def get_stages(self, caller: Caller, dataset_id: str, client_id: str | None = None) -> dict[str, Any]:
        """GET /api/v2/datasets/{datasetId}/stages: the stages and workflow settings."""
        with self._tx() as conn:
            return self._dataset(conn, caller, dataset_id, client_id, READ_RPC).settings_json()

    def put_stages(
        self, caller: Caller, dataset_id: str, body: Mapping[str, Any], client_id: str | None = None
    ) -> dict[str, Any]:
        """PUT /api/v2/datasets/{datasetId}/stages: change stages (before work starts), due times,
        auto_reassign, frame_attributes, dataset_attributes. Owner only."""
        change = _settings_change(body)
        with self._tx() as conn:
            scope = self._dataset(conn, caller, dataset_id, client_id, MANAGE_RPC)
            self._require_owner(scope, "change the stages and settings of a dataset")
            scope = self._apply_settings(conn, scope, change)
            self._sync(conn, scope)
            self._auto_reassign(conn, [scope.dataset_pk])
            return scope.settings_json()

    def assign_file_tasks(
        self, caller: Caller, dataset_id: str, body: Mapping[str, Any], client_id: str | None = None
    ) -> None:
        """POST /api/v2/datasets/{datasetId}/file_tasks: (re)assign file and attribute units of a stage."""
        self._assign(caller, dataset_id, body, client_id, label=False)

    def assign_label_tasks(
        self, caller: Caller, dataset_id: str, body: Mapping[str, Any], client_id: str | None = None
    ) -> None:
        """POST /api/v2/datasets/{datasetId}/label_tasks: (re)assign tracked objects of sequences."""
        self._assign(caller, dataset_id, body, client_id, label=True)

    # ------------------------------------------------------------------------- endpoints: tasks

    def get_task(self, caller: Caller, task_id: str) -> dict[str, Any]:
        """GET /api/v2/tasks/{taskId}."""
        with self._tx() as conn:
            self._task(conn, caller, task_id, READ_RPC)
            return self._render_one(conn, task_id)

    def start_task(self, caller: Caller, task_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /api/v2/tasks/{taskId}/start: Ready → In progress."""
        return self._act(caller, task_id, Action.START, body)

    def submit_task(self, caller: Caller, task_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /api/v2/tasks/{taskId}/submit: hand the stage's work in; the next stage opens."""
        return self._act(caller, task_id, Action.SUBMIT, body)

    def accept_task(self, caller: Caller, task_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /api/v2/tasks/{taskId}/accept: a review stage approves the unit."""
        return self._act(caller, task_id, Action.ACCEPT, body)

    def reject_task(self, caller: Caller, task_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /api/v2/tasks/{taskId}/reject: a review stage sends the unit back to the first stage."""
        return self._act(caller, task_id, Action.REJECT, body)

    # ------------------------------------------------------------------------- endpoints: clients

    def user_tasks(
        self, caller: Caller, client_id: str, email: str | None = None, win: Window = Window()
    ) -> dict[str, Any]:
        """GET /api/v2/clients/{clientId}/user_tasks?email=: the user's tasks in the client's apps
        the caller can see → ``{"file_tasks": [...], "label_tasks": [...]}``."""
        with self._tx() as conn:
            client, apps = self._client_apps(conn, caller, client_id)
            user = self._user_of_client(conn, caller, client, apps, email)
            pks = [a.pk for a in apps]
            now = self._auto_reassign(conn, repo.auto_reassign_datasets(conn, pks))
            files, n_files = repo.page(conn, repo.user_tasks(pks, user.id, FILE_KINDS), win.offset, win.limit)
            labels, n_labels = repo.page(
                conn, repo.user_tasks(pks, user.id, LABEL_KINDS), win.offset, win.limit
            )
            return {
                "client_id": client,
                "email": user.email,
                "user_id": user.id,
                "file_tasks": self._render(conn, files, now),
                "label_tasks": self._render(conn, labels, now),
                "total_file_tasks": n_files,
                "total_label_tasks": n_labels,
                "offset": win.offset,
                "limit": win.limit,
            }

    def delayed_tasks(self, caller: Caller, client_id: str, win: Window = Window()) -> dict[str, Any]:
        """GET /api/v2/clients/{clientId}/delayed_tasks: overdue tasks (not Submitted/Accepted, due
        time passed), most overdue first; runs auto-reassign first."""
        with self._tx() as conn:
            client, apps = self._client_apps(conn, caller, client_id)
            pks = [a.pk for a in apps]
            now = self._auto_reassign(conn, repo.auto_reassign_datasets(conn, pks))
            rows, total = repo.page(conn, repo.delayed_tasks(pks, now), win.offset, win.limit)
            return {
                "client_id": client,
                "delayed_tasks": self._render(conn, rows, now),
                **_paging(win, total),
            }

    # ------------------------------------------------------------------------- transactions

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.db.write() as conn:
            yield conn

    # ------------------------------------------------------------------------- who, which dataset

    def _who(self, conn: Connection, caller: Caller, rpc: str) -> RequestContext:
        return self.auth.authenticate(conn, caller.authorization, None, rpc, needs_app=False)

    def _on_app(self, conn: Connection, caller: Caller, app: AppRef, rpc: str) -> RequestContext:
        uai = resources_pb2.UserAppIDSet(user_id=app.owner_id, app_id=app.id)
        return self.auth.authenticate(conn, caller.authorization, uai, rpc, needs_app=True)

    def _visible_apps(self, conn: Connection, who: RequestContext, client_id: str | None) -> list[AppRef]:
        """Apps the caller owns or collaborates on (an app key: its app), of ``client_id`` if given."""
        if who.key_kind == APP_KEY:
            apps = [who.require_app()]
        else:
            apps = [AppRef(r.pk, r.id, r.user_id) for r in accounts.apps_of(conn, who.caller_id, 0, 100_000)]
        return [a for a in apps if not client_id or a.owner_id == client_id]

    def _dataset(
        self, conn: Connection, caller: Caller, dataset_id: str, client_id: str | None, rpc: str
    ) -> Scope:
        who = self._who(conn, caller, rpc)
        client = who.caller_id if client_id == "me" else client_id
        apps = self._visible_apps(conn, who, client)
        row = self._single_dataset(
            conn,
            dataset_id,
            repo.datasets_named(conn, dataset_id, [a.pk for a in apps]),
            who.caller_id,
            client,
        )
        app = AppRef(row.app_pk, row.app_id, row.owner_id)
        ctx = self._on_app(conn, caller, app, rpc)
        stored = repo.ensure_settings(conn, row.pk, app.pk, [s.to_json() for s in st.default_stages()])
        return Scope(ctx, app, row.pk, row.id, Settings.from_row(stored))

    def _single_dataset(
        self, conn: Connection, dataset_id: str, rows: Sequence[Row[Any]], caller_id: str, client: str | None
    ) -> Row[Any]:
        if not rows:
            of_client = f" of client '{client}'" if client else ""
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"dataset '{dataset_id}' does not exist in any app{of_client} that you ('{caller_id}') "
                "own or collaborate on",
                "check the dataset id and the key; create datasets with PostDatasets",
            )
        owners = sorted({r.owner_id for r in rows})
        if len(owners) > 1:
            raise conflict(
                f"dataset id '{dataset_id}' exists for several clients ({', '.join(owners)})",
                "add ?client_id=<owner user id> to the URL to say which",
            )
        same = repo.datasets_named(conn, dataset_id, repo.app_pks_of_owner(conn, owners[0]))
        if len(same) > 1:
            raise conflict(
                f"dataset id '{dataset_id}' is used by {len(same)} apps of client '{owners[0]}' "
                f"({', '.join(sorted(r.app_id for r in same))}); the staged API finds a dataset by its id, "
                "which must be unique per client",
                "rename one of them: create a dataset with another id in one app, add its inputs "
                "(PostDatasetInputs) and delete the old dataset",
            )
        return rows[0]

    def _task(self, conn: Connection, caller: Caller, task_id: str, rpc: str) -> tuple[Scope, Row[Any]]:
        """The task and its dataset scope; a task the caller cannot see does not exist for them."""
        self._who(conn, caller, rpc)
        row = repo.task_by_id(conn, task_id)
        missing = errors.not_found("task", task_id)
        if row is None:
            raise missing
        app = AppRef(row.app_pk, row.app_id, row.owner_id)
        try:
            ctx = self._on_app(conn, caller, app, rpc)
        except errors.ApiError as e:
            if e.code in (errors.DOES_NOT_EXIST, errors.KEY_INVALID):
                raise missing from None
            raise
        stored = repo.settings(conn, row.dataset_pk)
        assert stored is not None
        return Scope(ctx, app, row.dataset_pk, row.dataset_id, Settings.from_row(stored)), row

    def _client_apps(self, conn: Connection, caller: Caller, client_id: str) -> tuple[str, list[AppRef]]:
        """The client's apps the caller may read tasks of (collaborator scopes respected)."""
        who = self._who(conn, caller, READ_RPC)
        client = who.caller_id if client_id == "me" else client_id
        apps = []
        for app in self._visible_apps(conn, who, client):
            try:
                self._on_app(conn, caller, app, READ_RPC)
            except errors.ApiError:
                continue
            apps.append(app)
        if not apps:
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"client '{client}' has no app that you ('{who.caller_id}') own or collaborate on",
                "clientId is the user id of the apps' owner",
            )
        return client, apps

    def _user_of_client(
        self, conn: Connection, caller: Caller, client: str, apps: Sequence[AppRef], email: str | None
    ) -> Row[Any]:
        if not email:
            me = accounts.get_user(conn, self._who(conn, caller, READ_RPC).caller_id)
            if me is None or not me.email:
                raise errors.invalid(
                    "email: give the email of the user whose tasks to list", "?email=a@example.com"
                )
            email = me.email
        user = accounts.get_user_by_email(conn, email)
        if user is None or not any(accounts.is_member(conn, a.pk, a.owner_id, user.id) for a in apps):
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"no user with email '{email}' is visible to client '{client}'",
                "a user is visible when they own or collaborate on one of the client's apps",
            )
        return user

    def _member_by_email(self, conn: Connection, app: AppRef, email: str, where: str) -> Row[Any]:
        user = accounts.get_user_by_email(conn, email)
        if user is None or not accounts.is_member(conn, app.pk, app.owner_id, user.id):
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"{where}: no user with email '{email}' is visible to client '{app.owner_id}'",
                f"a user is visible when they own app '{app.id}' or collaborate on it: create them with "
                f"'labeldesk users create ID --email {email}' and add them with PostCollaborators",
            )
        return user

    def _require_owner(self, scope: Scope, what: str) -> None:
        if not scope.ctx.is_owner:
            raise forbidden(
                f"only the owner of app '{scope.app.id}' ('{scope.app.owner_id}') can {what}",
                f"you are '{scope.ctx.caller_id}'; use the owner's key",
            )

    # ------------------------------------------------------------------------- discovery

    def _sync(self, conn: Connection, scope: Scope) -> None:
        """Create the units (and their tasks) the dataset has and the workflow has not seen yet."""
        repo.forget_departed(conn, scope.dataset_pk)
        self._classify_new_inputs(conn, scope)
        self._discover_labels(conn, scope)
        if scope.settings.dataset_attributes:
            repo.insert_units(conn, [_unit(scope, UnitKind.DATASET_ATTRIBUTE, "")])
        self._create_tasks(conn, scope, repo.units_without_tasks(conn, scope.dataset_pk))

    def _classify_new_inputs(self, conn: Connection, scope: Scope) -> None:
        frames, units = [], []
        for r in repo.unclassified_inputs(conn, scope.dataset_pk):
            seq = sequence_of(r.id, r.metadata, r.data)
            frames.append({"dataset_pk": scope.dataset_pk, "input_pk": r.pk, "sequence_id": seq})
            if seq is None:
                units.append(_unit(scope, UnitKind.FILE, r.id, input_pk=r.pk))
            if scope.settings.frame_attributes:
                units.append(_unit(scope, UnitKind.FRAME_ATTRIBUTE, r.id, input_pk=r.pk, sequence_id=seq))
        repo.insert_frames(conn, frames)
        repo.insert_units(conn, units)

    def _discover_labels(self, conn: Connection, scope: Scope) -> None:
        """One label unit per tracked object (``track_id``) seen in a sequence's annotations."""
        now, seen = utcnow(), scope.settings.annotations_seen_at
        rows = repo.sequence_annotations(conn, scope.dataset_pk, seen - RESCAN_MARGIN if seen else None)
        found = sorted({(r.sequence_id, tr) for r in rows for tr in track_ids(r.data)})
        repo.insert_units(conn, [_label_unit(scope, seq, tr) for seq, tr in found])
        repo.update_settings(conn, scope.dataset_pk, annotations_seen_at=now)

    def _create_tasks(self, conn: Connection, scope: Scope, units: Sequence[Row[Any]]) -> None:
        now = utcnow()
        rows = []
        for u in units:
            for i, spec in enumerate(scope.settings.stages):
                ready_at = now if i == 0 else None
                rows.append(
                    {
                        "id": new_id(),
                        "unit_pk": u.pk,
                        "dataset_pk": scope.dataset_pk,
                        "app_pk": scope.app.pk,
                        "stage_index": i,
                        "state": (State.READY if i == 0 else State.WAITING).value,
                        "assignee_id": None,
                        "due_at": st.effective_due(None, spec, ready_at),
                        "due_explicit": False,
                        "ready_at": ready_at,
                        "auto_reassigned_at": None,
                        "created_at": now,
                        "modified_at": now,
                    }
                )
        repo.insert_tasks(conn, rows)

    # ------------------------------------------------------------------------- settings

    def _apply_settings(self, conn: Connection, scope: Scope, change: SettingsChange) -> Scope:
        old = scope.settings
        values: dict[str, Any] = dict(change.flags)
        stages = old.stages
        if change.stages is not None:
            if [s.name for s in change.stages] != [s.name for s in old.stages]:
                self._require_no_work(conn, scope)
                repo.delete_units(conn, scope.dataset_pk)
                repo.forget_frames(conn, scope.dataset_pk)
                values["annotations_seen_at"] = None
            stages = change.stages
            values["stages"] = [s.to_json() for s in stages]
        if change.flags.get("frame_attributes") and not old.frame_attributes:
            repo.insert_units(conn, _frame_attribute_units(scope, repo.frames(conn, scope.dataset_pk)))
        for flag, kind in (
            ("frame_attributes", UnitKind.FRAME_ATTRIBUTE),
            ("dataset_attributes", UnitKind.DATASET_ATTRIBUTE),
        ):
            if change.flags.get(flag) is False and getattr(old, flag):
                repo.delete_units(conn, scope.dataset_pk, [kind.value])
        repo.update_settings(conn, scope.dataset_pk, **values)
        stored = repo.settings(conn, scope.dataset_pk)
        assert stored is not None
        scope = replace(scope, settings=Settings.from_row(stored))
        self._refresh_dues(conn, scope)
        return scope

    def _require_no_work(self, conn: Connection, scope: Scope) -> None:
        started = repo.first_started_task(conn, scope.dataset_pk)
        if started is not None:
            raise conflict(
                f"work has started in dataset '{scope.dataset_id}' (task '{started.id}' of stage "
                f"'{scope.settings.stages[started.stage_index].name}' is {started.state}): its stage list "
                "can no longer change",
                "you can still change due_at / due_in_hours of the same stages (same names, same order), or "
                "use a new dataset for a different workflow",
            )

    def _refresh_dues(self, conn: Connection, scope: Scope) -> None:
        """Due times that come from the stages follow a change of the stages' due times."""
        stages = scope.settings.stages
        dues = {}
        for r in repo.implicit_due_tasks(conn, scope.dataset_pk):
            due = st.effective_due(None, stages[r.stage_index], r.ready_at)
            if (due is None) != (r.due_at is None) or (due is not None and due != st.as_utc(r.due_at)):
                dues[r.pk] = due
        repo.set_dues(conn, dues)

    # ------------------------------------------------------------------------- transitions

    def _act(self, caller: Caller, task_id: str, action: Action, body: Mapping[str, Any]) -> dict[str, Any]:
        reason, rework_email = _action_body(action, body)
        with self._tx() as conn:
            scope, row = self._task(conn, caller, task_id, WORK_RPC)
            rework_to = (
                self._member_by_email(conn, scope.app, rework_email, "email") if rework_email else None
            )
            now = utcnow()
            tasks = self._lock_for(conn, scope, row, action, now)
            subject = f"task '{task_id}' ({scope.settings.stages[row.stage_index].name})"
            steps = st.plan([State(x.state) for x in tasks], row.stage_index, action, subject)
            self._apply(conn, scope, tasks, steps, scope.ctx.caller_id, reason, now)
            status = st.annotation_status_after(action, row.stage_index, len(tasks))
            if status is not None:
                self._mark_annotations(conn, row, tasks[0].assignee_id or scope.ctx.caller_id, status)
            if rework_to is not None and rework_to.id != tasks[0].assignee_id:
                first = repo.lock_unit(conn, row.unit_pk)[0]
                by = scope.ctx.caller_id
                self._reassign(conn, scope.settings.stages, first, rework_to.id, by, f"rework: {reason}", now)
            self._auto_reassign(conn, [scope.dataset_pk])
            return self._render_one(conn, task_id)

    def _lock_for(
        self, conn: Connection, scope: Scope, row: Row[Any], action: Action, now: datetime
    ) -> list[Row[Any]]:
        """Lock the unit's tasks, check the caller may act, and let them claim an unassigned task."""
        tasks = repo.lock_unit(conn, row.unit_pk)
        mine = tasks[row.stage_index]
        self._check_actor(scope, row, mine, action)
        if mine.assignee_id is None and State(mine.state) in st.ACTIVE:
            me = scope.ctx.caller_id
            self._reassign(conn, scope.settings.stages, mine, me, me, f"claimed by {action.value}", now)
            tasks = repo.lock_unit(conn, row.unit_pk)
        return tasks

    def _check_actor(self, scope: Scope, row: Row[Any], task: Row[Any], action: Action) -> None:
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

    def _apply(
        self,
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
                values.update(_ready_values(scope.settings.stages, task, now))
            repo.update_task(conn, task.pk, **values)
            history.append(
                _history(
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

    def _reassign(
        self,
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
            values.update(_ready_values(stages, task, now))
        if auto:
            values["auto_reassigned_at"] = now
        repo.update_task(conn, task.pk, **values)
        repo.insert_history(
            conn,
            [_history(task.pk, now, actor, Action.ASSIGN, before, after, task.assignee_id, user_id, reason)],
        )

    def _mark_annotations(self, conn: Connection, row: Row[Any], author: str, status: str) -> None:
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

    # ------------------------------------------------------------------------- assignment

    def _assign(
        self, caller: Caller, dataset_id: str, body: Mapping[str, Any], client_id: str | None, label: bool
    ) -> None:
        with self._tx() as conn:
            scope = self._dataset(conn, caller, dataset_id, client_id, MANAGE_RPC)
            self._require_owner(scope, "assign tasks")
            stage, items = _assignment_request(body, scope.settings.stages, label)
            self._sync(conn, scope)
            units = self._units_for(conn, scope, items, label)
            users = {
                e: self._member_by_email(conn, scope.app, e, "email").id
                for e in {i.email for i in items}
                if e
            }
            self._create_tasks(conn, scope, repo.units_without_tasks(conn, scope.dataset_pk))
            now = utcnow()
            for item, unit_pk in zip(items, units):
                self._assign_one(conn, scope, item, unit_pk, stage, users.get(item.email or ""), now)
            self._auto_reassign(conn, [scope.dataset_pk])

    def _assign_one(
        self,
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
                self._reassign(conn, scope.settings.stages, task, user_id, scope.ctx.caller_id, who, now)
            except st.IllegalTransition as e:
                raise conflict(f"{item.where}: {e.description}", e.details) from None
            task = repo.lock_unit(conn, unit_pk)[stage]
        if item.set_due:
            due = item.due_at or st.effective_due(None, scope.settings.stages[stage], task.ready_at)
            repo.update_task(conn, task.pk, due_at=due, due_explicit=item.due_at is not None)

    def _units_for(self, conn: Connection, scope: Scope, items: Sequence[Item], label: bool) -> list[int]:
        """The unit pk of every item (label units named on assignment are created); all-or-nothing."""
        by_task = {i.task_id: repo.task_by_id(conn, i.task_id) for i in items if i.task_id}
        if label:
            self._create_named_labels(conn, scope, [i for i in items if not i.task_id])
        found = {
            kind: repo.units_by_key(
                conn, scope.dataset_pk, kind.value, [i.key for i in items if i.kind is kind]
            )
            for kind in {i.kind for i in items if not i.task_id}
        }
        out = []
        for item in items:
            if item.task_id:
                out.append(self._unit_of_task(scope, item, by_task[item.task_id], label))
            elif item.key in found[item.kind]:
                out.append(found[item.kind][item.key].pk)
            else:
                raise _missing_unit(scope, item)
        if len(set(out)) != len(out):
            dup = next(i for i, pk in zip(items, out) if out.count(pk) > 1)
            raise errors.invalid(f"{dup.where}: this unit is assigned more than once in the request")
        return out

    def _unit_of_task(self, scope: Scope, item: Item, row: Row[Any] | None, label: bool) -> int:
        if row is None or row.dataset_pk != scope.dataset_pk:
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"{item.where}.task_id: task '{item.task_id}' is not a task of dataset '{scope.dataset_id}'",
            )
        if (row.kind == UnitKind.LABEL.value) != label:
            other = "file_tasks" if label else "label_tasks"
            raise errors.invalid(
                f"{item.where}.task_id: task '{item.task_id}' is a {row.kind} task; use {other}"
            )
        return int(row.unit_pk)

    def _create_named_labels(self, conn: Connection, scope: Scope, items: Sequence[Item]) -> None:
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
        repo.insert_units(conn, [_label_unit(scope, i.sequence_id or "", i.label_id or "") for i in items])

    # ------------------------------------------------------------------------- auto-reassign

    def _auto_reassign(self, conn: Connection, dataset_pks: Sequence[int]) -> datetime:
        """Move overdue, unstarted work of datasets with auto_reassign on to the least-loaded
        assignee of its stage; answers the "now" it used."""
        now = utcnow()
        settings = {pk: Settings.from_row(r) for pk, r in repo.settings_of(conn, dataset_pks).items()}
        on = [pk for pk, s in settings.items() if s.auto_reassign]
        loads: dict[tuple[int, int], dict[str, st.Candidate]] = {}
        for row in repo.overdue_ready(conn, on, now):
            if st.may_auto_reassign(State(row.state), row.due_at, row.auto_reassigned_at, now):
                key = (row.dataset_pk, row.stage_index)
                if key not in loads:
                    loads[key] = self._candidates(conn, row)
                self._auto_move(conn, row, loads[key], settings[row.dataset_pk].stages, now)
        return now

    def _auto_move(
        self,
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
        self._reassign(conn, stages, task, pick.user_id, SYSTEM, reason, now, auto=True)
        pool[pick.user_id] = replace(pick, open_tasks=pick.open_tasks + 1)
        if old is not None:
            pool[old.user_id] = replace(old, open_tasks=max(0, old.open_tasks - 1))

    def _candidates(self, conn: Connection, row: Row[Any]) -> dict[str, st.Candidate]:
        """The stage's assignees in the dataset who are still members of the app, with their load."""
        app = accounts.get_app_by_pk(conn, row.app_pk)
        members = accounts.members(conn, app.pk, app.user_id)
        return {
            r.user_id: st.Candidate(r.user_id, r.email or "", int(r.open_tasks or 0))
            for r in repo.stage_loads(conn, row.dataset_pk, row.stage_index)
            if r.user_id in members
        }

    # ------------------------------------------------------------------------- rendering

    def _render_one(self, conn: Connection, task_id: str) -> dict[str, Any]:
        row = repo.task_by_id(conn, task_id)
        assert row is not None
        return self._render(conn, [row], utcnow())[0]

    def _render(self, conn: Connection, rows: Sequence[Row[Any]], now: datetime) -> list[dict[str, Any]]:
        settings = {
            pk: Settings.from_row(r) for pk, r in repo.settings_of(conn, {r.dataset_pk for r in rows}).items()
        }
        history = repo.history_of(conn, [r.pk for r in rows])
        people = {
            u
            for hs in history.values()
            for h in hs
            for u in (h.actor_id, h.from_assignee_id, h.to_assignee_id)
        }
        emails = repo.emails_of(conn, {u for u in people if u and u != SYSTEM})
        return [
            task_resource(r, settings[r.dataset_pk].stages, history.get(r.pk, []), emails, now) for r in rows
        ]


# =============================================================================================
# Small builders
# =============================================================================================


def _paging(win: Window, total: int) -> dict[str, int]:
    return {"total": total, "offset": win.offset, "limit": win.limit}


def _unit(scope: Scope, kind: UnitKind, key: str, **fields: Any) -> dict[str, Any]:
    return {
        "dataset_pk": scope.dataset_pk,
        "app_pk": scope.app.pk,
        "kind": kind.value,
        "key": key,
        "input_pk": None,
        "sequence_id": None,
        "label_id": None,
        **fields,
    }


def _frame_attribute_units(scope: Scope, frames: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    kind = UnitKind.FRAME_ATTRIBUTE
    return [_unit(scope, kind, f.input_id, input_pk=f.input_pk, sequence_id=f.sequence_id) for f in frames]


def _label_unit(scope: Scope, sequence_id: str, label_id: str) -> dict[str, Any]:
    return _unit(
        scope, UnitKind.LABEL, label_key(sequence_id, label_id), sequence_id=sequence_id, label_id=label_id
    )


def _ready_values(stages: Sequence[StageSpec], task: Row[Any], now: datetime) -> dict[str, Any]:
    """A task becoming Ready (again, or for a new assignee): its relative due time restarts."""
    values: dict[str, Any] = {"ready_at": now}
    if not task.due_explicit:
        values["due_at"] = st.effective_due(None, stages[task.stage_index], now)
    return values


def _missing_unit(scope: Scope, item: Item) -> errors.ApiError:
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


def _history(
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
        "history": [_history_json(h, emails) for h in history],
    }
    if resource["delayed"] and due is not None:
        resource["overdue_seconds"] = int((now - due).total_seconds())
    return resource


def _history_json(h: Row[Any], emails: Mapping[str, str | None]) -> dict[str, Any]:
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
