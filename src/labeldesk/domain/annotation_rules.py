"""Pure rules for annotation data: validating what a client sends, and applying PatchAnnotations'
``merge`` / ``overwrite`` / ``remove`` actions to a stored :class:`resources_pb2.Data`.

No I/O here: what the rules need to know about the app (concept names, the regions already drawn
on the input, how to make ids) comes in a :class:`Catalog` built by the service.

A stored annotation's data is *well-formed* (see :func:`problems`), which every function here keeps:

* a concept list names each concept once, with a non-empty id and a value in ``[0, 1]``
  (1 = present, 0 = absent);
* every region has an id unique within its list, a valid shape (a bounding box or polygon in
  normalised ``0..1`` coordinates, see :mod:`labeldesk.domain.geometry`) and at least one concept —
  so ``remove`` drops a region together with its last concept;
* video frames have unique ids, and their data follows the same rules (frames do not nest).

Errors are :class:`~labeldesk.domain.errors.ApiError` (11102) naming the field path to fix, e.g.
``annotations[2].data.regions[0].region_info.bounding_box``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.resources_pb2 import Concept, Data, Frame, Region, RegionInfo
from clarifai_grpc.grpc.api.status import status_code_pb2

from labeldesk.domain import errors
from labeldesk.domain.geometry import Box, Polygon, validate_box, validate_polygon

MERGE, OVERWRITE, REMOVE = "merge", "overwrite", "remove"
ACTIONS = (MERGE, OVERWRITE, REMOVE)
STRUCTURED = ("concepts", "regions", "frames")
"""The ``Data`` fields these rules understand; any other field is kept as given."""

IdMaker = Callable[[str, str, str], str]
"""``(kind, given id, field path) -> id``: validates a client's id, generates one when it is empty."""

# ----------------------------------------------------------------------------- statuses

SC = status_code_pb2
STATUS_DESCRIPTIONS: dict[int, str] = {
    SC.ANNOTATION_SUCCESS: "Annotation success",
    SC.ANNOTATION_PENDING: "Annotation pending",
    SC.ANNOTATION_FAILED: "Annotation failed",
    SC.ANNOTATION_AWAITING_REVIEW: "Annotation awaiting review",
    SC.ANNOTATION_REVIEW_DENIED: "Annotation review denied",
    SC.ANNOTATION_AWAITING_CONSENSUS_REVIEW: "Annotation awaiting consensus review",
}
DEFAULT_STATUS = SC.ANNOTATION_SUCCESS
SELF_STATUSES = frozenset({SC.ANNOTATION_SUCCESS, SC.ANNOTATION_PENDING})
"""What a labeler may set on their own annotations; review outcomes are for the app owner."""


def status_name(code: int) -> str:
    return SC.StatusCode.Name(code) if code in SC.StatusCode.values() else str(code)


def check_status(code: int, by_owner: bool, path: str) -> int:
    """``code`` if it is an annotation status the caller may set, else an error saying why not."""
    if code not in STATUS_DESCRIPTIONS:
        allowed = ", ".join(status_name(c) for c in STATUS_DESCRIPTIONS)
        raise errors.invalid(
            f"{path}.code: {status_name(code)} is not an annotation status", f"use one of {allowed}"
        )
    if not by_owner and code not in SELF_STATUSES:
        raise errors.ApiError(
            SC.ANNOTATION_PERMISSION_DENIED,
            f"{path}.code: only the app owner can set {status_name(code)}",
            "labelers may set ANNOTATION_PENDING or ANNOTATION_SUCCESS on their own annotations",
        )
    return code


# ----------------------------------------------------------------------------- annotation_info


