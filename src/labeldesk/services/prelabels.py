"""Pre-labels for humans (docs/models.md "Pre-labels"): a task names a model as its assistant
(``ai_assistant`` / ``ai_assist_params``); a background job (kind ``prelabels``, run by
:mod:`labeldesk.jobs.prelabels`) stores the model's suggestions as model-made annotations of the
task; LABEL_START hands them out with each input as editable regions; LABEL_SUBMIT records what
the labeler did with each (kept, changed, removed); GetTask's metrics sum that per model.

The rules are :mod:`labeldesk.domain.prelabels`; this module checks the model at PostTasks and
PatchTasks, queues the job, and reads and writes the pre-labels and outcomes inside the calling
RPC's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.domain import prelabels as rules
from labeldesk.domain.task_rules import prefixed
from labeldesk.services import prelabel_queue as queue
from labeldesk.services.common import new_id
from labeldesk.services.context import AppRef
from labeldesk.services.model_run import model_ref
from labeldesk.services.models import require_model, require_version
from labeldesk.services.task_record import TaskRecord
from labeldesk.storage.repos import jobs as jobs_repo
from labeldesk.storage.repos import models as models_repo
from labeldesk.storage.repos import prelabels as repo

PRELABELS_KIND = queue.KIND
#: GetTask ``metadata`` key of the pre-label report (TaskMetrics has no field for it)
METRICS_KEY = "prelabels"


def check_assistant(conn: Connection, app: AppRef, spec: resources_pb2.Task, where: str) -> None:
    """The assistant model exists, has the version named (if any) and is bound to a backend;
    errors name the field (``tasks[0].ai_assistant.workflow_id: model 'x' does not exist``)."""
    assistant = rules.assistant_of(spec, where)
    if assistant is None:
        return
    with prefixed(f"{where}.{rules.field_of(spec)}: "):
        row = require_model(conn, app.pk, assistant.model_id)
        require_version(row, assistant.version_id)
        model_ref(row)


def queue_job(conn: Connection, app: AppRef, task_pk: int, task_id: str, spec: resources_pb2.Task) -> None:
    """One job computing the task's pre-labels, when the task names an assistant."""
    if rules.assistant_of(spec, "task") is None:
        return
    payload = {"task_pk": task_pk, "task_id": task_id, "app_id": app.id, "owner_id": app.owner_id}
    jobs_repo.insert_job(conn, new_id(), PRELABELS_KIND, payload, app.pk)


def attach(conn: Connection, task: TaskRecord, inputs: Mapping[int, resources_pb2.Input]) -> None:
    """LABEL_START: add the task's pre-labels of each input (by input pk): regions to its
    ``data.regions``, each marked in ``data.metadata.prelabel`` with the model that made it
    (``model_id``, ``model_version_id``) and the pre-label annotation's id; and in the input's own
    ``data.metadata.prelabel`` whether they are ``ready`` or still ``pending`` (the job has not
    reached the input yet), with the pre-labelled tags (``concepts``) and who made them."""
    states = queue.states(conn, task, list(inputs))
    for pk, state in states.items():
        if pk in inputs:
            inputs[pk].data.metadata.update({rules.MARKER: {"state": state}})
    for row in repo.of_inputs(conn, task.app_pk, task.id, list(inputs)):
        target = inputs.get(int(row.input_pk))
        if target is None:
            continue
        marker = {
            "model_id": _model_of(row),
            "model_version_id": row.model_version_id,
            "annotation_id": row.id,
        }
        data = resources_pb2.Data.FromString(row.data)
        for region in data.regions:
            region.data.metadata.update({rules.MARKER: marker})
            target.data.regions.append(region)
        if data.concepts:
            tags = [{"id": c.id, "name": c.name or c.id, "value": round(c.value, 4)} for c in data.concepts]
            target.data.metadata.update({rules.MARKER: {"state": "ready", **marker, "concepts": tags}})


