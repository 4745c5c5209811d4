"""Annotations: PostAnnotations, GetAnnotation, ListAnnotations, PatchAnnotations, DeleteAnnotation,
DeleteAnnotations, ListAnnotationWorkers.

Who may do what:
- any member of the app (owner or collaborator) creates annotations as themselves;
- only the app owner creates annotations for another member (``user_id``), by a model
  (``model_version_id``), or with a review status (see ``annotation_rules.check_status``);
- only an annotation's author or the app owner changes or deletes it (24156 otherwise);
- input-level annotations (one per input, made by PostInputs) are listed only with
  ``list_all_annotations`` and go only with their input.

The rules for the data itself (shapes, concepts, merge/overwrite/remove) live in
:mod:`labeldesk.domain.annotation_rules`; this module looks up what they need and writes the result.
GetAnnotation and ListAnnotations fill ``consensus_info`` of a task's annotations from the consensus
decision on their input (``services/review.fill_consensus_info``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.resources_pb2 import Annotation
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf import json_format
from sqlalchemy import Connection, Row

from labeldesk.domain import annotation_rules as rules
from labeldesk.domain import errors
from labeldesk.services import annotation_fast as fast
from labeldesk.services import registry as rpc
from labeldesk.services.annotation_views import annotation_json, annotation_proto, stored_data
from labeldesk.services.common import batch_ids, check_id, id_source, page_of, require_unique
from labeldesk.services.concepts import ensure_concepts
from labeldesk.services.context import RequestContext
from labeldesk.services.review import consensus_infos_of, fill_consensus_info
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import accounts, multirow
from labeldesk.storage.repos import annotations as repo
from labeldesk.storage.repos import inputs as inputs_repo
from labeldesk.storage.repos.bulk import stored_json, stored_time
from labeldesk.wire.printer import NESTED_JSON_FORMAT, nested_json_bytes

MAX_BATCH = 128
DEFAULT_PER_PAGE = 20
WORKERS_PER_PAGE = 128
PERMISSION_DENIED = status_code_pb2.ANNOTATION_PERMISSION_DENIED


# ----------------------------------------------------------------------------- rendering


def _response(mappings: Iterable[Mapping[Any, Any]]) -> service_pb2.MultiAnnotationResponse:
    resp = service_pb2.MultiAnnotationResponse()
    for m in mappings:
        annotation_proto(m, resp.annotations.add())
    return resp


# ----------------------------------------------------------------------------- shared checks


def _check_batch(items: Sequence[Any], verb: str) -> None:
    if not items:
        raise errors.invalid(f"annotations: give at least one annotation to {verb}")
    if len(items) > MAX_BATCH:
        raise errors.invalid(
            f"annotations: at most {MAX_BATCH} annotations per request, got {len(items)}",
            "split the batch into several requests",
        )


def _me(ctx: RequestContext, user_id: str) -> str:
    return ctx.caller_id if user_id in ("", "me") else user_id


def _require_change_right(ctx: RequestContext, row: Row[Any], where: str) -> None:
    """Only the author of an annotation, or the app owner, may change or delete it."""
    if ctx.is_owner or row.user_id == ctx.caller_id:
        return
    raise errors.ApiError(
        PERMISSION_DENIED,
        f"{where}: annotation '{row.id}' belongs to user '{row.user_id}'; you ('{ctx.caller_id}') can "
        "change or delete only your own annotations",
        "ask the app owner, who can change any annotation",
    )


def _require_inputs(conn: Connection, app_pk: int, refs: Sequence[tuple[str, str]]) -> dict[str, Row[Any]]:
    """Inputs by id for ``(field path, input id)`` references; every one must exist."""
    for where, input_id in refs:
        if not input_id:
            raise errors.invalid(f"{where}: give the id of the input to annotate")
    found = inputs_repo.by_ids(conn, app_pk, {i for _, i in refs})
    absent = [(w, i) for w, i in refs if i not in found]
    if absent:
        where, input_id = absent[0]
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"{where}: input '{input_id}' does not exist in this app"
            + (f" (nor do {len(absent) - 1} more of the inputs named)" if len(absent) > 1 else ""),
            "add the input first with PostInputs",
        )
    return found


def _input_pks(conn: Connection, app_pk: int, input_ids: Sequence[str]) -> dict[str, int]:
    """Input pks by id for the ``input_id`` of each of a request's annotations, in one query;
    every one must exist (errors as :func:`_require_inputs`, naming ``annotations[n].input_id``)."""
    wanted = set(input_ids)
    found = multirow.ids_to_pks(conn, t.inputs, app_pk, wanted)
    if len(found) < len(wanted) or "" in wanted:
        refs = [(f"{_path(n)}.input_id", i) for n, i in enumerate(input_ids)]
        _require_inputs(conn, app_pk, refs)  # raises, naming the first missing one
    return found


def _path(n: int) -> str:
    """The field path of a request's ``n``-th annotation (for error messages)."""
    return f"annotations[{n}]"