def task_id_of(info: Mapping[str, Any] | None, explicit: str, path: str) -> str | None:
    """The task an annotation belongs to: ``annotation_info.task_id`` and/or ``task_id``."""
    from_info = (info or {}).get("task_id")
    if from_info is not None and not isinstance(from_info, str):
        raise errors.invalid(f"{path}.annotation_info.task_id: must be a string, got {from_info!r}")
    if from_info and explicit and from_info != explicit:
        raise errors.invalid(
            f"{path}: task_id '{explicit}' and annotation_info.task_id '{from_info}' disagree",
            "give the task id once, in annotation_info.task_id",
        )
    return from_info or explicit or None


def patch_info(
    stored: Mapping[str, Any] | None, given: Mapping[str, Any] | None, action: str
) -> dict[str, Any] | None:
    """``annotation_info`` after a patch: merge updates keys, overwrite replaces, remove drops keys."""
    old = dict(stored or {})
    if given is None:
        return old or None
    if action == MERGE:
        new = {**old, **given}
    elif action == OVERWRITE:
        new = dict(given)
    else:
        new = {k: v for k, v in old.items() if k not in given}
    return new or None


# ----------------------------------------------------------------------------- catalog


@dataclass(frozen=True)
class Catalog:
    """What the rules need to know about the app, looked up by the service beforehand."""

    concept_names: Mapping[str, str]
    """Existing concepts (id → display name); every concept named in a request must be here."""
    regions: Mapping[str, RegionInfo]
    """Regions already drawn on the input (id → shape): a region given only by id reuses its shape."""
    make_id: IdMaker


# ----------------------------------------------------------------------------- walking


def named_concepts(data: Data, path: str) -> Iterator[tuple[str, str, str]]:
    """Every ``(field path, concept id, name)`` named in ``data``, regions and frames included."""
    for i, c in enumerate(data.concepts):
        yield f"{path}.concepts[{i}]", c.id, c.name
    for i, r in enumerate(data.regions):
        yield from named_concepts(r.data, f"{path}.regions[{i}].data")
    for i, f in enumerate(data.frames):
        yield from named_concepts(f.data, f"{path}.frames[{i}].data")


def concept_refs(data: Data, path: str) -> Iterator[tuple[str, str]]:
    """Every ``(field path, concept id)`` named in ``data``, regions and frames included."""
    for where, cid, _ in named_concepts(data, path):
        yield where, cid


def referenced_regions(data: Data) -> set[str]:
    """Ids of regions given without a shape: they must be looked up on the input."""
    refs = {r.id for r in data.regions if r.id and not has_shape(r)}
    for f in data.frames:
        refs |= referenced_regions(f.data)
    return refs


def regions_of(data: Data) -> dict[str, RegionInfo]:
    """Region id → shape for every region in ``data`` (frames included)."""
    out = {r.id: r.region_info for r in data.regions if r.id and has_shape(r)}
    for f in data.frames:
        out.update(regions_of(f.data))
    return out


def concept_index(data: Data) -> list[tuple[str, float]]:
    """One ``(concept id, value)`` per concept anywhere in ``data``, for the search index.

    A concept labelled in several places counts as present if it is present anywhere.
    """
    best: dict[str, float] = {}
    for _, cid in concept_refs(data, ""):
        best.setdefault(cid, -math.inf)
    _fold_values(data, best)
    return list(best.items())


def _fold_values(data: Data, best: dict[str, float]) -> None:
    for c in data.concepts:
        best[c.id] = max(best[c.id], c.value)
    for r in data.regions:
        _fold_values(r.data, best)
    for f in data.frames:
        _fold_values(f.data, best)


def is_empty(data: Data) -> bool:
    return not data.ListFields()


def has_shape(region: Region) -> bool:
    return region.HasField("region_info") and bool(region.region_info.ListFields())


# ----------------------------------------------------------------------------- validation


ANNOTATION, FRAME, REGION = "annotation", "frame", "region"
_NESTED = {ANNOTATION: FRAME, FRAME: REGION}
"""What the data of a frame / region may hold: frames hold regions, regions hold only concepts."""


