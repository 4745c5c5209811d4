"""What a (saved) search selects, reduced to plain criteria — and which filters labeldesk runs.

A Clarifai ``Query`` is a list of filters (``filters``, the legacy ``ands``, and ``ranks``); an
input is selected when it satisfies every filter (a ``negate`` filter: when it does not).
labeldesk runs the filters that pick inputs for labeling work:

- ``input``: ``id``, ``dataset_ids`` (in one of them), ``status.code``, ``data.concepts``,
  ``data.metadata``, and the input type — an *empty* ``data.image`` / ``video`` / ``audio`` /
  ``text`` (an input of one of the types given);
- ``annotation``: ``user_id``, ``status.code``, ``task_id``, ``input_id``, ``data.concepts``
  (by id, or by name when no id is given; ``value`` 1 = annotated with the concept, 0 = annotated
  as absent) and ``data.metadata`` (the input's metadata contains the given JSON, recursively).
  The annotation fields apply together: the input needs one annotation meeting all of them.
  labeldesk's own ``annotation_info: {"annotated": true}`` selects the inputs that have any
  annotation a person made (the inputs grid's "has annotations"; ``negate`` for "none yet") — an
  *empty* annotation filter selects every input, as in Clarifai.

Any other field that is set is refused, naming it (a filter labeldesk ignored would select
every input). Ranking by visual similarity (an image, text or embedding to compare with) needs
a model labeldesk does not run, and is refused as not supported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from labeldesk.domain import errors

MEDIA = ("image", "video", "audio", "text")
INPUT_FIELDS = frozenset({"id", "dataset_ids", "status.code", "data.concepts", "data.metadata"})
INPUT_TYPE_FIELDS = frozenset(f"data.{m}" for m in MEDIA)
ANNOTATION_FIELDS = frozenset(
    {"user_id", "status.code", "task_id", "input_id", "data.concepts", "data.metadata", "annotation_info"}
)
#: the one ``annotation_info`` a filter may give: the input has an annotation a person made
ANNOTATED = {"annotated": True}
CONCEPT_FIELDS = frozenset({"id", "name", "value", "language"})
SIMILARITY_FIELDS = frozenset({*INPUT_TYPE_FIELDS, "data.embeddings"})


@dataclass(frozen=True)
class ConceptRef:
    id: str = ""
    name: str = ""  # used when no id is given
    present: bool = True  # value > 0: annotated with it; value 0: annotated as absent


@dataclass(frozen=True)
class Criterion:
    negate: bool = False
    concepts: tuple[ConceptRef, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    dataset_ids: tuple[str, ...] = ()
    input_id: str = ""
    input_status: int = 0
    input_types: tuple[str, ...] = ()  # any of these media
    # the annotation the concepts must be on (all that are set, on one annotation)
    annotation_user_id: str = ""
    annotation_status: int = 0
    annotation_task_id: str = ""
    annotated: bool = False  # the input has an annotation made by a person

    def is_empty(self) -> bool:
        return not (
            self.concepts
            or self.metadata
            or self.dataset_ids
            or self.input_id
            or self.input_status
            or self.input_types
            or self.on_annotation
        )

    @property
    def on_annotation(self) -> bool:
        """True when the criterion names who made, in which task or with which status."""
        return bool(
            self.annotation_user_id or self.annotation_status or self.annotation_task_id or self.annotated
        )


def set_fields(msg: Message, prefix: str = "") -> Iterator[str]:
    """Dotted paths of the set leaf fields of ``msg`` (a repeated field is one leaf, and so are
    the sub-messages of ``_LEAVES``, even when present but empty)."""
    for fd, value in msg.ListFields():
        path = prefix + fd.name
        if fd.message_type is not None and not fd.is_repeated and path not in _LEAVES:
            yield from set_fields(value, path + ".")
        else:
            yield path


# sub-messages taken whole (their own fields are checked separately, or mean "this type")
_LEAVES = frozenset(
    {"annotation_info", "data.metadata", "data.image", "data.video", "data.audio", "data.text"}
)


def _refuse_unsupported(paths: list[str], allowed: frozenset[str], where: str, kind: str) -> None:
    for path in paths:
        if path not in allowed:
            raise errors.invalid(
                f"{where}.{path}: labeldesk cannot filter {kind}s by this field",
                f"{kind} filters labeldesk runs: {', '.join(sorted(allowed))}",
            )


def _refuse_similarity(msg: Message, paths: list[str], where: str, media_ok: bool) -> None:
    """Refuse comparing with an image, text or embedding (an empty media field is a type filter
    where ``media_ok``)."""
    data = getattr(msg, "data", None)
    for path in paths:
        if path not in SIMILARITY_FIELDS or data is None:
            continue
        media = path.split(".")[1]
        if media_ok and media != "embeddings" and not getattr(data, media).ListFields():
            continue
        raise errors.ApiError(
            errors.NOT_IMPLEMENTED,
            f"{where}.{path}: ranking by similarity to an {media} is not supported: it needs an "
            "embedding model, which labeldesk does not run",
            "filter by concepts, metadata, dataset_ids, input type, input id or annotation fields",
        )


def _concepts(data: resources_pb2.Data, where: str) -> tuple[ConceptRef, ...]:
    out = []
    for i, c in enumerate(data.concepts):
        path = f"{where}.data.concepts[{i}]"
        _refuse_unsupported(list(set_fields(c)), CONCEPT_FIELDS, path, "concept")
        if not (c.id or c.name):
            raise errors.invalid(f"{path}: filter by concept needs its id or name", 'e.g. {"id": "cat"}')
        out.append(ConceptRef(id=c.id, name="" if c.id else c.name, present=c.value > 0))
    return tuple(out)


def _metadata(data: resources_pb2.Data) -> dict[str, Any]:
    return json_format.MessageToDict(data.metadata) if data.HasField("metadata") else {}


def input_criterion(negate: bool, inp: resources_pb2.Input, where: str) -> Criterion:
    paths = list(set_fields(inp))
    _refuse_similarity(inp, paths, where, media_ok=True)
    _refuse_unsupported(paths, INPUT_FIELDS | INPUT_TYPE_FIELDS, where, "input")
    return Criterion(
        negate=negate,
        concepts=_concepts(inp.data, where),
        metadata=_metadata(inp.data),
        dataset_ids=tuple(inp.dataset_ids),
        input_id=inp.id,
        input_status=inp.status.code,
        input_types=tuple(m for m in MEDIA if inp.data.HasField(m)),
    )


def annotation_criterion(negate: bool, ann: resources_pb2.Annotation, where: str) -> Criterion:
    paths = list(set_fields(ann))
    _refuse_similarity(ann, paths, where, media_ok=False)
    _refuse_unsupported(paths, ANNOTATION_FIELDS, where, "annotation")
    info = json_format.MessageToDict(ann.annotation_info) if ann.HasField("annotation_info") else {}
    if info and info != ANNOTATED:
        raise errors.invalid(
            f"{where}.annotation_info: labeldesk filters only by {json.dumps(ANNOTATED)}",
            "it selects the inputs that have an annotation made by a person (negate: none yet)",
        )
    return Criterion(
        negate=negate,
        concepts=_concepts(ann.data, where),
        metadata=_metadata(ann.data),
        input_id=ann.input_id,
        annotation_user_id=ann.user_id,
        annotation_status=ann.status.code,
        annotation_task_id=ann.task_id,
        annotated=bool(info),
    )


def criteria_of(query: resources_pb2.Query) -> list[Criterion]:
    """The criteria of every filter of ``query``; refuses what labeldesk cannot run, naming the
    field (so a search that would silently match everything is never run nor saved)."""
    out: list[Criterion] = []
    for i, f in enumerate(query.filters):
        where = f"query.filters[{i}]"
        if f.HasField("last_updated_time_range"):
            raise errors.invalid(
                f"{where}.last_updated_time_range: labeldesk cannot filter by update time",
                "filter by input or annotation fields",
            )
        if f.HasField("input"):
            out.append(input_criterion(f.negate, f.input, f"{where}.input"))
        if f.HasField("annotation"):
            out.append(annotation_criterion(f.negate, f.annotation, f"{where}.annotation"))
    for i, r in enumerate(query.ranks):
        if r.HasField("annotation"):
            out.append(annotation_criterion(r.negate, r.annotation, f"query.ranks[{i}].annotation"))
    for i, a in enumerate(query.ands):
        where = f"query.ands[{i}]"
        if a.HasField("input"):
            out.append(input_criterion(a.negate, a.input, f"{where}.input"))
        if a.HasField("output"):
            out.append(input_criterion(a.negate, a.output.input, f"{where}.output.input"))
        if a.HasField("annotation"):
            out.append(annotation_criterion(a.negate, a.annotation, f"{where}.annotation"))
    return [c for c in out if not c.is_empty()]


def media_of(data: resources_pb2.Data) -> set[str]:
    """The input types of an input's data (what an input-type filter compares with)."""
    return {m for m in MEDIA if data.HasField(m)}


def metadata_matches(metadata: Any, pattern: Any) -> bool:
    """True when ``metadata`` contains ``pattern``: objects by subset, lists by membership."""
    if isinstance(pattern, Mapping):
        if not isinstance(metadata, Mapping):
            return False
        return all(k in metadata and metadata_matches(metadata[k], v) for k, v in pattern.items())
    if isinstance(pattern, list):
        if not isinstance(metadata, list):
            return False
        return all(any(metadata_matches(m, p) for m in metadata) for p in pattern)
    if isinstance(metadata, list):
        return any(metadata_matches(m, pattern) for m in metadata)
    return bool(metadata == pattern)