def _require_rows(conn: Connection, app_pk: int, refs: Sequence[tuple[str, str, str]]) -> dict[str, Row[Any]]:
    """Annotations by id for ``(field path, annotation id, input id or "")``; all must exist."""
    for where, ann_id, _ in refs:
        if not ann_id:
            raise errors.invalid(f"{where}: give the id of the annotation", "ids come with ListAnnotations")
    rows = repo.by_ids(conn, app_pk, [a for _, a, _ in refs])
    for where, ann_id, input_id in refs:
        row = rows.get(ann_id)
        if row is None or (input_id and row.input_id != input_id):
            on = f" on input '{input_id}'" if input_id else ""
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"{where}: annotation '{ann_id}'{on} does not exist",
                "list the input's annotations with ListAnnotations(input_ids=[...])",
            )
    return rows


def _concept_names(
    conn: Connection, app_pk: int, items: Iterable[tuple[str, resources_pb2.Data]]
) -> dict[str, str]:
    """Names of every concept the data name, creating the ones the app lacks (as Clarifai does)."""
    return ensure_concepts(
        conn, app_pk, [ref for path, data in items for ref in rules.named_concepts(data, path)]
    )


def _input_regions(conn: Connection, input_pks: set[int]) -> dict[int, dict[str, resources_pb2.RegionInfo]]:
    """Regions already drawn on the inputs (by any annotation): input pk → region id → shape."""
    out: dict[int, dict[str, resources_pb2.RegionInfo]] = {pk: {} for pk in input_pks}
    for row in repo.on_inputs(conn, input_pks) if input_pks else []:
        out[row.input_pk].update(rules.regions_of(resources_pb2.Data.FromString(row.data)))
    return out


def _refers_to_regions(a: Annotation) -> bool:
    return bool(rules.referenced_regions(a.data))


def _status(ctx: RequestContext, status: status_pb2.Status, where: str) -> int | None:
    if not status.code:
        return None
    return rules.check_status(status.code, ctx.is_owner, f"{where}.status")


def _plain(a: Annotation) -> bool:
    """Whether a new annotation sets none of the fields :meth:`AnnotationsService._extra` reads
    (nor a model): the usual case, stored with the defaults."""
    return not (
        a.task_id
        or a.model_version_id
        or a.embed_model_version_id
        or a.HasField("status")
        or a.HasField("annotation_info")
    )


def _info(a: resources_pb2.Annotation) -> dict[str, Any] | None:
    """``annotation_info`` as given (``None`` when absent; ``{}`` when given empty)."""
    if not a.HasField("annotation_info"):
        return None
    return json_format.MessageToDict(a.annotation_info)


# ----------------------------------------------------------------------------- the service