def prepare(data: Data, path: str, catalog: Catalog, level: str = ANNOTATION) -> Data:
    """Validate new annotation data and normalise it for storage (ids generated, names filled).

    Used by PostAnnotations and by ``overwrite``. ``level`` says whose data it is (an annotation's,
    a frame's or a region's). Fields other than concepts, regions and frames are kept as given.
    """
    _check_nesting(data, path, level)
    out = _others(data)
    out.concepts.extend(_concepts(data.concepts, f"{path}.concepts", catalog))
    region_ids: set[str] = set()
    for i, r in enumerate(data.regions):
        region = _new_region(r, f"{path}.regions[{i}]", catalog)
        _claim(region_ids, region.id, f"{path}.regions[{i}].id", "region")
        out.regions.append(region)
    frame_ids: set[str] = set()
    for i, f in enumerate(data.frames):
        frame = _new_frame(f, f"{path}.frames[{i}]", catalog)
        _claim(frame_ids, frame.id, f"{path}.frames[{i}].id", "frame")
        out.frames.append(frame)
    return out


def _check_nesting(data: Data, path: str, level: str) -> None:
    if data.frames and level != ANNOTATION:
        raise errors.invalid(f"{path}.frames: a {level} cannot contain frames", "frames go in annotations")
    if data.regions and level == REGION:
        raise errors.invalid(f"{path}.regions: a region cannot contain regions", "give regions separately")


def _others(data: Data) -> Data:
    """``data`` without the structured fields (what ``prepare`` keeps verbatim)."""
    out = Data()
    out.CopyFrom(data)
    for name in STRUCTURED:
        out.ClearField(name)
    return out


def _claim(seen: set[str], item_id: str, path: str, kind: str) -> None:
    if item_id in seen:
        raise errors.invalid(f"{path}: {kind} id '{item_id}' appears more than once", "give each its own id")
    seen.add(item_id)


def _concepts(concepts: Any, path: str, catalog: Catalog) -> list[Concept]:
    out: list[Concept] = []
    seen: set[str] = set()
    for i, c in enumerate(concepts):
        out.append(_concept(c, f"{path}[{i}]", catalog))
        _claim(seen, c.id, f"{path}[{i}].id", "concept")
    return out


def _concept(c: Concept, path: str, catalog: Catalog) -> Concept:
    if not c.id:
        raise errors.invalid(f"{path}.id: every concept needs an id", 'e.g. {"id": "tree", "value": 1}')
    if not (math.isfinite(c.value) and 0.0 <= c.value <= 1.0):
        raise errors.invalid(
            f"{path}.value: {c.value} is out of range for concept '{c.id}'", "use 1 (present) or 0 (absent)"
        )
    name = catalog.concept_names.get(c.id)
    if name is None:
        raise errors.invalid(f"{path}.id: concept '{c.id}' does not exist in this app", "create it first")
    return Concept(id=c.id, name=name or c.id, value=c.value)


def _new_region(r: Region, path: str, catalog: Catalog) -> Region:
    out = Region()
    out.CopyFrom(r)
    out.id = catalog.make_id("region", r.id, f"{path}.id")
    out.region_info.CopyFrom(_shape(r, path, catalog))
    out.data.CopyFrom(prepare(r.data, f"{path}.data", catalog, REGION))
    if not out.data.concepts:
        raise errors.invalid(
            f"{path}.data.concepts: a region needs at least one concept",
            'e.g. "data": {"concepts": [{"id": "tree", "value": 1}]}',
        )
    return out


def _shape(r: Region, path: str, catalog: Catalog) -> RegionInfo:
    """The region's validated shape, or the shape of the existing region it names by id."""
    if has_shape(r):
        return validate_region_info(r.region_info, f"{path}.region_info")
    if r.id and r.id in catalog.regions:
        return catalog.regions[r.id]
    if r.id:
        raise errors.invalid(
            f"{path}.id: region '{r.id}' does not exist on this input",
            "use a region id returned by ListAnnotations, or give region_info to draw a new region",
        )
    raise errors.invalid(
        f"{path}.region_info: a region needs a shape",
        "give region_info.bounding_box (top_row, left_col, bottom_row, right_col in 0..1) or "
        "region_info.polygon (at least 3 points), or the id of an existing region",
    )


