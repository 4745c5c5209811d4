"""``GET /api/v2/clients/{clientId}/delayed_tasks?app_id=``: the admin console shows the delayed tasks
of the app it manages, so the client's overdue work can be narrowed to one of its apps."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s

from labeldesk.services import admin
from tests.api.test_staged import PAST, Staged, world  # noqa: F401  (the fixture)
from tests.helpers import IMG, ok, unique


def test_delayed_tasks_of_one_app(world: Staged, stub: Any) -> None:  # noqa: F811
    w = world
    w.add_inputs(stub, "img-1", "img-2")
    w.assign("Labelling", ("img-1", w.a.email), due_at=PAST)
    w.assign("Labelling", ("img-2", w.b.email), due_at="2999-01-01T00:00:00Z")

    # a second app of the same client with its own overdue task
    other = unique("other-app")
    admin.create_app(w.app.server.app.db, w.owner.user_id, other)
    uai = r.UserAppIDSet(user_id=w.owner.user_id, app_id=other)
    inp = r.Input(id="far-1", data=r.Data(image=r.Image(url=IMG)))
    ok(stub.PostInputs(s.PostInputsRequest(user_app_id=uai, inputs=[inp]), metadata=w.owner.meta))
    ok(
        stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=uai, datasets=[r.Dataset(id="far")]), metadata=w.owner.meta
        )
    )
    ok(
        stub.PostDatasetInputs(
            s.PostDatasetInputsRequest(
                user_app_id=uai, dataset_id="far", dataset_inputs=[r.DatasetInput(input=r.Input(id="far-1"))]
            ),
            metadata=w.owner.meta,
        )
    )
    body = {"assignments": [{"file_id": "far-1", "email": w.owner.email, "due_at": PAST}]}
    w.good("POST", "/datasets/far/file_tasks", json=body)

    path = f"/clients/{w.owner.user_id}/delayed_tasks"
    every = w.good("GET", path)["delayed_tasks"]
    assert sorted((t["app_id"], t["file_id"]) for t in every) == sorted(
        [(w.app.app_id, "img-1"), (other, "far-1")]
    )
    mine = w.good("GET", path, params={"app_id": w.app.app_id})
    assert [(t["app_id"], t["file_id"], t["assignee"]) for t in mine["delayed_tasks"]] == [
        (w.app.app_id, "img-1", w.a.email)
    ]
    assert mine["total"] == 1
    assert [t["file_id"] for t in w.good("GET", path, params={"app_id": other})["delayed_tasks"]] == ["far-1"]

    # an app the caller cannot see is refused, naming it; a collaborator of the first app sees only it
    err = w.error(404, "GET", path, params={"app_id": "no-such-app"})
    assert "no-such-app" in err["message"]
    err = w.error(404, "GET", path, w.a, params={"app_id": other})
    assert other in err["message"]
    assert [
        t["file_id"] for t in w.good("GET", path, w.a, params={"app_id": w.app.app_id})["delayed_tasks"]
    ] == ["img-1"]
