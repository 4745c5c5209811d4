"""Inputs: PostInputs, GetInput, ListInputs, PatchInputs, DeleteInput(s), GetInputCount.

Storing an input never fetches its URL: labeldesk keeps the URL and marks the input downloaded,
so posting 100k URLs is a database write, not 100k HTTP requests. Posted bytes go to the blob
store (:mod:`labeldesk.services.hosting`) and come back as a signed ``url`` of the ``/files``
route with ``hosted`` sizes, never as bytes.
Every input gets exactly one input-level annotation, owned by the app owner, carrying the
concepts posted with the input (``data.concepts``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, cast

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Connection, Row

from labeldesk.domain import annotation_rules as rules
from labeldesk.domain import errors
from labeldesk.files.signing import FileLinks
from labeldesk.services import registry as rpc
from labeldesk.services.annotation_views import stored_data
from labeldesk.services.common import (
    batch_ids,
    check_id,
    dict_to_struct,
    id_source,
    ordered_ids,
    page_of,
    require_one,
    require_unique,
    struct_to_dict,
    timestamp,
)
from labeldesk.services.concepts import ensure_concepts
from labeldesk.services.context import RequestContext
from labeldesk.services.hosting import MEDIA, Hosting, Pending, render_media
from labeldesk.services.input_jobs import record_job
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import annotations as ann_repo
from labeldesk.storage.repos import assignments as seats_repo
from labeldesk.storage.repos import concepts as concepts_repo
from labeldesk.storage.repos import datasets as ds_repo
from labeldesk.storage.repos import input_writes, multirow
from labeldesk.storage.repos import inputs as repo
from labeldesk.storage.repos.bulk import stored_json, stored_time
from labeldesk.wire.records import record, tag

DOWNLOADED = status_code_pb2.INPUT_DOWNLOAD_SUCCESS
#: an input's ``Data`` as stored on its row, and the hosted files to write for it
Hosted = tuple[resources_pb2.Data, list[Pending]]
MAX_BATCH = 128
DUPLICATE_DETAILS = "Input has a duplicate ID."


def _has_media(data: resources_pb2.Data) -> bool:
    """Whether ``data`` has something to label."""
    return bool(
        data.image.url
        or data.image.base64
        or data.video.url
        or data.video.base64
        or data.text.raw
        or data.text.url
        or data.audio.url
        or data.audio.base64
    )


def _carries_bytes(data: resources_pb2.Data) -> bool:
    """Whether ``data`` has media bytes to host or a ``hosted`` block to drop (what
    ``Hosting.take_bytes`` changes); most inputs are URLs and skip its copy of the ``Data``."""
    for fd, block in data.ListFields():  # the set fields only: one for the usual input
        if fd.name in MEDIA and (block.base64 or block.HasField("hosted")):
            return True
    return False


def _checked(data: resources_pb2.Data, where: str) -> resources_pb2.Data:
    """``data`` when it has something to label, else the error naming what to send."""
    if not _has_media(data):
        raise errors.invalid(
            f"{where}.data: an input needs an image, video, audio or text (url or base64)",
            'e.g. {"data": {"image": {"url": "https://samples.clarifai.com/metro-north.jpg"}}}',
        )
    return data


def _kept(data: resources_pb2.Data) -> resources_pb2.Data:
    """The part of ``Data`` kept on the input row (concepts live in the input-level annotation):
    ``data`` itself when it has neither (not a copy: read it only)."""
    if not data.concepts and not data.HasField("metadata"):
        return data
    kept = resources_pb2.Data()
    kept.CopyFrom(data)
    kept.ClearField("concepts")
    kept.ClearField("metadata")
    return kept


_INPUT_COLUMNS = ("id", "app_pk", "data", "metadata", "status", "created_at", "modified_at")


def _new_input_proto(
    iid: str,
    given: resources_pb2.Input,
    kept: resources_pb2.Data,
    created: Timestamp,
    datasets: Mapping[str, Row[Any]],
    names: Mapping[str, str],
    app_pk: int,
    links: FileLinks | None,
) -> resources_pb2.Input:
    """A just-added input as :func:`input_protos` shows it once stored, built from what was
    inserted: its concepts once each (the last value given wins) with their names, its datasets
    in creation order."""
    out = resources_pb2.Input(id=iid, created_at=created, modified_at=created)
    out.dataset_ids.extend(sorted(dict.fromkeys(given.dataset_ids), key=lambda d: datasets[d].pk))
    data = out.data
    data.CopyFrom(kept)
    render_media(data, app_pk, links)
    if given.data.metadata.fields:
        data.metadata.CopyFrom(given.data.metadata)
    for cid, value in dict(_concept_pairs(given.data)).items():
        data.concepts.add(id=cid, name=names.get(cid) or cid, value=value)
    out.status.code = DOWNLOADED
    out.status.description = "Download complete"
    return out


_INPUTS = tag(service_pb2.MultiInputResponse.DESCRIPTOR, "inputs")
_INPUT_ID = tag(resources_pb2.Input.DESCRIPTOR, "id")
_INPUT_DATA = tag(resources_pb2.Input.DESCRIPTOR, "data")


def _hosted(kept: resources_pb2.Data) -> bool:
    """Whether a new input's stored ``Data`` has a hosted file (:func:`render_media` signs its
    URL). An input without it, and without concepts, metadata or datasets to add, is answered
    as its stored ``Data`` and the request's common fields (:func:`_plain_tail`)."""
    return bool(
        kept.image.HasField("hosted") or kept.video.HasField("hosted") or kept.audio.HasField("hosted")
    )


