"""Reading the staged-workflow API's requests (query strings and JSON bodies) into the service's
dataclasses (:mod:`labeldesk.services.staged.model`), with errors that name the field to fix.
No database here: what needs one (a stage name, an email) is checked by the service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from labeldesk.domain import errors
from labeldesk.domain import stages as st
from labeldesk.domain.stages import Action, UnitKind
from labeldesk.services.common import MAX_PER_PAGE
from labeldesk.services.staged.model import (
    DEFAULT_LIMIT,
    MAX_ASSIGNMENTS,
    MAX_OFFSET,
    MAX_REASON,
    SETTING_FLAGS,
    ActionRequest,
    Assignments,
    Item,
    SettingsChange,
    Window,
)


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


def action_request(action: Action, body: Mapping[str, Any]) -> ActionRequest:
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
    return ActionRequest(reason.strip(), _text(body, "email", "request body"))


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


def assignments(body: Mapping[str, Any], label: bool) -> Assignments:
    """A bulk assignment body: ``{"stage", "due_at", "assignments": [...]}``."""
    _no_unknown(body, {"stage", "assignments", "due_at"}, "request body")
    stage = body.get("stage")
    if stage is not None and not isinstance(stage, str):
        raise errors.invalid("stage: expected a stage name")
    items = body.get("assignments")
    if not isinstance(items, list) or not items or len(items) > MAX_ASSIGNMENTS:
        raise errors.invalid(f"assignments: give a list of 1-{MAX_ASSIGNMENTS} assignments")
    default_due = (True, st.parse_time(body["due_at"], "due_at")) if "due_at" in body else (False, None)
    return Assignments(
        stage or None, [_item(x, f"assignments[{i}]", label, default_due) for i, x in enumerate(items)]
    )


def settings_change(body: Mapping[str, Any]) -> SettingsChange:
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
