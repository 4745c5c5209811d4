"""From stored annotations to consensus submissions, and the consensus decision for one input.

Pure: it takes the ``resources_pb2.Data`` that annotations store and plain values; the review
service reads the rows and writes back what comes out. The rule itself is
:func:`labeldesk.domain.consensus.evaluate`; this module only feeds it.

What one labeler submitted for an input (all of its annotations of the task on that input):

* *classification* (``CONCEPTS_CLASSIFICATION`` tasks): the input-level concepts
  (``data.concepts``) with a non-zero value (:func:`consensus.positive_concepts`: value 0 says
  "not present", the same as leaving the concept out);
* *regions* (``BOUNDING_BOX_DETECTION`` and ``POLYGON_DETECTION`` tasks): every region with a
  bounding box or a polygon, once per concept it carries with a non-zero value (a region without
  a concept counts under the empty concept id); boxes and polygons are compared with each other
  by IoU. Regions of other shapes (points, masks, spans) and video frames are not compared.

*Versions*: labelers whose submissions are equal (one consensus *group*) hand in the same
version of the input; a version is named by the smallest labeler id of its group. Reviewers
approve a version, which approves every labeler of its group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from clarifai_grpc.grpc.api import resources_pb2

from labeldesk.domain.consensus import ConsensusResult, Kind, Region, Submission, evaluate, positive_concepts
from labeldesk.domain.geometry import Box, Polygon, Shape
from labeldesk.domain.review_rules import labeler_quorum

__all__ = [
    "REGION_TASK_TYPES",
    "consensus_kind",
    "decide",
    "majority_version",
    "shape_of",
    "submission_of",
    "version_of",
]

Task = resources_pb2.Task
#: task types whose labelers are compared region by region
REGION_TASK_TYPES = frozenset({Task.BOUNDING_BOX_DETECTION, Task.POLYGON_DETECTION})


def consensus_kind(task_type: int) -> Kind:
    """What labelers of a task type are compared on."""
    return "regions" if task_type in REGION_TASK_TYPES else "classification"


def shape_of(info: resources_pb2.RegionInfo) -> Shape | None:
    """The region's box or polygon (a polygon wins if both are set); ``None`` for other shapes."""
    if info.HasField("polygon") and info.polygon.points:
        return Polygon(tuple((p.row, p.col) for p in info.polygon.points))
    if info.HasField("bounding_box"):
        b = info.bounding_box
        return Box(b.top_row, b.left_col, b.bottom_row, b.right_col)
    return None


def _regions(data: resources_pb2.Data) -> Iterable[Region]:
    for region in data.regions:
        shape = shape_of(region.region_info)
        if shape is None:
            continue
        concepts = positive_concepts((c.id, c.value) for c in region.data.concepts)
        if not region.data.concepts:
            concepts = frozenset({""})
        for concept in sorted(concepts):
            yield Region(concept, shape)


def submission_of(labeler: str, datas: Iterable[resources_pb2.Data], kind: Kind) -> Submission:
    """What ``labeler`` submitted, from the data of its annotations of the task on one input."""
    items = list(datas)
    if kind == "classification":
        pairs = [(c.id, c.value) for d in items for c in d.concepts]
        return Submission(labeler, concepts=positive_concepts(pairs))
    return Submission(labeler, regions=tuple(r for d in items for r in _regions(d)))


def decide(
    submissions: Sequence[Submission], kind: Kind, raw_threshold: int, iou_threshold: float
) -> ConsensusResult:
    """The consensus decision once every labeler assigned to the input has submitted.

    The population is the number of submissions (the input's labelers). A raw threshold above it
    can never be met (``review_rules.labeler_quorum``): the input is "not reached" and goes to
    reviewers; its scores are still computed, as if all of the labelers had to agree.
    """
    population = len(submissions)
    quorum = labeler_quorum(raw_threshold, population)
    if quorum is not None:
        return evaluate(submissions, kind, quorum, iou_threshold, population)
    scored = evaluate(submissions, kind, -1, iou_threshold, population)
    return dataclasses.replace(
        scored, reached=False, agreeing_labelers=frozenset(), representative=None, threshold=raw_threshold
    )


def version_of(groups: Sequence[Iterable[str]], labeler: str) -> str | None:
    """The version ``labeler`` handed in: the smallest labeler id of its group (None if absent)."""
    for group in groups:
        members = set(group)
        if labeler in members:
            return min(members)
    return None


def majority_version(groups: Sequence[Sequence[str]]) -> str | None:
    """The version of the strictly largest group (what a reviewer approves without naming one);
    ``None`` when there are no groups or the largest ones are tied."""
    sizes = sorted((len(g) for g in groups), reverse=True)
    if not sizes or (len(sizes) > 1 and sizes[0] == sizes[1]):
        return None
    largest = max(groups, key=len)
    return min(largest)
