"""The demo data set of ``labeldesk demo``, written through the same service methods as the API."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from labeldesk.services import admin
from labeldesk.services.auth import Authenticator
from labeldesk.services.concepts import ConceptsService
from labeldesk.services.datasets import DatasetsService
from labeldesk.services.dispatch import Dispatcher
from labeldesk.services.inputs import InputsService
from labeldesk.storage.engine import Database

DEMO_USER = "demo"
DEMO_APP = "demo"


def seed_demo(db: Database) -> str:
    """Create (once) user demo, app demo, a few concepts, a dataset and inputs; answer an app key.

    An app key (rather than a PAT) is what the Clarifai docs' curl examples assume: it works on
    the short routes (``/v2/inputs``) without naming the user and app.
    """
    token = admin.ensure_user(db, DEMO_USER, "demo@example.com")
    admin.ensure_app(db, DEMO_USER, DEMO_APP)
    app_key = admin.create_app_key(db, DEMO_USER, DEMO_APP)
    d = Dispatcher(db, [ConceptsService(), InputsService(), DatasetsService()], Authenticator())
    auth = f"Key {token}"
    uai = resources_pb2.UserAppIDSet(user_id=DEMO_USER, app_id=DEMO_APP)
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
    inputs = admin.demo_inputs()
    for i in inputs:
        i.dataset_ids.append("samples")
    res = d.call("PostInputs", service_pb2.PostInputsRequest(user_app_id=uai, inputs=inputs), auth)
    if res.status.code != 10000:  # type: ignore[attr-defined]
        raise RuntimeError(f"demo data could not be created: {res.status.description}")  # type: ignore[attr-defined]
    return app_key