def validate_region_info(info: RegionInfo, path: str) -> RegionInfo:
    """Check the coordinates of a region's shape (bounding box, polygon, point)."""
    if info.HasField("bounding_box"):
        b = info.bounding_box
        validate_box(Box(b.top_row, b.left_col, b.bottom_row, b.right_col), f"{path}.bounding_box")
    if info.HasField("polygon"):
        points = tuple((p.row, p.col) for p in info.polygon.points)
        validate_polygon(Polygon(points), f"{path}.polygon")
    if info.HasField("point"):
        _check_point(info.point, f"{path}.point")
    return info


def _check_point(p: resources_pb2.Point, path: str) -> None:
    for name, value in (("row", p.row), ("col", p.col)):
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise errors.invalid(f"{path}: {name} ({value}) must be between 0 and 1 (normalised coordinates)")


def _new_frame(f: Frame, path: str, catalog: Catalog) -> Frame:
    out = Frame()
    out.CopyFrom(f)
    out.id = catalog.make_id("frame", f.id, f"{path}.id")
    out.data.CopyFrom(prepare(f.data, f"{path}.data", catalog, FRAME))
    return out


# ----------------------------------------------------------------------------- patch actions


def check_action(action: str) -> str:
    if action not in ACTIONS:
        raise errors.invalid(f"action: '{action}' is not supported", "use 'merge', 'overwrite' or 'remove'")
    return action


def apply(action: str, stored: Data, patch: Data, path: str, catalog: Catalog) -> Data:
    """The annotation data after PatchAnnotations ``action``; ``stored`` is not modified."""
    if check_action(action) == MERGE:
        return merge(stored, patch, path, catalog)
    if action == OVERWRITE:
        return overwrite(stored, patch, path, catalog)
    return remove(stored, patch, path)


def overwrite(stored: Data, patch: Data, path: str, catalog: Catalog) -> Data:
    """Replace the data; a region given by id alone keeps its stored shape."""
    known = {**catalog.regions, **regions_of(stored)}
    return prepare(patch, path, Catalog(catalog.concept_names, known, catalog.make_id))


def merge(stored: Data, patch: Data, path: str, catalog: Catalog, level: str = ANNOTATION) -> Data:
    """Add concepts and regions; update the value of concepts and the shape of regions already there."""
    _check_nesting(patch, path, level)
    out = Data()
    out.CopyFrom(stored)
    out.MergeFrom(_others(patch))
    _merge_concepts(out.concepts, patch.concepts, f"{path}.concepts", catalog)
    known = {**catalog.regions, **regions_of(stored)}
    local = Catalog(catalog.concept_names, known, catalog.make_id)
    for i, r in enumerate(patch.regions):
        _merge_region(out, r, f"{path}.regions[{i}]", local)
    for i, f in enumerate(patch.frames):
        _merge_frame(out, f, f"{path}.frames[{i}]", local)
    return out


def _merge_concepts(target: Any, given: Any, path: str, catalog: Catalog) -> None:
    index = {c.id: c for c in target}
    for c in _concepts(given, path, catalog):
        if c.id in index:
            index[c.id].value = c.value
        else:
            index[c.id] = target.add()
            index[c.id].CopyFrom(c)


def _merge_region(out: Data, r: Region, path: str, catalog: Catalog) -> None:
    target = next((x for x in out.regions if r.id and x.id == r.id), None)
    if target is None:
        out.regions.append(_new_region(r, path, catalog))
        return
    if has_shape(r):
        target.region_info.CopyFrom(validate_region_info(r.region_info, f"{path}.region_info"))
    target.data.CopyFrom(merge(target.data, r.data, f"{path}.data", catalog, REGION))


