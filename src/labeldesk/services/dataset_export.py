"""Reading an app's inputs and annotations back as neutral records (``labeldesk export``,
dataset version archives): each input with its metadata, its input-level concepts and the
regions of its annotations (by default only approved ones, ANNOTATION_SUCCESS)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from sqlalchemy import Connection, Row, select

from labeldesk.datasets_io import rle
from labeldesk.datasets_io.records import Box, Record, Region
from labeldesk.domain import errors
from labeldesk.services.common import dict_to_struct, struct_to_dict, timestamp
from labeldesk.services.context import AppRef
from labeldesk.services.file_refs import local_path_of
from labeldesk.storage import tables as t
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import datasets as ds_repo

PAGE = 2_000
I = t.inputs.c  # noqa: E741
A = t.annotations.c


@dataclass(frozen=True)
class Selection:
    app: AppRef
    dataset_id: str = ""
    task_id: str = ""
    all_statuses: bool = False  # False: only ANNOTATION_SUCCESS annotations


FileFinder = Callable[[int, str], "Path | None"]  # (app pk, blob key) -> a local file, for hosted inputs


def records(db: Database, sel: Selection, files: FileFinder | None = None) -> Iterator[Record]:
    """The selected inputs as records, oldest first, read a page at a time (a read transaction
    each: an input that joins the selection below a page already read, or on PostgreSQL commits
    after a later one's, is not in this export); ``files`` finds the bytes of hosted inputs (the
    blob store)."""
    after = 0
    while True:
        with db.read() as conn:
            rows = input_page(conn, sel, after)
            if not rows:
                return
            annotations = annotations_of(conn, sel, [r.pk for r in rows])
        for r in rows:
            yield to_record(r, annotations.get(r.pk, []), sel.app.pk, files)
        after = rows[-1].pk


def input_page(conn: Connection, sel: Selection, after: int) -> list[Row[Any]]:
    q = select(I.pk, I.id, I.data, I.metadata, I.created_at).where(I.app_pk == sel.app.pk, I.pk > after)
    if sel.dataset_id:
        found = ds_repo.by_ids(conn, sel.app.pk, [sel.dataset_id])
        if not found:
            raise errors.ApiError(errors.DOES_NOT_EXIST, f"dataset '{sel.dataset_id}' does not exist")
        q = q.where(I.pk.in_(ds_repo.input_pks_query(found[sel.dataset_id].pk)))
    return list(conn.execute(q.order_by(I.pk).limit(PAGE)))


def annotations_of(conn: Connection, sel: Selection, input_pks: list[int]) -> dict[int, list[Row[Any]]]:
    q = select(A.pk, A.input_pk, A.data, A.input_level, A.status, A.task_id, A.user_id).where(
        A.input_pk.in_(input_pks), A.model_version_id == ""
    )
    out: dict[int, list[Row[Any]]] = defaultdict(list)
    for a in conn.execute(q.order_by(A.pk)):
        if a.input_level or (
            (sel.all_statuses or a.status == status_code_pb2.ANNOTATION_SUCCESS)
            and (not sel.task_id or a.task_id == sel.task_id)
        ):
            out[a.input_pk].append(a)  # type: ignore[arg-type]
    return out


def to_record(
    row: Row[Any], annotations: list[Row[Any]], app_pk: int = 0, files: FileFinder | None = None
) -> Record:
    data = input_proto(row, annotations).data
    hosted = data.image.hosted
    if hosted.suffix and not hosted.prefix and files is not None:  # a file in the blob store
        found = files(app_pk, hosted.suffix)
        return record_of_data(row.id, data, str(found) if found else "")
    local = local_path_of(data.image.url)
    return record_of_data(row.id, data, str(local) if local else data.image.url)


def record_of_data(input_id: str, data: resources_pb2.Data, source: str) -> Record:
    """A record of an input's data (with its concepts, regions and metadata)."""
    info = data.image.image_info
    return Record(
        input_id=input_id,
        source=source,
        metadata=struct_to_dict(data.metadata) or {},
        concepts=tuple(dict.fromkeys(c.id for c in data.concepts if c.value > 0)),
        regions=tuple(_region(g) for g in data.regions if any(c.value > 0 for c in g.data.concepts)),
        width=info.width,
        height=info.height,
    )


def _region(g: resources_pb2.Region) -> Region:
    info = g.region_info
    box = None
    if info.HasField("bounding_box"):
        b = info.bounding_box
        box = Box(b.top_row, b.left_col, b.bottom_row, b.right_col)
    polygon = tuple((p.col, p.row) for p in info.polygon.points)
    mask = rle.from_png(info.mask.image.base64) if info.mask.image.base64 else None
    concepts = tuple(c.id for c in g.data.concepts if c.value > 0)
    return Region(concepts, box=box, polygon=polygon, mask=mask, id=g.id)


def input_proto(row: Row[Any], annotations: list[Row[Any]]) -> resources_pb2.Input:
    """An input as a dataset version archive carries it: its stored data (media as stored, for
    the archive builder to link), metadata, input-level concepts and the regions of the selected
    annotations."""
    data = resources_pb2.Data.FromString(row.data)
    dict_to_struct(row.metadata, data.metadata)
    for a in annotations:
        d = resources_pb2.Data.FromString(a.data)
        if a.input_level:
            data.concepts.extend(d.concepts)
        data.regions.extend(d.regions)
    return resources_pb2.Input(id=row.id, data=data, created_at=timestamp(row.created_at))
