"""PostModelOutputs: run a model on inputs given by id or inline (url or base64) and answer one
Clarifai ``Output`` per input. The backend is called with the inputs the app has; an input the
backend could not handle gets its own failure status (MIXED_STATUS overall, FAILURE when none
succeeded), so one bad image never hides the others' predictions."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from sqlalchemy import Connection

from labeldesk.domain import errors
from labeldesk.models.base import BackendError, Image
from labeldesk.services import model_run as run
from labeldesk.services import registry as rpc
from labeldesk.services.common import new_id
from labeldesk.services.context import RequestContext
from labeldesk.services.hosting import Hosting
from labeldesk.services.models import model_proto, require_model, require_version
from labeldesk.storage.repos import inputs as inputs_repo

MAX_INPUTS = 128


class ModelOutputsService:
    def __init__(self, hosting: Hosting | None = None) -> None:
        self.hosting = hosting
        self.models = run.ModelCache()

    @rpc.read("PostModelOutputs")
    def post_model_outputs(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostModelOutputsRequest
    ) -> service_pb2.MultiOutputResponse:
        app = ctx.require_app()

        def load() -> tuple[run.ModelRef, resources_pb2.Model]:
            row = require_model(conn, app.pk, req.model_id)
            return run.model_ref(row), model_proto(row, ctx)

        cached = self.models.get(conn, app.pk, req.model_id, load) if req.model_id else None
        model, proto = cached or load()  # load() answers why there is none
        require_version(model, req.version_id)
        if not req.inputs:
            raise errors.invalid("inputs: give the inputs to predict on, by id or with data.image")
        if len(req.inputs) > MAX_INPUTS:
            raise errors.invalid(f"inputs: at most {MAX_INPUTS} inputs per call, got {len(req.inputs)}")
        ids = [i.id for i in req.inputs if i.id and not _inline(i)]
        stored = inputs_repo.by_ids(conn, app.pk, ids) if ids else {}
        given: list[resources_pb2.Input] = []
        images: list[Image | BackendError] = []
        for n, i in enumerate(req.inputs):
            if _inline(i):
                data = i.data
            elif i.id in stored:
                data = resources_pb2.Data.FromString(stored[i.id].data)
            elif i.id:
                raise errors.not_found("input", i.id)
            else:
                raise errors.invalid(f"inputs[{n}]: give an input id or data.image.url / data.image.base64")
            given.append(resources_pb2.Input(id=i.id or new_id()))
            try:
                blob = run.image_bytes(data, app.pk, self.hosting, model.binding.timeout_s, not _inline(i))
                images.append(Image(blob, run.public_url(data)))
            except BackendError as e:
                images.append(e)
        results = run.predict(model, images, conn)
        outputs = []
        failed = 0
        for inp, res in zip(given, results):
            out = resources_pb2.Output(id=new_id(), input=inp, model=proto)
            if isinstance(res, BackendError):
                failed += 1
                out.status.code, out.status.description = run.failure_status(res, model.id)
            else:
                out.status.code, out.status.description = errors.SUCCESS, "Ok"
                out.data.CopyFrom(run.output_data(res, app.id))
            outputs.append(out)
        resp = service_pb2.MultiOutputResponse(outputs=outputs)
        if failed:
            resp.status.code = errors.FAILURE if failed == len(outputs) else errors.MIXED_STATUS
            resp.status.description = "Failure" if failed == len(outputs) else "Mixed Success"
            resp.status.details = next(
                o.status.description for o in outputs if o.status.code != errors.SUCCESS
            )
        return resp


def _inline(i: resources_pb2.Input) -> bool:
    return bool(i.data.image.url or i.data.image.base64)
