"""Models: PostModels, GetModel, ListModels, PatchModels, DeleteModel(s), GetModelVersion,
ListModelVersions, ListModelConcepts. A model is bound to an inference backend through
``metadata["labeldesk"]`` (:mod:`labeldesk.domain.model_binding`); its token is stored, never answered."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.domain import model_binding as mb
from labeldesk.services import registry as rpc
from labeldesk.services.common import (
    check_id,
    dict_to_struct,
    new_id,
    page_of,
    require_one,
    struct_to_dict,
    timestamp,
)
from labeldesk.services.concepts import concept_proto, ensure_concepts
from labeldesk.services.context import RequestContext
from labeldesk.services.model_run import models_changed
from labeldesk.storage.repos import concepts as concepts_repo
from labeldesk.storage.repos import models as repo

VERSION_TRAINED = 21100  # MODEL_TRAINED: a bound model is ready to predict


def version_proto(row: Row[Any], ctx: RequestContext) -> resources_pb2.ModelVersion:
    app = ctx.require_app()
    v = resources_pb2.ModelVersion(
        id=row.version_id,
        app_id=app.id,
        user_id=app.owner_id,
        created_at=timestamp(row.modified_at),
        modified_at=timestamp(row.modified_at),
        active_concept_count=len(row.concepts),
    )
    v.status.code = VERSION_TRAINED
    v.status.description = "Model is trained and ready"
    for cid in row.concepts:
        v.output_info.data.concepts.add(id=cid, name=cid)
    return v


def model_proto(row: Row[Any], ctx: RequestContext) -> resources_pb2.Model:
    app = ctx.require_app()
    m = resources_pb2.Model(
        id=row.id,
        name=row.name or row.id,
        app_id=app.id,
        user_id=app.owner_id,
        model_type_id=row.model_type_id,
        description=row.description,
        created_at=timestamp(row.created_at),
        modified_at=timestamp(row.modified_at),
    )
    dict_to_struct(mb.redacted(row.metadata), m.metadata)
    m.model_version.CopyFrom(version_proto(row, ctx))
    m.output_info.CopyFrom(m.model_version.output_info)
    return m


def require_model(conn: Connection, app_pk: int, model_id: str) -> Row[Any]:
    if not model_id:
        raise errors.invalid("model_id: name the model")
    return require_one(repo.by_ids(conn, app_pk, [model_id]), "model", model_id)


def require_version(row: Any, version_id: str) -> None:
    """``row``: a model row, or anything with its ``id`` and ``version_id`` (model_run.ModelRef)."""
    if version_id and version_id != row.version_id:
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"model {row.id!r} has no version {version_id!r}",
            f"its version is {row.version_id!r} (one version per backend binding)",
        )


def _concept_ids(conn: Connection, app_pk: int, m: resources_pb2.Model, where: str) -> list[str] | None:
    """The concepts a model outputs as given (None when not given); made on the fly if absent."""
    given = list(m.output_info.data.concepts) or list(m.model_version.output_info.data.concepts)
    if not given:
        return None
    named = [(f"{where}.output_info.data.concepts[{i}]", c.id, c.name) for i, c in enumerate(given)]
    ensure_concepts(conn, app_pk, named)
    return list(dict.fromkeys(c.id for c in given))


class ModelsService:
    @rpc.write("PostModels")
    def post_models(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostModelsRequest
    ) -> service_pb2.SingleModelResponse:
        app = ctx.require_app()
        models = list(req.models) or ([req.model] if req.HasField("model") else [])
        if len(models) != 1:
            raise errors.invalid(
                "models: give exactly one model to create", 'e.g. {"models": [{"id": "faces"}]}'
            )
        m = models[0]
        mid = check_id("model", m.id, "models[0].id") if m.id else new_id()
        if repo.by_ids(conn, app.pk, [mid]):
            raise errors.ApiError(errors.INVALID_REQUEST, f"models[0].id: model {mid!r} already exists")
        metadata = struct_to_dict(m.metadata)
        binding = mb.parse(metadata, "models[0].metadata")
        repo.insert_one(
            conn,
            app.pk,
            {
                "id": mid,
                "name": m.name or mid,
                "description": m.description,
                "model_type_id": m.model_type_id or _default_type(binding),
                "metadata": metadata,
                "concepts": _concept_ids(conn, app.pk, m, "models[0]") or [],
                "version_id": mb.version_id(binding),
            },
        )
        return service_pb2.SingleModelResponse(model=model_proto(require_model(conn, app.pk, mid), ctx))

    @rpc.read("GetModel")
    def get_model(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetModelRequest
    ) -> service_pb2.SingleModelResponse:
        row = require_model(conn, ctx.require_app().pk, req.model_id)
        require_version(row, req.version_id)
        return service_pb2.SingleModelResponse(model=model_proto(row, ctx))

    @rpc.read("ListModels")
    def list_models(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListModelsRequest
    ) -> service_pb2.MultiModelResponse:
        page = page_of(req.page, req.per_page)
        rows = repo.page(conn, ctx.require_app().pk, page.offset, page.per_page)
        return service_pb2.MultiModelResponse(models=[model_proto(r, ctx) for r in rows])

    @rpc.write("PatchModels")
    def patch_models(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchModelsRequest
    ) -> service_pb2.MultiModelResponse:
        app = ctx.require_app()
        if not req.models:
            raise errors.invalid("models: give the models to change, each with its id")
        ids = [m.id for m in req.models]
        for i, m in enumerate(req.models):
            row = require_model(conn, app.pk, m.id)
            values: dict[str, Any] = {}
            for f in ("name", "description", "model_type_id"):
                if getattr(m, f):
                    values[f] = getattr(m, f)
            if m.metadata.fields:
                metadata = mb.merge(row.metadata, struct_to_dict(m.metadata))
                values["metadata"] = metadata
                values["version_id"] = mb.version_id(mb.parse(metadata, f"models[{i}].metadata"))
            concepts = _concept_ids(conn, app.pk, m, f"models[{i}]")
            if concepts is not None:
                values["concepts"] = concepts
            repo.update_one(conn, row.pk, **values)
        models_changed()
        fresh = repo.by_ids(conn, app.pk, ids)
        return service_pb2.MultiModelResponse(models=[model_proto(fresh[i], ctx) for i in dict.fromkeys(ids)])

    @rpc.write("DeleteModel")
    def delete_model(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteModelRequest
    ) -> status_pb2.BaseResponse:
        repo.delete_pks(conn, [require_model(conn, ctx.require_app().pk, req.model_id).pk])
        models_changed()
        return status_pb2.BaseResponse()

    @rpc.write("DeleteModels")
    def delete_models(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteModelsRequest
    ) -> status_pb2.BaseResponse:
        app = ctx.require_app()
        if not req.ids:
            raise errors.invalid("ids: give the ids of the models to delete")
        repo.delete_pks(conn, [require_model(conn, app.pk, i).pk for i in req.ids])
        models_changed()
        return status_pb2.BaseResponse()

    @rpc.read("GetModelVersion")
    def get_model_version(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetModelVersionRequest
    ) -> service_pb2.SingleModelVersionResponse:
        row = require_model(conn, ctx.require_app().pk, req.model_id)
        require_version(row, req.version_id)
        return service_pb2.SingleModelVersionResponse(model_version=version_proto(row, ctx))

    @rpc.read("ListModelVersions")
    def list_model_versions(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListModelVersionsRequest
    ) -> service_pb2.MultiModelVersionResponse:
        row = require_model(conn, ctx.require_app().pk, req.model_id)
        page = page_of(req.page, req.per_page)
        versions = [version_proto(row, ctx)][page.offset : page.offset + page.per_page]
        return service_pb2.MultiModelVersionResponse(model_versions=versions)

    @rpc.read("ListModelConcepts")
    def list_model_concepts(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListModelConceptsRequest
    ) -> service_pb2.MultiConceptResponse:
        app = ctx.require_app()
        row = require_model(conn, app.pk, req.model_id)
        require_version(row, req.version_id)
        page = page_of(req.page, req.per_page)
        ids = row.concepts[page.offset : page.offset + page.per_page]
        found = concepts_repo.get_many(conn, app.pk, ids)
        return service_pb2.MultiConceptResponse(
            concepts=[
                concept_proto(found[c], ctx) if c in found else resources_pb2.Concept(id=c, name=c)
                for c in ids
            ]
        )


def _default_type(binding: mb.Binding | None) -> str:
    if binding is not None and binding.backend == "builtin":
        return "visual-detector"
    return "visual-classifier"