def _plain_tail(created: Timestamp) -> bytes:
    """The wire bytes of what :func:`_new_input_proto` sets on every plain input besides its id
    and data: the times and the status."""
    shown = resources_pb2.Input(created_at=created, modified_at=created)
    shown.status.code = DOWNLOADED
    shown.status.description = "Download complete"
    return bytes(shown.SerializeToString())


def _add_input_level_annotations(
    conn: Connection, app: Any, items: list[tuple[int, resources_pb2.Data]], stored_ts: Any
) -> None:
    """Each new input's input-level annotation, owned by the app owner, with the posted concepts."""
    rows, concepts = [], []
    empty = _EMPTY_DATA["data"], _EMPTY_DATA["data_json"], _EMPTY_DATA["data_json_format"]
    app_pk, owner, success = app.pk, app.owner_id, status_code_pb2.ANNOTATION_SUCCESS
    no_pairs: list[tuple[str, float]] = []
    for (input_pk, data), ann_id in zip(items, ordered_ids(len(items))):
        if data.concepts:
            pairs = _concept_pairs(data)
            shown = stored_data(
                resources_pb2.Data(concepts=[resources_pb2.Concept(id=c, value=v) for c, v in pairs])
            )
            data_, json_, format_ = shown["data"], shown["data_json"], shown["data_json_format"]
        else:
            pairs = no_pairs
            data_, json_, format_ = empty
        # annotation_info, status, task_id, model and embed model versions, input_level, trusted
        row = (
            ann_id,
            app_pk,
            input_pk,
            owner,
            data_,
            json_,
            format_,
            None,
            success,
            None,
            "",
            "",
            True,
            True,
        )
        rows.append((*row, stored_ts, stored_ts))
        concepts.append(pairs)
    ann_repo.insert_tuples(conn, app_pk, rows, concepts)


_EMPTY_DATA = stored_data(resources_pb2.Data())


def _named_concepts(inputs: Sequence[resources_pb2.Input]) -> list[tuple[str, str, str]]:
    """``(field path, id, name)`` of the concepts posted with inputs (created when new)."""
    return [
        (f"inputs[{n}].data.concepts[{i}]", c.id, c.name)
        for n, inp in enumerate(inputs)
        for i, c in enumerate(inp.data.concepts)
    ]


