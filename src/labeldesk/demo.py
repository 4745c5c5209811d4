"""The demo data set of ``labeldesk demo``, written through the same service methods as the API."""

from __future__ import annotations

import io
import random

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from PIL import Image, ImageDraw

from labeldesk.services import admin
from labeldesk.services.auth import Authenticator
from labeldesk.services.concepts import ConceptsService
from labeldesk.services.datasets import DatasetsService
from labeldesk.services.dispatch import Dispatcher
from labeldesk.services.hosting import Hosting
from labeldesk.services.inputs import InputsService
from labeldesk.services.models import ModelsService
from labeldesk.services.tasks import TasksService
from labeldesk.storage.engine import Database

DEMO_USER = "demo"
DEMO_APP = "demo"
FACE_MODEL = "face-detection"
#: pictures drawn with Pillow and posted as bytes, so the demo has images to look at offline
DEMO_PICTURES = (("scene-1", "shapes"), ("scene-2", "shapes"), ("scene-3", "shapes"), ("scene-4", "shapes"))


PICTURES = "pictures"  # the hosted demo pictures (the other inputs are URLs, not fetched)


def demo_picture(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG of a few coloured boxes and discs on a sky-and-grass background (deterministic)."""
    rnd = random.Random(seed)
    img = Image.new("RGB", size, (135, 190, 235))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.rectangle((0, h * 2 // 3, w, h), fill=(90, 160, 80))
    for _ in range(4):
        x, y = rnd.randrange(w - 120), rnd.randrange(h - 120)
        side = rnd.randrange(50, 120)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        if rnd.random() < 0.5:
            draw.rectangle((x, y, x + side, y + side), fill=colour, outline=(0, 0, 0), width=3)
        else:
            draw.ellipse((x, y, x + side, y + side), fill=colour, outline=(0, 0, 0), width=3)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=88)
    return out.getvalue()


def _picture_inputs() -> list[resources_pb2.Input]:
    return [
        resources_pb2.Input(
            id=iid,
            data=resources_pb2.Data(
                image=resources_pb2.Image(base64=demo_picture(n)), metadata=admin.demo_metadata(group=group)
            ),
        )
        for n, (iid, group) in enumerate(DEMO_PICTURES)
    ]


def _register_face_model(d: Dispatcher, uai: resources_pb2.UserAppIDSet, auth: str) -> None:
    """The built-in face detector as model ``face-detection`` (docs/models.md), once."""
    got = d.call("GetModel", service_pb2.GetModelRequest(user_app_id=uai, model_id=FACE_MODEL), auth)
    if got.status.code == 10000:  # type: ignore[attr-defined]
        return
    model = resources_pb2.Model(id=FACE_MODEL, name="Face detection (built-in, OpenCV Haar cascade)")
    model.metadata.update({"labeldesk": {"backend": "builtin", "model_name": "face-detection"}})
    model.output_info.data.concepts.add(id="face", name="face")
    res = d.call("PostModels", service_pb2.PostModelsRequest(user_app_id=uai, models=[model]), auth)
    if res.status.code != 10000:  # type: ignore[attr-defined]
        raise RuntimeError(f"the demo face model could not be created: {res.status.description}")  # type: ignore[attr-defined]


def seed_demo(db: Database, hosting: Hosting) -> str:
    """Create (once) user demo, app demo, a few concepts, a dataset and inputs; answer an app key.

    An app key (rather than a PAT) is what the Clarifai docs' curl examples assume: it works on
    the short routes (``/v2/inputs``) without naming the user and app.
    """
    token = admin.ensure_user(db, DEMO_USER, "demo@example.com")
    admin.ensure_app(db, DEMO_USER, DEMO_APP)
    app_key = admin.create_app_key(db, DEMO_USER, DEMO_APP)
    d = Dispatcher(
        db,
        [ConceptsService(), InputsService(hosting), DatasetsService(), TasksService(), ModelsService()],
        Authenticator(),
    )
    auth = f"Key {token}"
    uai = resources_pb2.UserAppIDSet(user_id=DEMO_USER, app_id=DEMO_APP)
    _register_face_model(d, uai, auth)
    existing = d.call("ListInputs", service_pb2.ListInputsRequest(user_app_id=uai), auth)
    if existing.inputs:  # type: ignore[attr-defined]
        return app_key
    d.call(
        "PostConcepts",
        service_pb2.PostConceptsRequest(
            user_app_id=uai, concepts=[resources_pb2.Concept(id=c, name=c) for c in admin.DEMO_CONCEPTS]
        ),
        auth,
    )
    d.call(
        "PostDatasets",
        service_pb2.PostDatasetsRequest(user_app_id=uai, datasets=[resources_pb2.Dataset(id="samples")]),
        auth,
    )
    d.call(
        "PostDatasets",
        service_pb2.PostDatasetsRequest(user_app_id=uai, datasets=[resources_pb2.Dataset(id=PICTURES)]),
        auth,
    )
    pictures = _picture_inputs()
    for i in pictures:
        i.dataset_ids.append(PICTURES)
    inputs = admin.demo_inputs() + pictures
    for i in inputs:
        i.dataset_ids.append("samples")
    for rpc, request in (
        ("PostInputs", service_pb2.PostInputsRequest(user_app_id=uai, inputs=inputs)),
        ("PostTasks", service_pb2.PostTasksRequest(user_app_id=uai, tasks=[_demo_task()])),
    ):
        res = d.call(rpc, request, auth)
        if res.status.code != 10000:  # type: ignore[attr-defined]
            raise RuntimeError(f"demo data could not be created: {res.status.description}")  # type: ignore[attr-defined]
    return app_key


def _demo_task() -> resources_pb2.Task:
    """A detection task over the hosted pictures, worked by the demo user: the browser workbench
    has work the moment the demo starts (the pictures are hosted, so it works offline)."""
    return resources_pb2.Task(
        id="label-pictures",
        type=resources_pb2.Task.TaskType.Value("BOUNDING_BOX_DETECTION"),
        name="Box the shapes in the demo pictures",
        description="Draw a box around each shape and give it a concept.",
        worker=resources_pb2.TaskWorker(
            strategy=resources_pb2.TaskWorker.TaskWorkerStrategy.Value("FULL"),
            workers=[resources_pb2.Worker(user=resources_pb2.User(id=DEMO_USER))],
        ),
        concepts=[
            resources_pb2.TaskConcept(concept=resources_pb2.Concept(id=c)) for c in admin.DEMO_CONCEPTS
        ],
        input_source=resources_pb2.TaskInputSource(
            type=resources_pb2.TaskInputSource.TaskInputSourceType.Value("DATASET"), id=PICTURES
        ),
        review=resources_pb2.TaskReview(strategy=resources_pb2.TaskReview.TaskReviewStrategy.Value("NONE")),
    )
