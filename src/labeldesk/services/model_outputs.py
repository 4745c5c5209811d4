"""PostModelOutputs: run a model on inputs given by id or inline (url or base64) and answer one
Clarifai ``Output`` per input. The backend is called with the inputs the app has; an input the
backend could not handle gets its own failure status (MIXED_STATUS overall, FAILURE when none
succeeded), so one bad image never hides the others' predictions."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Given:
    """One input of a PostModelOutputs call: the client's id (may be empty) and its inline image
    (bytes or base64), or its inline ``data`` with an http(s) URL to read, or neither: a stored
    input, read by id."""

    id: str
    image: Image | None = None
    data: resources_pb2.Data | None = None


class ModelOutputsService:
    def __init__(self, hosting: Hosting | None = None) -> None:
        self.hosting = hosting
        self.models = run.ModelCache()

    @rpc.read("PostModelOutputs")
    def post_model_outputs(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostModelOutputsRequest
    ) -> service_pb2.MultiOutputResponse:
        given = []
        for n, i in enumerate(req.inputs):
            raw = i.data.image.base64  # (a copy of the bytes: taken once)
            if raw:
                given.append(Given(i.id, Image(raw, run.public_url(i.data))))
            elif i.data.image.url:
                given.append(Given(i.id, data=i.data))
            elif i.id:
                given.append(Given(i.id))
            else:
                raise errors.invalid(f"inputs[{n}]: give an input id or data.image.url / data.image.base64")
        return self.predict(conn, ctx, req.model_id, req.version_id, given)

    def predict(
        self,
        conn: Connection,
        ctx: RequestContext,
        model_id: str,
        version_id: str,
        given: list[Given],
        model_apart: list[resources_pb2.Model] | None = None,
    ) -> service_pb2.MultiOutputResponse:
        """PostModelOutputs over inputs already told apart (the REST transport reads inline
        base64 itself and hands it through, :mod:`labeldesk.transport.rest.model_outputs`).

        Every ``Output`` names the model; with ``model_apart`` the outputs are left without it and
        the (cached, shared: not to be changed) ``Model`` is appended there instead, for a caller
        that renders it once per model rather than once per output."""
        app = ctx.require_app()

        def load() -> tuple[run.ModelRef, resources_pb2.Model]:
            row = require_model(conn, app.pk, model_id)
            return run.model_ref(row), model_proto(row, ctx)

        cached = self.models.get(conn, app.pk, model_id, load) if model_id else None
        model, proto = cached or load()  # load() answers why there is none
        require_version(model, version_id)
        if not given:
            raise errors.invalid("inputs: give the inputs to predict on, by id or with data.image")
        if len(given) > MAX_INPUTS:
            raise errors.invalid(f"inputs: at most {MAX_INPUTS} inputs per call, got {len(given)}")
        ids = [g.id for g in given if g.image is None and g.data is None]
        stored = inputs_repo.by_ids(conn, app.pk, ids) if ids else {}
        images: list[Image | BackendError] = []
        for g in given:
            if g.image is not None:
                images.append(g.image)
                continue
            if g.data is None and g.id not in stored:
                raise errors.not_found("input", g.id)
            data = g.data or resources_pb2.Data.FromString(stored[g.id].data)
            try:  # inline data is read from an http(s) URL only, never the server's disk
                blob = run.image_bytes(data, app.pk, self.hosting, model.binding.timeout_s, g.data is None)
                images.append(Image(blob, run.public_url(data)))
            except BackendError as e:
                images.append(e)
        results = run.predict(model, images, conn)
        if model_apart is not None:
            model_apart.append(proto)
        outputs = []
        failed = 0
        for g, res in zip(given, results):
            out = resources_pb2.Output(id=new_id(), model=None if model_apart is not None else proto)
            out.input.id = g.id or new_id()
            if isinstance(res, BackendError):
                failed += 1
                out.status.code, out.status.description = run.failure_status(res, model.id)
            else:
                out.status.code, out.status.description = errors.SUCCESS, "Ok"
                run.fill_output_data(out.data, res, app.id)
            outputs.append(out)
        resp = service_pb2.MultiOutputResponse(outputs=outputs)
        if failed:
            resp.status.code = errors.FAILURE if failed == len(outputs) else errors.MIXED_STATUS
            resp.status.description = "Failure" if failed == len(outputs) else "Mixed Success"
            resp.status.details = next(
                o.status.description for o in outputs if o.status.code != errors.SUCCESS
            )
        return resp