def _duplicate(given: resources_pb2.Input, input_id: str) -> resources_pb2.Input:
    """The answer for a posted input whose id exists already (the SDK matches the details)."""
    out = resources_pb2.Input(id=input_id, data=given.data, dataset_ids=given.dataset_ids)
    for media in ("image", "video", "audio"):  # posted bytes are never echoed back
        if out.data.HasField(media):
            getattr(out.data, media).ClearField("base64")
    render_media(out.data, 0, None)  # posted bytes are never echoed back
    out.status.code = status_code_pb2.INPUT_DUPLICATE
    out.status.description = "Input has a duplicate ID"
    out.status.details = DUPLICATE_DETAILS
    return out


def _set_batch_status(status: status_pb2.Status, added: int, duplicates: int) -> None:
    """MIXED_STATUS when some inputs were added, FAILURE when none were (each input says why)."""
    status.code = errors.MIXED_STATUS if added else errors.FAILURE
    status.description = "Mixed Success" if added else "Failure"
    status.details = (
        f"{added} input(s) added; {duplicates} not added because an input with the same id exists "
        "(see each input's status)"
    )


def _concept_pairs(data: resources_pb2.Data) -> list[tuple[str, float]]:
    return [(c.id, c.value) for c in data.concepts]


def input_protos(
    conn: Connection, rows: Sequence[Row[Any]], links: FileLinks | None, with_datasets: bool = True
) -> list[resources_pb2.Input]:
    """Inputs as the API returns them, loading concepts and datasets in two batched queries;
    hosted files get URLs signed for ``links`` (the request's ``ctx.files``)."""
    pks = [r.pk for r in rows]
    level = ann_repo.input_level_of(conn, pks)
    concepts = ann_repo.concepts_of(conn, [a.pk for a in level.values()])
    datasets = repo.dataset_ids_of(conn, pks) if with_datasets else {}
    names = _concept_names(conn, rows, level, concepts)
    out = []
    for r in rows:
        a = level.get(r.pk)
        pairs = concepts.get(a.pk, []) if a is not None else []
        out.append(
            input_message(
                r, links, [(cid, names.get((r.app_pk, cid)), v) for cid, v in pairs], datasets.get(r.pk, [])
            )
        )
    return out


def input_message(
    r: Any,
    links: FileLinks | None,
    concepts: Sequence[tuple[str, str | None, float]],
    dataset_ids: Sequence[str],
) -> resources_pb2.Input:
    """An input as the API returns it, from its row (``id``, ``app_pk``, ``data``, decoded
    ``metadata``, ``status``, times), its input-level concepts ``(id, name or None, value)`` and
    its datasets' ids."""
    data = resources_pb2.Data.FromString(r.data)
    render_media(data, r.app_pk, links)
    dict_to_struct(r.metadata, data.metadata)
    for cid, name, value in concepts:
        data.concepts.add(id=cid, name=name or cid, value=value)
    return resources_pb2.Input(
        id=r.id,
        data=data,
        created_at=timestamp(r.created_at),
        modified_at=timestamp(r.modified_at),
        status=status_pb2.Status(code=r.status, description="Download complete"),
        dataset_ids=dataset_ids,
    )