def _merge_frame(out: Data, f: Frame, path: str, catalog: Catalog) -> None:
    target = _find_frame(out, f)
    if target is None:
        out.frames.append(_new_frame(f, path, catalog))
        return
    if f.HasField("frame_info"):
        target.frame_info.CopyFrom(f.frame_info)
    target.data.CopyFrom(merge(target.data, f.data, f"{path}.data", catalog, FRAME))


def _find_frame(data: Data, f: Frame) -> Frame | None:
    """The stored frame a patch frame means: same id, else (no id given) same frame_info."""
    for x in data.frames:
        same_info = not f.id and f.HasField("frame_info") and x.frame_info == f.frame_info
        if same_info or (f.id and x.id == f.id):
            return x
    return None


def remove(stored: Data, patch: Data, path: str) -> Data:
    """Drop the listed concepts; a listed region (or frame) goes when it has no concept left,
    or at once when the patch lists no concepts for it."""
    out = Data()
    out.CopyFrom(stored)
    drop = {c.id for c in patch.concepts}
    kept = [c for c in out.concepts if c.id not in drop]
    del out.concepts[:]
    out.concepts.extend(kept)
    for i, r in enumerate(patch.regions):
        _remove_region(out, r, f"{path}.regions[{i}]")
    for i, f in enumerate(patch.frames):
        _remove_frame(out, f, f"{path}.frames[{i}]")
    return out


def _remove_region(out: Data, r: Region, path: str) -> None:
    if not r.id:
        raise errors.invalid(f"{path}.id: give the id of the region to remove from", "see ListAnnotations")
    for i, x in enumerate(out.regions):
        if x.id == r.id:
            x.data.CopyFrom(remove(x.data, r.data, f"{path}.data"))
            if not r.data.concepts or not x.data.concepts:
                del out.regions[i]
            return


def _remove_frame(out: Data, f: Frame, path: str) -> None:
    target = _find_frame(out, f)
    if target is None:
        return
    lists_content = bool(f.data.concepts or f.data.regions)
    target.data.CopyFrom(remove(target.data, f.data, f"{path}.data"))
    if not lists_content or not (target.data.concepts or target.data.regions):
        out.frames.remove(target)


# ----------------------------------------------------------------------------- invariant


def problems(data: Data, concept_ids: Mapping[str, str] | None = None, nested: bool = False) -> list[str]:
    """What makes ``data`` not well-formed (empty when it is): the invariant every rule keeps."""
    out: list[str] = []
    ids = [c.id for c in data.concepts]
    if len(ids) != len(set(ids)) or not all(ids):
        out.append(f"concept ids not unique or empty: {ids}")
    out += [f"value {c.value} of '{c.id}' out of [0, 1]" for c in data.concepts if not 0.0 <= c.value <= 1.0]
    if concept_ids is not None:
        out += [f"unknown concept '{i}'" for i in ids if i not in concept_ids]
    region_ids = [r.id for r in data.regions]
    if len(region_ids) != len(set(region_ids)) or not all(region_ids):
        out.append(f"region ids not unique or empty: {region_ids}")
    for r in data.regions:
        out += _region_problems(r, concept_ids)
    frame_ids = [f.id for f in data.frames]
    if len(frame_ids) != len(set(frame_ids)) or not all(frame_ids) or (nested and frame_ids):
        out.append(f"frames misplaced, not unique or without id: {frame_ids}")
    for f in data.frames:
        out += problems(f.data, concept_ids, nested=True)
    return out


def _region_problems(r: Region, concept_ids: Mapping[str, str] | None) -> list[str]:
    out = problems(r.data, concept_ids, nested=True)
    if not r.data.concepts:
        out.append(f"region '{r.id}' has no concept")
    if r.data.regions:
        out.append(f"region '{r.id}' contains regions")
    if not has_shape(r):
        out.append(f"region '{r.id}' has no shape")
    else:
        try:
            validate_region_info(r.region_info, "region_info")
        except errors.ApiError as e:
            out.append(e.description)
    return out
