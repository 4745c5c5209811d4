"""The data a browser test (and a developer) needs: an owner with an app, concepts, three images
uploaded as bytes, two labelers and a reviewer (collaborators with their own PATs), and a FULL task
with MANUAL review of every input. Built through the public API with the official client."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import struct_pb2
from PIL import Image, ImageDraw

from labeldesk.app import RunningServer
from labeldesk.services import admin

CONCEPTS = ("cat", "dog", "bird")
COLOURS = ((64, 110, 160), (150, 90, 60), (70, 130, 80))


def image_bytes(i: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """A PNG with a few shapes on it, different per ``i`` (no internet needed)."""
    img = Image.new("RGB", size, COLOURS[i % len(COLOURS)])
    d = ImageDraw.Draw(img)
    w, h = size
    d.ellipse((w * 0.2, h * 0.25, w * 0.55, h * 0.75), fill=(230, 200, 120))
    d.rectangle((w * 0.6, h * 0.15, w * 0.9, h * 0.5), fill=(200, 80, 80))
    d.polygon([(w * 0.6, h * 0.9), (w * 0.75, h * 0.6), (w * 0.9, h * 0.9)], fill=(240, 240, 240))
    for k in range(0, w, 40):
        d.line((k, 0, k, h), fill=tuple(min(255, c + 20) for c in COLOURS[i % len(COLOURS)]))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def ok(resp: Any) -> Any:
    assert resp.status.code == sc.SUCCESS, resp.status
    return resp


@dataclass
class Scenario:
    server: RunningServer
    stub: Any
    owner: str
    app_id: str
    owner_pat: str
    labelers: dict[str, str] = field(default_factory=dict)  # user id -> PAT
    reviewer: tuple[str, str] = ("", "")
    task_id: str = "boxes"
    input_ids: list[str] = field(default_factory=list)

    @property
    def uai(self) -> r.UserAppIDSet:
        return r.UserAppIDSet(user_id=self.owner, app_id=self.app_id)

    def meta(self, pat: str | None = None) -> tuple[tuple[str, str]]:
        return (("authorization", f"Key {pat or self.owner_pat}"),)


def build_scenario(
    server: RunningServer, stub: Any, suffix: str, image_urls: list[str] | None = None, n_images: int = 3
) -> Scenario:
    """Everything up to the labelers' first sign-in. ``image_urls`` replaces the uploaded bytes
    (for a server without hosted files)."""
    db = server.app.db
    owner, app_id = f"owner-{suffix}", f"birds-{suffix}"
    pat = admin.create_user(db, owner, f"{owner}@example.com")
    admin.create_app(db, owner, app_id)
    sn = Scenario(server, stub, owner, app_id, pat)
    for name in ("ana", "ben"):
        uid = f"{name}-{suffix}"
        sn.labelers[uid] = admin.create_user(db, uid, f"{uid}@example.com")
        admin.add_collaborator(db, owner, app_id, uid)
    rid = f"rita-{suffix}"
    sn.reviewer = (rid, admin.create_user(db, rid, f"{rid}@example.com"))
    admin.add_collaborator(db, owner, app_id, rid)
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(
                user_app_id=sn.uai, concepts=[r.Concept(id=c, name=c.title()) for c in CONCEPTS]
            ),
            metadata=sn.meta(),
        )
    )
    inputs = []
    for i in range(n_images):
        iid = f"photo-{i + 1}"
        sn.input_ids.append(iid)
        image = r.Image(url=image_urls[i]) if image_urls else r.Image(base64=image_bytes(i))
        meta = struct_pb2.Struct()
        meta.update({"camera": f"north-{i + 1}"})
        inputs.append(r.Input(id=iid, data=r.Data(image=image, metadata=meta)))
    if inputs:
        ok(stub.PostInputs(s.PostInputsRequest(user_app_id=sn.uai, inputs=inputs), metadata=sn.meta()))
    task = r.Task(
        id=sn.task_id,
        type=r.Task.TaskType.Value("BOUNDING_BOX_DETECTION"),
        name="Animals on the north cameras",
        description="Box and outline every animal; tick what you see.",
        worker=r.TaskWorker(
            strategy=r.TaskWorker.TaskWorkerStrategy.Value("FULL"), user_ids=list(sn.labelers)
        ),
        concept_ids=list(CONCEPTS),
        input_source=r.TaskInputSource(type=r.TaskInputSource.TaskInputSourceType.Value("ALL_INPUTS")),
        review=r.TaskReview(
            strategy=r.TaskReview.TaskReviewStrategy.Value("MANUAL"),
            manual_strategy_info=r.TaskReviewManualStrategyInfo(sample_percentage=1),
            user_ids=[rid],
        ),
    )
    ok(stub.PostTasks(s.PostTasksRequest(user_app_id=sn.uai, tasks=[task]), metadata=sn.meta()))
    return sn


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