def _concept_names(
    conn: Connection,
    rows: Sequence[Row[Any]],
    level: dict[int, Row[Any]],
    concepts: dict[int, list[tuple[str, float]]],
) -> dict[tuple[int, str], str]:
    """The names of the concepts the inputs' input-level annotations carry, by (app pk, concept id)."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        a = level.get(r.pk)
        if a is not None:
            wanted[int(r.app_pk)].update(cid for cid, _ in concepts.get(a.pk, []))
    return {
        (app_pk, cid): row.name
        for app_pk, ids in wanted.items()
        for cid, row in concepts_repo.get_many(conn, app_pk, ids).items()
    }


def _require_inputs(conn: Connection, app_pk: int, ids: Sequence[str], where: str) -> dict[str, Row[Any]]:
    found = repo.by_ids(conn, app_pk, ids)
    absent = [i for i in ids if i not in found]
    if absent:
        raise errors.ApiError(
            errors.DOES_NOT_EXIST, f"{where}: input(s) {', '.join(repr(a) for a in absent[:10])} do not exist"
        )
    return found


def _require_datasets(conn: Connection, app_pk: int, dataset_ids: Sequence[str]) -> dict[str, Row[Any]]:
    datasets = ds_repo.by_ids(conn, app_pk, dataset_ids)
    absent = [d for d in dataset_ids if d not in datasets]
    if absent:
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"inputs[].dataset_ids: dataset(s) {absent} do not exist",
            "create them first with PostDatasets",
        )
    return datasets


def _patched_metadata(action: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    if action == rules.MERGE:
        return {**old, **new}
    if action == rules.OVERWRITE:
        return new
    return {k: v for k, v in old.items() if k not in new}


def _patch_input_concepts(
    conn: Connection,
    app_pk: int,
    action: str,
    input_pk: int,
    patch: resources_pb2.Data,
    path: str,
    concept_ids: Sequence[str],
) -> None:
    """Apply the action to the concepts of the input-level annotation (as PatchAnnotations would)."""
    level = ann_repo.input_level_of(conn, [input_pk])[input_pk]
    stored = resources_pb2.Data.FromString(level.data)
    only_concepts = resources_pb2.Data(concepts=patch.concepts)
    catalog = rules.Catalog({c: c for c in concept_ids}, {}, check_id)
    data = rules.apply(action, stored, only_concepts, path, catalog)
    ann_repo.update_many(
        conn,
        app_pk,
        [{"pk": level.pk, **stored_data(data), "modified_at": utcnow()}],
        {level.pk: rules.concept_index(data)},
    )


def _patch_memberships(
    conn: Connection,
    action: str,
    input_pk: int,
    datasets: Sequence[Row[Any]],
    app_pk: int,
    was_in: Sequence[str] = (),
) -> list[str]:
    """Apply the action to the input's dataset memberships; answer the ids of the datasets the
    input leaves (OVERWRITE: those of ``was_in``, its datasets before, not in ``datasets``)."""
    if action == rules.REMOVE:
        for d in datasets:
            ds_repo.remove_inputs(conn, d.pk, [input_pk])
        return [d.id for d in datasets]
    left: list[str] = []
    if action == rules.OVERWRITE:
        ds_repo.remove_input_everywhere(conn, app_pk, input_pk)
        left = sorted(set(was_in) - {d.id for d in datasets})
    for d in datasets:
        ds_repo.add_inputs(conn, app_pk, d.pk, [input_pk])
    return left


class InputsService:
    def __init__(self, hosting: Hosting | None = None) -> None:
        self.hosting = hosting

    def _take_bytes(self, data: resources_pb2.Data, where: str) -> Hosted:
        """``data`` as stored and its files to write; called only for ``data`` that
        :func:`_carries_bytes` (a URL or text is stored as posted: not a copy, read it only)."""
        if self.hosting is None:
            if data.image.base64 or data.video.base64 or data.audio.base64:
                raise errors.ApiError(errors.NOT_IMPLEMENTED, f"{where}: this server keeps no posted bytes")
            return data, []
        return self.hosting.take_bytes(data, where)

    def post_inputs_prepare(self, req: service_pb2.PostInputsRequest) -> list[Hosted]:
        """Each input's ``Data`` as stored and its files to write: the posted bytes checked and
        thumbnailed, before the transaction (see ``services.dispatch``)."""
        if len(req.inputs) > MAX_BATCH:
            raise errors.invalid(
                f"inputs: at most {MAX_BATCH} inputs per request, got {len(req.inputs)}",
                "split the batch into several requests",
            )
        out: list[Hosted] = []
        for n, inp in enumerate(req.inputs):
            data = inp.data
            if not _has_media(data):
                _checked(data, f"inputs[{n}]")  # raises, naming the field
            out.append(self._take_bytes(data, f"inputs[{n}]") if _carries_bytes(data) else (data, []))
        return out

    @rpc.write("PostInputs")
    def post_inputs(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostInputsRequest
    ) -> service_pb2.MultiInputResponse:
        """Add the inputs; one whose id exists already is answered with a per-input "duplicate
        ID" status and the others are added (MIXED_STATUS), as Clarifai does. Malformed batches
        are refused whole. Posted bytes were checked by :meth:`post_inputs_prepare`.

        One multi-row insert per table (inputs, their input-level annotations and concept index
        rows), and the answer is built from what was inserted, not read back."""
        app = ctx.require_app()
        prepared = ctx.prepared
        hosted = cast(list[Hosted], prepared) if prepared is not None else self.post_inputs_prepare(req)
        given = list(req.inputs)
        ids = batch_ids("input", "inputs", given, make=id_source(len(given)))
        taken = multirow.ids_to_pks(conn, t.inputs, app.pk, ids)
        fresh = [(inp, iid, h) for inp, iid, h in zip(given, ids, hosted) if iid not in taken]
        names = ensure_concepts(conn, app.pk, _named_concepts([inp for inp, _, _ in fresh]))
        datasets = _require_datasets(conn, app.pk, sorted({d for inp in given for d in inp.dataset_ids}))
        ts = utcnow()
        stored_ts = stored_time(conn, ts)
        app_pk = app.pk
        rows: list[tuple[Any, ...]] = []
        posted: list[resources_pb2.Data] = []
        kept: list[resources_pb2.Data] = []
        plain: list[bool] = []
        for inp, iid, (data, _) in fresh:
            given_data = inp.data
            meta = given_data.HasField("metadata")
            more = meta or bool(given_data.concepts)
            k = _kept(data) if more else data
            metadata = stored_json(struct_to_dict(given_data.metadata)) if meta else None
            rows.append((iid, app_pk, k.SerializeToString(), metadata, DOWNLOADED, stored_ts, stored_ts))
            posted.append(given_data)
            kept.append(k)
            plain.append(not (more or inp.dataset_ids or _hosted(k)))
        input_writes.hold(conn, app_pk)  # pks are taken now and seen at commit: planners must know
        new_pks = multirow.insert_pks(conn, t.inputs, _INPUT_COLUMNS, rows)
        pks = dict(zip([row[0] for row in rows], new_pks))
        if self.hosting is not None:
            files = [(pks[iid], pending) for _, iid, (_, pending) in fresh if pending]
            self.hosting.save(conn, app_pk, files)
        _add_input_level_annotations(conn, app, list(zip(new_pks, posted)), stored_ts)
        members: dict[str, list[int]] = defaultdict(list)
        for inp, iid, _ in fresh:
            if inp.dataset_ids:
                for d in dict.fromkeys(inp.dataset_ids):
                    members[d].append(pks[iid])
        for d, in_ds in members.items():
            ds_repo.add_inputs(conn, app_pk, datasets[d].pk, in_ds, posted_now=True)
        created = timestamp(ts)
        tail = _plain_tail(created)
        added: dict[str, bytes] = {}
        for (inp, iid, _), k, row, is_plain in zip(fresh, kept, rows, plain):
            if is_plain:
                added[iid] = record(_INPUT_ID, iid.encode()) + record(_INPUT_DATA, row[2]) + tail
            else:
                shown = _new_input_proto(iid, inp, k, created, datasets, names, app_pk, ctx.files)
                added[iid] = shown.SerializeToString()
        out = service_pb2.MultiInputResponse.FromString(
            b"".join(
                record(_INPUTS, added.get(iid) or _duplicate(inp, iid).SerializeToString())
                for inp, iid in zip(given, ids)
            )
        )
        out.inputs_add_job.CopyFrom(record_job(conn, app.pk, req.inputs_add_job_id, len(fresh), len(taken)))
        if taken:
            _set_batch_status(out.status, len(fresh), len(taken))
        return out

    @rpc.read("GetInput")
    def get_input(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetInputRequest
    ) -> service_pb2.SingleInputResponse:
        row = require_one(repo.by_ids(conn, ctx.require_app().pk, [req.input_id]), "input", req.input_id)
        return service_pb2.SingleInputResponse(input=input_protos(conn, [row], ctx.files)[0])

    @rpc.read("ListInputs")
    def list_inputs(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListInputsRequest
    ) -> service_pb2.MultiInputResponse:
        page = page_of(req.page, req.per_page)
        q = repo.page_query(ctx.require_app().pk, list(req.ids), req.status.code)
        rows = list(conn.execute(q.offset(page.offset).limit(page.per_page)))
        return service_pb2.MultiInputResponse(inputs=input_protos(conn, rows, ctx.files))

    @rpc.read("GetInputCount")
    def get_input_count(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetInputCountRequest
    ) -> service_pb2.SingleInputCountResponse:
        n = repo.count(conn, ctx.require_app().pk)
        return service_pb2.SingleInputCountResponse(counts=resources_pb2.InputCount(processed=n))

    @rpc.write("PatchInputs")
    def patch_inputs(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchInputsRequest
    ) -> service_pb2.MultiInputResponse:
        app = ctx.require_app()
        action = rules.check_action(req.action or rules.MERGE)
        ids = [i.id for i in req.inputs]
        if not ids or not all(ids):
            raise errors.invalid("inputs: every input to patch needs its id")
        require_unique("input", ids, "inputs")
        found = _require_inputs(conn, app.pk, ids, "inputs")
        concept_ids = sorted(ensure_concepts(conn, app.pk, _named_concepts(req.inputs)))
        dataset_ids = sorted({d for inp in req.inputs for d in inp.dataset_ids})
        datasets = _require_datasets(conn, app.pk, dataset_ids)
        # an OVERWRITE of dataset_ids takes inputs out of the datasets they were in before
        was_in = (
            repo.dataset_ids_of(conn, [found[i.id].pk for i in req.inputs if i.dataset_ids])
            if action == rules.OVERWRITE
            else {}
        )
        left: dict[str, list[int]] = defaultdict(list)
        for n, inp in enumerate(req.inputs):
            row = found[inp.id]
            meta = _patched_metadata(
                action, dict(row.metadata or {}), struct_to_dict(inp.data.metadata) or {}
            )
            repo.update_one(conn, row.pk, metadata=meta or None)
            if inp.data.concepts:  # fields not given are left alone, whatever the action
                _patch_input_concepts(
                    conn, app.pk, action, row.pk, inp.data, f"inputs[{n}].data", concept_ids
                )
            if inp.dataset_ids:
                member_of = [datasets[d] for d in inp.dataset_ids]
                for ds_id in _patch_memberships(
                    conn, action, row.pk, member_of, app.pk, was_in.get(row.pk, ())
                ):
                    left[ds_id].append(row.pk)
        for ds_id, pks in left.items():  # tasks on a dataset no longer hand out the inputs that left it
            seats_repo.drop_unstarted_seats(conn, app.pk, ds_id, pks)
        stored = repo.by_ids(conn, app.pk, ids)
        return service_pb2.MultiInputResponse(inputs=input_protos(conn, [stored[i] for i in ids], ctx.files))

    @rpc.write("DeleteInput")
    def delete_input(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteInputRequest
    ) -> status_pb2.BaseResponse:
        found = _require_inputs(conn, ctx.require_app().pk, [req.input_id], "input_id")
        repo.delete_pks(conn, [r.pk for r in found.values()])
        return status_pb2.BaseResponse()

    @rpc.write("DeleteInputs")
    def delete_inputs(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteInputsRequest
    ) -> status_pb2.BaseResponse:
        if not req.ids:
            raise errors.invalid("ids: give the ids of the inputs to delete")
        found = _require_inputs(conn, ctx.require_app().pk, list(dict.fromkeys(req.ids)), "ids")
        repo.delete_pks(conn, [r.pk for r in found.values()])
        return status_pb2.BaseResponse()
