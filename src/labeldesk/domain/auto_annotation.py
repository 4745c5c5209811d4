"""Auto-annotation rules (pure): which predictions of a model worker become annotations.

Per task concept, ``auto_annotation_config`` says which predictions count: a value inside
``threshold_range`` (``lower``/``upper`` with ``is_lower_inclusive``/``is_upper_inclusive``), of one
of the ``annotation_data_types`` (a bitmask: TAG 1, BOUNDING_BOX 2, POLYGON 4; 0 means all), and the
annotation ``status_code`` they get. An input with no prediction inside any range goes to the humans.
"""

from __future__ import annotations

from dataclasses import dataclass

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from labeldesk.domain import errors

TAG, BOX, POLYGON = resources_pb2.TAG, resources_pb2.BOUNDING_BOX, resources_pb2.POLYGON
SUPPORTED_TYPES = TAG | BOX | POLYGON
#: the statuses an auto-annotation may get (24150 SUCCESS ... 24159); default SUCCESS
ANNOTATION_STATUSES = frozenset(range(24150, 24160))
DEFAULT_STATUS = status_code_pb2.ANNOTATION_SUCCESS


@dataclass(frozen=True)
class Rule:
    lower: float
    upper: float
    lower_inclusive: bool
    upper_inclusive: bool
    types: int
    status: int

    def accepts(self, value: float, kind: int) -> bool:
        if not self.types & kind:
            return False
        above = value >= self.lower if self.lower_inclusive else value > self.lower
        below = value <= self.upper if self.upper_inclusive else value < self.upper
        return above and below


def rule_of(cfg: resources_pb2.TaskConceptAutoAnnotationConfig, where: str) -> Rule:
    """The rule of one concept's config; ApiError naming the field when it cannot be one."""
    r = cfg.threshold_range
    if not (0.0 <= r.lower <= 1.0 and 0.0 <= r.upper <= 1.0) or r.lower > r.upper:
        raise errors.invalid(
            f"{where}.auto_annotation_config.threshold_range: lower {r.lower:g} and upper {r.upper:g} must "
            "satisfy 0 <= lower <= upper <= 1"
        )
    types = cfg.annotation_data_types or SUPPORTED_TYPES
    if types & ~SUPPORTED_TYPES:
        raise errors.invalid(
            f"{where}.auto_annotation_config.annotation_data_types: {cfg.annotation_data_types} asks for "
            "types labeldesk cannot make",
            "combine TAG (1), BOUNDING_BOX (2) and POLYGON (4)",
        )
    status = cfg.status_code or DEFAULT_STATUS
    if status not in ANNOTATION_STATUSES:
        raise errors.invalid(
            f"{where}.auto_annotation_config.status_code: {status} is not an annotation status",
            "use 24150 (ANNOTATION_SUCCESS) ... 24159, e.g. 24151 (PENDING) to have them reviewed",
        )
    return Rule(r.lower, r.upper, r.is_lower_inclusive, r.is_upper_inclusive, types, status)


def annotations_for(prediction: resources_pb2.Data, rules: dict[str, Rule]) -> dict[int, resources_pb2.Data]:
    """What to annotate from one input's prediction: per annotation status, the accepted concepts
    (as image tags) and regions (each with its accepted concepts). Empty: the humans label it."""
    out: dict[int, resources_pb2.Data] = {}
    for c in prediction.concepts:
        rule = rules.get(c.id)
        if rule is not None and rule.accepts(c.value, TAG):
            out.setdefault(rule.status, resources_pb2.Data()).concepts.add(id=c.id, value=1.0)
    for region in prediction.regions:
        kind = POLYGON if region.region_info.polygon.points else BOX
        for c in region.data.concepts:
            rule = rules.get(c.id)
            if rule is None or not rule.accepts(c.value, kind):
                continue
            r = out.setdefault(rule.status, resources_pb2.Data()).regions.add()
            r.region_info.CopyFrom(region.region_info)
            r.data.concepts.add(id=c.id, value=c.value)
    return out
