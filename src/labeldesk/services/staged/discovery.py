"""What a dataset's work units are made of, and finding them: single-frame inputs (file units),
tracked objects of sequences (label units), frame and dataset attributes; each unit gets one task
per stage. Discovery is lazy and idempotent: it runs when a dataset's tasks are listed or assigned,
or its stages change, so inputs added later are found then too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf.message import DecodeError
from sqlalchemy import Connection, Row

from labeldesk.domain import stages as st
from labeldesk.domain.stages import State, UnitKind
from labeldesk.services.common import new_id
from labeldesk.services.staged.model import RESCAN_MARGIN, Scope, label_key
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import staged as repo


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


def sync(conn: Connection, scope: Scope) -> None:
    """Create the units (and their tasks) the dataset has and the workflow has not seen yet."""
    repo.forget_departed(conn, scope.dataset_pk)
    classify_new_inputs(conn, scope)
    discover_labels(conn, scope)
    if scope.settings.dataset_attributes:
        repo.insert_units(conn, [unit_row(scope, UnitKind.DATASET_ATTRIBUTE, "")])
    create_tasks(conn, scope, repo.units_without_tasks(conn, scope.dataset_pk))


def classify_new_inputs(conn: Connection, scope: Scope) -> None:
    frames, units = [], []
    for r in repo.unclassified_inputs(conn, scope.dataset_pk):
        seq = sequence_of(r.id, r.metadata, r.data)
        frames.append({"dataset_pk": scope.dataset_pk, "input_pk": r.pk, "sequence_id": seq})
        if seq is None:
            units.append(unit_row(scope, UnitKind.FILE, r.id, input_pk=r.pk))
        if scope.settings.frame_attributes:
            units.append(unit_row(scope, UnitKind.FRAME_ATTRIBUTE, r.id, input_pk=r.pk, sequence_id=seq))
    repo.insert_frames(conn, frames)
    repo.insert_units(conn, units)


def discover_labels(conn: Connection, scope: Scope) -> None:
    """One label unit per tracked object (``track_id``) seen in a sequence's annotations."""
    now, seen = utcnow(), scope.settings.annotations_seen_at
    rows = repo.sequence_annotations(conn, scope.dataset_pk, seen - RESCAN_MARGIN if seen else None)
    found = sorted({(r.sequence_id, tr) for r in rows for tr in track_ids(r.data)})
    repo.insert_units(conn, [label_unit(scope, seq, tr) for seq, tr in found])
    repo.update_settings(conn, scope.dataset_pk, annotations_seen_at=now)


def create_tasks(conn: Connection, scope: Scope, units: Sequence[Row[Any]]) -> None:
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


def unit_row(scope: Scope, kind: UnitKind, key: str, **fields: Any) -> dict[str, Any]:
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


def frame_attribute_units(scope: Scope, frames: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    kind = UnitKind.FRAME_ATTRIBUTE
    return [unit_row(scope, kind, f.input_id, input_pk=f.input_pk, sequence_id=f.sequence_id) for f in frames]


def label_unit(scope: Scope, sequence_id: str, label_id: str) -> dict[str, Any]:
    return unit_row(
        scope, UnitKind.LABEL, label_key(sequence_id, label_id), sequence_id=sequence_id, label_id=label_id
    )