def _model_of(row: Row[Any]) -> str:
    """The model that made a pre-label annotation (``annotation_info.prelabel.model_id``)."""
    return str(((row.annotation_info or {}).get(rules.MARKER) or {}).get("model_id", ""))


def record_outcomes(conn: Connection, task: TaskRecord, input_pk: int, worker_id: str) -> None:
    """LABEL_SUBMIT: what the worker's annotations of the task on the input did with each of its
    pre-labels (regions and tags), stored per region or tag (a resubmission replaces the earlier
    outcomes)."""
    pre = repo.of_inputs(conn, task.app_pk, task.id, [input_pk])
    if not pre:
        return
    submitted: list[tuple[str, rules.Shape]] = []
    tags: set[str] = set()
    for raw in repo.worker_data(conn, task.app_pk, task.id, input_pk, worker_id):
        data = resources_pb2.Data.FromString(raw)
        submitted.extend((r.id, rules.shape_of(r)) for r in data.regions)
        tags.update(c.id for c in data.concepts if c.value > 0)
    shapes: dict[str, rules.Shape] = {}
    made_by: dict[str, tuple[str, str]] = {}
    found: dict[str, str] = {}
    for row in pre:
        data = resources_pb2.Data.FromString(row.data)
        for r in data.regions:
            shapes[r.id] = rules.shape_of(r)
            made_by[r.id] = (_model_of(row), row.model_version_id)
        for concept_id, outcome in rules.tag_outcomes([c.id for c in data.concepts], tags).items():
            tag_id = f"{row.id}{rules.TAG_SEPARATOR}{concept_id}"
            found[tag_id] = outcome
            made_by[tag_id] = (_model_of(row), row.model_version_id)
    found.update(rules.outcomes(shapes, submitted))
    rows = [
        {"model_id": m, "model_version_id": v, "region_id": rid, "outcome": outcome}
        for rid, outcome in found.items()
        for m, v in [made_by[rid]]
    ]
    repo.replace_outcomes(conn, task.pk, input_pk, worker_id, rows)


def report(conn: Connection, task: TaskRecord) -> dict[str, object]:
    """GetTask ``metadata.prelabels``: per model (version), the labelers' outcomes and acceptance
    rate (regions and tags together; the tags' alone in ``tags``); and the pre-label job's state
    and counts."""
    tags = repo.outcome_counts(conn, task.pk, tags_only=True)
    models = [
        {
            "model_id": model_id,
            "model_version_id": version_id,
            **rules.acceptance(counts),
            **({"tags": rules.acceptance(tags[key])} if key in tags else {}),
        }
        for key, counts in sorted(repo.outcome_counts(conn, task.pk).items())
        for model_id, version_id in [key]
    ]
    out: dict[str, object] = {"models": models}
    jobs = models_repo.jobs_of_task(conn, task.app_pk, PRELABELS_KIND, task.pk)
    if jobs:
        job = jobs[-1]
        p = job.progress or {}
        out["job"] = {
            "state": job.state,
            **{k: int(p.get(k, 0)) for k in ("done", "prelabelled", "regions", "concepts", "failed")},
            **({"error": job.error} if job.error else {}),
            **({"errors": list(p["errors"])[:5]} if p.get("errors") else {}),
        }
    return out


def requeue(conn: Connection, app: AppRef, task: TaskRecord, old: resources_pb2.Task) -> None:
    """PatchTasks: a new job when the assistant (or its thresholds) changed, or none is
    unfinished (inputs that joined the source since get their pre-labels; done ones are skipped)."""
    if rules.assistant_of(task.spec, "task") is None:
        return
    try:
        changed = rules.assistant_of(old, "task") != rules.assistant_of(task.spec, "task")
    except errors.ApiError:
        changed = True
    jobs = models_repo.jobs_of_task(conn, app.pk, PRELABELS_KIND, task.pk)
    if changed or not any(j.state in (jobs_repo.QUEUED, jobs_repo.RUNNING) for j in jobs):
        queue_job(conn, app, task.pk, task.id, task.spec)