class AnnotationsService:
    @rpc.write("PostAnnotations")
    def post_annotations(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostAnnotationsRequest
    ) -> service_pb2.MultiAnnotationResponse:
        """All checks first, then one multi-row insert per table (see docs/performance.md): the
        lookups are one ``IN`` query each for the whole batch, the data of the usual shape
        takes the one-walk fast path (:mod:`labeldesk.services.annotation_fast`), walked once
        per distinct ``Data`` of the request, and the answer is assembled from what was stored.
        Field paths for error messages are formatted only when there is an error."""
        app = ctx.require_app()
        anns = list(req.annotations)
        _check_batch(anns, "create")
        given = [a.id for a in anns]
        # time-ordered ids: the batch lands together in the id index
        ids = batch_ids("annotation", "annotations", anns, make=id_source(len(anns)))
        self._refuse_taken(conn, app.pk, [i for i in given if i])
        input_ids = [a.input_id for a in anns]
        input_pks = _input_pks(conn, app.pk, input_ids)
        authors = self._authors(conn, ctx, anns)
        datas = [a.data for a in anns]
        keys = [d.SerializeToString() for d in datas]
        by_key = dict(zip(keys, datas))  # each distinct data once
        templates = fast.Templates(fast.ConceptCache(self._concept_names(conn, app.pk, anns, by_key)))
        region_ids = id_source()
        prepared = templates.prepare_all(keys, by_key, region_ids)
        self._prepare_others(conn, anns, input_pks, templates.concepts.names, prepared)
        ts = utcnow()
        stored_ts = stored_time(conn, ts)
        owner, app_pk = app.owner_id, app.pk
        rows: list[tuple[Any, ...]] = []
        tails: list[bytes] = []
        shown: dict[tuple[Any, ...], bytes] = {}
        for n, (a, ann_id, input_id, author, prep) in enumerate(zip(anns, ids, input_ids, authors, prepared)):
            assert prep is not None
            if _plain(a):  # the usual annotation: none of the fields _extra looks at
                info, status, task_id, model, embed = None, rules.DEFAULT_STATUS, None, "", ""
            else:
                info, status, task_id = self._extra(ctx, a, _path(n))
                model, embed = a.model_version_id, a.embed_model_version_id
            trusted = author == owner and not model
            row = (
                ann_id,
                app_pk,
                input_pks[input_id],
                author,
                prep.stored,
                prep.json,
                NESTED_JSON_FORMAT,
                None if info is None else stored_json(info),
                status,
                task_id,
                model,
                embed,
                False,
                trusted,
                stored_ts,
                stored_ts,
            )
            rows.append(row)
            same = (author, status, task_id, model, embed)
            tail = shown.get(same) if info is None else None
            if tail is None:
                tail = self._shown_tail(row, info, ts)
                if info is None:
                    shown[same] = tail
            tails.append(tail)
        repo.insert_tuples(conn, app_pk, rows, [prep.index for prep in prepared if prep is not None], True)
        return fast.answer(
            service_pb2.MultiAnnotationResponse,
            zip(ids, input_ids, (row[4] for row in rows), tails),
        )

    def _shown_tail(self, row: tuple[Any, ...], info: dict[str, Any] | None, ts: Any) -> bytes:
        """How a new annotation is answered, without its id, input id and data (the same for
        every annotation of a request by the same author with the same status, mostly)."""
        shown = annotation_proto(
            {
                "id": "",
                "input_id": "",
                "user_id": row[3],
                "data": b"",
                "annotation_info": info,
                "status": row[8],
                "task_id": row[9],
                "model_version_id": row[10],
                "embed_model_version_id": row[11],
                "input_level": False,
                "trusted": row[13],
                "created_at": ts,
                "modified_at": ts,
            }
        )
        return bytes(shown.SerializeToString())

    def _refuse_taken(self, conn: Connection, app_pk: int, ids: list[str]) -> None:
        found = multirow.ids_to_pks(conn, t.annotations, app_pk, ids) if ids else {}
        taken = [i for i in ids if i in found]
        if taken:
            raise errors.ApiError(
                errors.DUPLICATE_KEY,
                f"annotation id(s) {', '.join(repr(i) for i in taken[:10])} already exist in this app; "
                "nothing was added",
                "choose new ids, or leave id empty to have one generated",
            )

    def _authors(self, conn: Connection, ctx: RequestContext, anns: Sequence[Annotation]) -> list[str]:
        """Who each annotation is by: the caller, or (app owner only) another member of the app."""
        caller = ctx.caller_id
        authors = [_me(ctx, u) if (u := a.user_id) else caller for a in anns]
        others = [(_path(n), u) for n, u in enumerate(authors) if u != caller]
        models = [] if ctx.is_owner else [_path(n) for n, a in enumerate(anns) if a.model_version_id]
        if (others or models) and not ctx.is_owner:
            where = f"{others[0][0]}.user_id" if others else f"{models[0]}.model_version_id"
            raise errors.ApiError(
                PERMISSION_DENIED,
                f"{where}: only the app owner can create annotations for another user or a model",
                "leave user_id empty (or 'me') to annotate as yourself",
            )
        if others:
            members = accounts.members(conn, ctx.require_app().pk, ctx.require_app().owner_id)
            strangers = [(p, u) for p, u in others if u not in members]
            if strangers:
                where, user = strangers[0]
                raise errors.invalid(
                    f"{where}.user_id: user '{user}' is not the owner or a collaborator of this app",
                    "add the user with PostCollaborators first",
                )
        return authors

    def _concept_names(
        self,
        conn: Connection,
        app_pk: int,
        anns: Sequence[Annotation],
        distinct: Mapping[bytes, resources_pb2.Data],
    ) -> dict[str, str]:
        """Names of every concept the annotations name (``distinct``: their different data, by
        their bytes; created when the app lacks them); when one is bad, the rules walk again to
        name its field in the error."""
        named: list[tuple[str, str, str]] = []
        seen: set[bytes] = set()
        for data in distinct.values():
            fast.named_concepts(data, named, seen)
        try:
            return ensure_concepts(conn, app_pk, list(dict.fromkeys(named)))  # each (id, name) once
        except errors.ApiError:
            return _concept_names(conn, app_pk, [(f"{_path(n)}.data", a.data) for n, a in enumerate(anns)])

    def _prepare_others(
        self,
        conn: Connection,
        anns: Sequence[Annotation],
        input_pks: Mapping[str, int],
        names: Mapping[str, str],
        prepared: list[fast.Prepared | None],
    ) -> None:
        """Fill in the data the fast path left (unusual shapes, regions named by id, and every
        invalid one, whose error the rules raise here)."""
        others = [n for n, p in enumerate(prepared) if p is None]
        if not others:
            return
        refs = {input_pks[anns[n].input_id] for n in others if _refers_to_regions(anns[n])}
        regions = _input_regions(conn, refs)
        for n in others:
            catalog = rules.Catalog(names, regions.get(input_pks[anns[n].input_id], {}), check_id)
            data = rules.prepare(anns[n].data, f"{_path(n)}.data", catalog)
            index = list(dict(rules.concept_index(data)).items())  # each concept once, the last value
            prepared[n] = fast.Prepared(data.SerializeToString(), nested_json_bytes(data), index)

    def _extra(
        self, ctx: RequestContext, a: Annotation, path: str
    ) -> tuple[dict[str, Any] | None, int, str | None]:
        """``annotation_info``, status and task id of a new annotation."""
        info = _info(a) or None
        status = _status(ctx, a.status, path) or rules.DEFAULT_STATUS
        if info is None and not a.task_id:
            return None, status, None
        return info, status, rules.task_id_of(info, a.task_id, path)

    @rpc.read("GetAnnotation")
    def get_annotation(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetAnnotationRequest
    ) -> service_pb2.SingleAnnotationResponse:
        rows = _require_rows(conn, ctx.require_app().pk, [("annotation_id", req.annotation_id, req.input_id)])
        row = rows[req.annotation_id]
        resp = service_pb2.SingleAnnotationResponse(annotation=annotation_proto(row._mapping))
        fill_consensus_info(conn, ctx.require_app().pk, [row._mapping], [resp.annotation])
        return resp

    @rpc.read("ListAnnotations")
    def list_annotations(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListAnnotationsRequest
    ) -> service_pb2.MultiAnnotationResponse:
        rows = self._page(conn, ctx, req)
        resp = _response(r._mapping for r in rows)
        fill_consensus_info(conn, ctx.require_app().pk, [r._mapping for r in rows], resp.annotations)
        return resp

    def list_annotations_json(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListAnnotationsRequest
    ) -> dict[str, Any]:
        """ListAnnotations for the REST transport: the same page, rendered straight to JSON."""
        rows = [r._mapping for r in self._page(conn, ctx, req)]
        infos = consensus_infos_of(conn, ctx.require_app().pk, rows)
        return {"annotations": [annotation_json(m, info) for m, info in zip(rows, infos)]}

    def _page(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListAnnotationsRequest
    ) -> list[Row[Any]]:
        page = page_of(req.page, req.per_page, DEFAULT_PER_PAGE)
        if req.workflow_version_ids:  # labeldesk runs no workflows: nothing was made by one
            return []
        return repo.page(conn, ctx.require_app().pk, self._filter(ctx, req), page.offset, page.per_page)

    def _filter(self, ctx: RequestContext, req: service_pb2.ListAnnotationsRequest) -> repo.Filter:
        ids, input_ids = list(req.ids), list(req.input_ids)
        pairs: list[tuple[str, str]] = []
        if ids and input_ids:
            if len(ids) != len(input_ids):
                raise errors.invalid(
                    f"ids and input_ids: give one input id per annotation id (got {len(ids)} ids and "
                    f"{len(input_ids)} input_ids)",
                    "or give only input_ids to list all annotations of those inputs",
                )
            pairs, ids, input_ids = list(zip(input_ids, ids)), [], []
        return repo.Filter(
            ids=ids,
            input_ids=input_ids,
            pairs=pairs,
            user_ids=[_me(ctx, u) for u in req.user_ids],
            model_version_ids=list(req.model_version_ids),
            statuses=[s.code for s in req.statuses if s.code],
            task_id=req.task_id,
            user_created_only=not (req.list_all_annotations or req.ids or req.model_version_ids),
        )

    @rpc.write("PatchAnnotations")
    def patch_annotations(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchAnnotationsRequest
    ) -> service_pb2.MultiAnnotationResponse:
        app = ctx.require_app()
        action = rules.check_action(req.action or rules.MERGE)
        anns = list(req.annotations)
        _check_batch(anns, "change")
        paths = [f"annotations[{n}]" for n in range(len(anns))]
        require_unique("annotation", [a.id for a in anns], "annotations")
        rows = _require_rows(conn, app.pk, [(f"{p}.id", a.id, a.input_id) for p, a in zip(paths, anns)])
        for p, a in zip(paths, anns):
            _require_change_right(ctx, rows[a.id], p)
        names = (
            {}
            if action == rules.REMOVE
            else _concept_names(conn, app.pk, [(f"{p}.data", a.data) for p, a in zip(paths, anns)])
        )
        regions = _input_regions(conn, {rows[a.id].input_pk for a in anns if _refers_to_regions(a)})
        ts = utcnow()
        changes: list[dict[str, Any]] = []
        index: dict[int, list[tuple[str, float]]] = {}
        gone: list[int] = []
        out: list[dict[Any, Any]] = []
        for p, a in zip(paths, anns):
            row = rows[a.id]
            catalog = rules.Catalog(names, regions.get(row.input_pk, {}), check_id)
            change, data = self._patched(ctx, action, row, a, p, catalog)
            if req.delete_if_empty_data and action == rules.REMOVE and rules.is_empty(data):
                gone.append(row.pk)
                continue
            changes.append({**change, "pk": row.pk, "modified_at": ts})
            index[row.pk] = rules.concept_index(data)
            out.append({**row._mapping, **change, "modified_at": ts})
        repo.update_many(conn, app.pk, changes, index)
        repo.delete_pks(conn, gone)
        return _response(out)

    def _patched(
        self,
        ctx: RequestContext,
        action: str,
        row: Row[Any],
        a: Annotation,
        path: str,
        catalog: rules.Catalog,
    ) -> tuple[dict[str, Any], resources_pb2.Data]:
        """The changed columns of one annotation, and its new data."""
        if a.user_id and _me(ctx, a.user_id) != row.user_id:
            raise errors.invalid(
                f"{path}.user_id: an annotation's author cannot be changed (it is '{row.user_id}')",
                "create a new annotation for the other user instead",
            )
        stored = resources_pb2.Data.FromString(row.data)
        data = rules.apply(action, stored, a.data, f"{path}.data", catalog) if a.HasField("data") else stored
        given_info = _info(a)
        info = rules.patch_info(row.annotation_info, given_info, action)
        explicit_task = given_info is not None or bool(a.task_id)
        return {
            **stored_data(data),
            "status": _status(ctx, a.status, path) or row.status,
            "annotation_info": info,
            "task_id": rules.task_id_of(info, a.task_id, path) if explicit_task else row.task_id,
            "embed_model_version_id": a.embed_model_version_id or row.embed_model_version_id,
        }, data

    @rpc.write("DeleteAnnotation")
    def delete_annotation(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteAnnotationRequest
    ) -> status_pb2.BaseResponse:
        app = ctx.require_app()
        rows = _require_rows(conn, app.pk, [("annotation_id", req.annotation_id, req.input_id)])
        self._delete(conn, ctx, [("annotation_id", rows[req.annotation_id])])
        return status_pb2.BaseResponse()

    @rpc.write("DeleteAnnotations")
    def delete_annotations(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteAnnotationsRequest
    ) -> status_pb2.BaseResponse:
        app = ctx.require_app()
        ids, input_ids = list(req.ids), list(req.input_ids)
        if ids:
            if input_ids and len(input_ids) != len(ids):
                raise errors.invalid(
                    f"ids and input_ids: give one input id per annotation id (got {len(ids)} ids and "
                    f"{len(input_ids)} input_ids)",
                    "or give only input_ids to delete all annotations of those inputs",
                )
            require_unique("annotation", ids, "ids")
            refs = [(f"ids[{n}]", i, input_ids[n] if input_ids else "") for n, i in enumerate(ids)]
            rows = _require_rows(conn, app.pk, refs)
            self._delete(conn, ctx, [(w, rows[i]) for w, i, _ in refs])
        elif input_ids:
            inputs = _require_inputs(conn, app.pk, [(f"input_ids[{n}]", i) for n, i in enumerate(input_ids)])
            found = repo.on_inputs(conn, {r.pk for r in inputs.values()}, input_level=False)
            self._delete(conn, ctx, [(f"input_ids (input '{r.input_id}')", r) for r in found])
        else:
            raise errors.invalid(
                "give ids and input_ids of the annotations to delete, or input_ids alone to delete all "
                "annotations of those inputs"
            )
        return status_pb2.BaseResponse()

    def _delete(self, conn: Connection, ctx: RequestContext, targets: Sequence[tuple[str, Row[Any]]]) -> None:
        for where, row in targets:
            if row.input_level:
                raise errors.invalid(
                    f"{where}: annotation '{row.id}' is the input-level annotation of input "
                    f"'{row.input_id}'; it is deleted only with its input",
                    "delete the input, or use PatchAnnotations to change its concepts",
                )
            _require_change_right(ctx, row, where)
        repo.delete_pks(conn, [row.pk for _, row in targets])

    @rpc.read("ListAnnotationWorkers")
    def list_annotation_workers(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListAnnotationWorkersRequest
    ) -> service_pb2.MultiWorkerResponse:
        page = page_of(req.page, req.per_page, WORKERS_PER_PAGE)
        rows = repo.workers(conn, ctx.require_app().pk, req.trusted_only, page.offset, page.per_page)
        return service_pb2.MultiWorkerResponse(workers=[_worker(r) for r in rows])


def _worker(row: Row[Any]) -> resources_pb2.Worker:
    if row.model_version_id:
        return resources_pb2.Worker(
            model=resources_pb2.Model(model_version=resources_pb2.ModelVersion(id=row.model_version_id))
        )
    user = resources_pb2.User(id=row.user_id, first_name=row.first_name or "", last_name=row.last_name or "")
    return resources_pb2.Worker(user=user)
