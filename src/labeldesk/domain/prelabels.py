"""Pre-label rules (pure): which model a task names as its assistant, which of the model's
predictions become pre-labels, and what a labeler did with each pre-label on submitting.

- **The assistant**: Clarifai's ``Task.ai_assistant`` names a *workflow*; labeldesk has no
  workflows, so a model stands for a one-node workflow. It is named by ``ai_assistant.workflow_id``
  (or ``workflow.id``), or by the single node of ``ai_assistant.workflow.nodes`` (``model.id``, and
  optionally ``model.model_version.id``).
- **Which predictions**: those whose concept is one of the task's concepts (all concepts when
  the task lists none) and whose value is within ``ai_assist_params``
  ``[min_threshold, max_threshold]`` (``max_threshold`` 0 means 1): regions (boxes and polygons)
  for detection tasks, image-level concepts (tags) for classification tasks, both when the task
  type is not set (:func:`kinds_of`).
- **Outcomes**: each pre-label region is ``kept`` when the labeler's annotation has a region with
  the same id (or, without that id, the same concept and geometry) unchanged, ``changed`` when the
  region with its id differs in concept or geometry, ``removed`` when neither is there. A
  pre-labelled tag is ``kept`` when the labeler's annotation has the concept (value above 0),
  ``removed`` when not.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from labeldesk.domain import errors

#: the status of a pre-label annotation: a model's suggestion awaiting a human. Together with
#: ``model_version_id`` and the task id it marks pre-labels (a task with model workers cannot also
#: name an assistant, so no auto-annotation of the same task shares the marker).
PRELABEL_STATUS = status_code_pb2.ANNOTATION_AWAITING_REVIEW
#: where a pre-label region says who made it (``region.data.metadata``) in LABEL_START's inputs
MARKER = "prelabel"
KEPT, CHANGED, REMOVED = "kept", "changed", "removed"
OUTCOMES = (KEPT, CHANGED, REMOVED)
#: coordinates closer than this (relative units) count as unchanged (JSON round trips, rounding)
TOLERANCE = 1e-4
#: what the pre-label job did with an input (``prelabel_inputs.outcome``)
PRELABELLED, NONE, FAILED = "prelabelled", "none", "failed"
#: the kinds of prediction a task is pre-labelled with (:func:`kinds_of`)
REGIONS, TAGS = "regions", "tags"
#: the id a pre-labelled tag's outcome is recorded under: ``<annotation id>:<concept id>``
TAG_SEPARATOR = ":"


@dataclass(frozen=True)
class Assistant:
    model_id: str
    version_id: str  # "" = whatever version the model has
    lower: float
    upper: float

    def accepts(self, value: float) -> bool:
        return self.lower <= value <= self.upper


def assistant_of(task: resources_pb2.Task, where: str) -> Assistant | None:
    """The task's assistant model and thresholds, None when it names none; ApiError naming the
    field when the fields are inconsistent."""
    a = task.ai_assistant
    named: list[tuple[str, str, str]] = []  # (field, model id, version id)
    if a.workflow_id:
        named.append(("ai_assistant.workflow_id", a.workflow_id, ""))
    if a.workflow.id:
        named.append(("ai_assistant.workflow.id", a.workflow.id, ""))
    nodes = [n for n in a.workflow.nodes if n.model.id]
    if len(a.workflow.nodes) > 1:
        raise errors.invalid(
            f"{where}.ai_assistant.workflow.nodes: labeldesk's assistant is one model, got "
            f"{len(a.workflow.nodes)} nodes",
            'name one model, e.g. {"workflow_id": "<model id>"}',
        )
    if len(a.workflow.nodes) == 1 and not nodes:
        raise errors.invalid(f"{where}.ai_assistant.workflow.nodes[0].model.id: name the model")
    for n in nodes:
        named.append(("ai_assistant.workflow.nodes[0].model.id", n.model.id, n.model.model_version.id))
    if not named:
        return None
    if any(w.HasField("model") for w in task.worker.workers):
        raise errors.invalid(
            f"{where}.ai_assistant: a task whose workers include a model annotates by itself; "
            "an assistant pre-labels for human workers only",
            "name the model either as a worker (auto-annotation) or as the assistant (pre-labels)",
        )
    ids = {m for _, m, _ in named}
    if len(ids) > 1:
        raise errors.invalid(
            f"{where}.ai_assistant: names different models ({', '.join(sorted(repr(i) for i in ids))})",
            "name the assistant model once, in workflow_id",
        )
    version = next((v for _, _, v in named if v), "")
    p = task.ai_assist_params
    lower, upper = p.min_threshold, p.max_threshold or 1.0
    if not (0.0 <= lower <= 1.0 and 0.0 <= upper <= 1.0) or lower > upper:
        raise errors.invalid(
            f"{where}.ai_assist_params: min_threshold {lower:g} and max_threshold {upper:g} must satisfy "
            "0 <= min_threshold <= max_threshold <= 1",
            "max_threshold 0 means 1: predictions at or above min_threshold become pre-labels",
        )
    return Assistant(named[0][1], version, lower, upper)


def field_of(task: resources_pb2.Task) -> str:
    """The field that names the assistant (for errors about the model it names)."""
    a = task.ai_assistant
    if a.workflow_id:
        return "ai_assistant.workflow_id"
    if a.workflow.id:
        return "ai_assistant.workflow.id"
    return "ai_assistant.workflow.nodes[0].model.id"


def kinds_of(task: resources_pb2.Task) -> frozenset[str]:
    """Which predictions pre-label the task: tags for a classification task, regions for a
    detection task, both when its type is not set."""
    T = resources_pb2.Task
    if task.type == T.CONCEPTS_CLASSIFICATION:
        return frozenset({TAGS})
    if task.type == T.TYPE_NOT_SET:
        return frozenset({TAGS, REGIONS})
    return frozenset({REGIONS})


def prelabels_for(
    prediction: resources_pb2.Data,
    assistant: Assistant,
    concepts: Collection[str],
    id_prefix: str,
    kinds: Collection[str] = (REGIONS,),
) -> resources_pb2.Data:
    """The pre-labels of one input's prediction, of ``kinds``: image-level concepts (tags) and
    each region's concepts inside the thresholds and among ``concepts`` (any when empty), one
    region per concept, with the predicted value; region ids ``<id_prefix>-<n>``."""
    out = resources_pb2.Data()
    if TAGS in kinds:
        for c in prediction.concepts:
            if (not concepts or c.id in concepts) and assistant.accepts(c.value):
                out.concepts.add(id=c.id, name=c.name or c.id, value=c.value)
    if REGIONS not in kinds:
        return out
    for region in prediction.regions:
        if not (region.region_info.bounding_box.ByteSize() or region.region_info.polygon.points):
            continue
        for c in region.data.concepts:
            if (concepts and c.id not in concepts) or not assistant.accepts(c.value):
                continue
            r = out.regions.add(id=f"{id_prefix}-{len(out.regions)}", value=c.value)
            r.region_info.CopyFrom(region.region_info)
            r.data.concepts.add(id=c.id, name=c.name or c.id, value=c.value)
    return out


# ----------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Shape:
    """A region reduced to what the outcome compares: its concept and rounded geometry."""

    concept: str
    points: tuple[tuple[float, float], ...]
    box: bool


def shape_of(region: resources_pb2.Region) -> Shape:
    concept = region.data.concepts[0].id if region.data.concepts else ""
    b = region.region_info.bounding_box
    if region.region_info.polygon.points:
        pts = tuple((p.col, p.row) for p in region.region_info.polygon.points)
        return Shape(concept, pts, False)
    return Shape(concept, ((b.left_col, b.top_row), (b.right_col, b.bottom_row)), True)


def same(a: Shape, b: Shape, tolerance: float = TOLERANCE) -> bool:
    if a.concept != b.concept or a.box != b.box or len(a.points) != len(b.points):
        return False
    return all(
        abs(x1 - x2) <= tolerance and abs(y1 - y2) <= tolerance
        for (x1, y1), (x2, y2) in zip(a.points, b.points)
    )


def outcomes(prelabels: Mapping[str, Shape], submitted: Iterable[tuple[str, Shape]]) -> dict[str, str]:
    """Pre-label region id → ``kept`` / ``changed`` / ``removed``, given the labeler's regions
    (id, shape). A region carrying a pre-label's id is that pre-label, kept or changed; a
    pre-label no region names is kept when an unclaimed region has its concept and geometry."""
    out: dict[str, str] = {}
    free: list[Shape] = []
    for rid, shape in submitted:
        pre = prelabels.get(rid)
        if pre is not None and rid not in out:
            out[rid] = KEPT if same(pre, shape) else CHANGED
        else:
            free.append(shape)
    for rid, pre in prelabels.items():
        if rid in out:
            continue
        match = next((i for i, s in enumerate(free) if same(pre, s)), None)
        if match is None:
            out[rid] = REMOVED
        else:
            out[rid] = KEPT
            free.pop(match)
    return out


def tag_outcomes(prelabelled: Iterable[str], submitted: Collection[str]) -> dict[str, str]:
    """Pre-labelled concept id → ``kept`` (the labeler's annotation has it) or ``removed``."""
    return {c: KEPT if c in submitted else REMOVED for c in prelabelled}


def acceptance(counts: Mapping[str, int]) -> dict[str, float | int]:
    """The summary of one model's outcomes: total, kept, changed, removed and acceptance_rate
    (kept / total; 0 when there is none)."""
    kept, changed, removed = (int(counts.get(k, 0)) for k in OUTCOMES)
    total = kept + changed + removed
    return {
        "total": total,
        "kept": kept,
        "changed": changed,
        "removed": removed,
        "acceptance_rate": round(kept / total, 4) if total else 0.0,
    }
