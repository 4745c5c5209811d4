"""Smaller RPCs the clarifai SDK calls: PatchApp / PatchApps as the official client sends them,
GetUser, ListWorkflows, concept relations, PostDatasetInputs with a search, and user-level
ListDatasets (``GET /v2/users/{user_id}/datasets`` with a PAT and no app)."""

from __future__ import annotations

from typing import Any

import requests
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from tests.helpers import IMG, AppFixture, fails, ok


def me(app: AppFixture) -> r.UserAppIDSet:
    return r.UserAppIDSet(user_id=app.user_id)


def test_patch_apps_names_apps_in_the_body_and_patch_app_the_singular(stub: Any, app: AppFixture) -> None:
    req = s.PatchAppsRequest(
        user_app_id=me(app), apps=[r.App(id=app.app_id, description="plural")], action="overwrite"
    )
    assert ok(stub.PatchApps(req, metadata=app.meta)).apps[0].description == "plural"
    single = s.PatchAppRequest(
        user_app_id=app.uai, app=r.App(id=app.app_id, name="Singular"), action="overwrite"
    )
    patched = ok(stub.PatchApp(single, metadata=app.meta)).app
    assert (patched.name, patched.description) == ("Singular", "plural")
    missing = s.PatchAppsRequest(user_app_id=me(app), apps=[r.App(id="nope", name="x")])
    fails(stub.PatchApps(missing, metadata=app.meta), sc.CONN_DOES_NOT_EXIST, "nope")
    _, worker_meta = app.new_user("collab")
    denied = s.PatchAppsRequest(
        user_app_id=r.UserAppIDSet(user_id=app.user_id), apps=[r.App(id=app.app_id, name="y")]
    )
    assert stub.PatchApps(denied, metadata=worker_meta).status.code != sc.SUCCESS


def test_get_user_and_empty_workflows(stub: Any, app: AppFixture) -> None:
    user = ok(stub.GetUser(s.GetUserRequest(user_app_id=me(app)), metadata=app.meta)).user
    assert (user.id, user.primary_email) == (app.user_id, f"{app.user_id}@example.com")
    other = s.GetUserRequest(user_app_id=r.UserAppIDSet(user_id="someone-else"))
    fails(stub.GetUser(other, metadata=app.meta), sc.CONN_DOES_NOT_EXIST, "someone-else")
    flows = ok(stub.ListWorkflows(s.ListWorkflowsRequest(user_app_id=app.uai), metadata=app.meta))
    assert list(flows.workflows) == []


def test_concept_relations_post_list_delete(stub: Any, app: AppFixture) -> None:
    concepts = [r.Concept(id=c) for c in ("cat", "animal", "kitty")]
    ok(stub.PostConcepts(s.PostConceptsRequest(user_app_id=app.uai, concepts=concepts), metadata=app.meta))
    made = ok(
        stub.PostConceptRelations(
            s.PostConceptRelationsRequest(
                user_app_id=app.uai,
                concept_id="cat",
                concept_relations=[
                    r.ConceptRelation(object_concept=r.Concept(id="animal"), predicate="hypernym"),
                    r.ConceptRelation(object_concept=r.Concept(id="kitty"), predicate="synonym"),
                ],
            ),
            metadata=app.meta,
        )
    ).concept_relations
    assert [(m.subject_concept.id, m.object_concept.id, m.predicate) for m in made] == [
        ("cat", "animal", "hypernym"),
        ("cat", "kitty", "synonym"),
    ]

    def listed(concept_id: str, predicate: str = "") -> list[tuple[str, str, str]]:
        req = s.ListConceptRelationsRequest(user_app_id=app.uai, concept_id=concept_id, predicate=predicate)
        rels = ok(stub.ListConceptRelations(req, metadata=app.meta)).concept_relations
        return [(x.subject_concept.id, x.object_concept.id, x.predicate) for x in rels]

    assert listed("animal") == [("animal", "cat", "hyponym")]
    assert listed("cat", "synonym") == [("cat", "kitty", "synonym")]
    bad = s.PostConceptRelationsRequest(
        user_app_id=app.uai,
        concept_id="cat",
        concept_relations=[r.ConceptRelation(object_concept=r.Concept(id="animal"), predicate="likes")],
    )
    fails(
        stub.PostConceptRelations(bad, metadata=app.meta),
        sc.CONN_INVALID_REQUEST,
        "concept_relations[0].predicate",
    )
    delete = s.DeleteConceptRelationsRequest(user_app_id=app.uai, concept_id="cat", ids=[made[0].id])
    ok(stub.DeleteConceptRelations(delete, metadata=app.meta))
    assert listed("cat") == [("cat", "kitty", "synonym")]


def test_post_dataset_inputs_with_a_search_merges_a_dataset(stub: Any, app: AppFixture) -> None:
    datasets = [r.Dataset(id="a"), r.Dataset(id="b")]
    ok(stub.PostDatasets(s.PostDatasetsRequest(user_app_id=app.uai, datasets=datasets), metadata=app.meta))
    inputs = [
        r.Input(id=f"i{n}", dataset_ids=["a" if n < 3 else "b"], data=r.Data(image=r.Image(url=f"{IMG}?{n}")))
        for n in range(5)
    ]
    ok(stub.PostInputs(s.PostInputsRequest(user_app_id=app.uai, inputs=inputs), metadata=app.meta))
    merge = r.Search(query=r.Query(filters=[r.Filter(input=r.Input(dataset_ids=["a"]))]))
    ok(
        stub.PostDatasetInputs(
            s.PostDatasetInputsRequest(user_app_id=app.uai, dataset_id="b", search=merge), metadata=app.meta
        )
    )
    members = ok(
        stub.ListDatasetInputs(
            s.ListDatasetInputsRequest(user_app_id=app.uai, dataset_id="b"), metadata=app.meta
        )
    )
    assert sorted(d.input.id for d in members.dataset_inputs) == [f"i{n}" for n in range(5)]


def test_user_level_dataset_listing_takes_a_pat_without_an_app(stub: Any, app: AppFixture) -> None:
    ok(
        stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=app.uai, datasets=[r.Dataset(id="mine")]), metadata=app.meta
        )
    )
    listed = ok(stub.ListDatasets(s.ListDatasetsRequest(user_app_id=me(app)), metadata=app.meta)).datasets
    assert [(d.id, d.app_id, d.user_id) for d in listed] == [("mine", app.app_id, app.user_id)]
    url = f"{app.server.base_url}/v2/users/{app.user_id}/datasets"
    body = requests.get(url, headers={"Authorization": f"Key {app.pat}"}, timeout=10).json()
    assert body["status"]["code"] == sc.SUCCESS and [d["id"] for d in body["datasets"]] == ["mine"]
    stranger = requests.get(
        f"{app.server.base_url}/v2/users/someone-else/datasets",
        headers={"Authorization": f"Key {app.pat}"},
        timeout=10,
    )
    assert stranger.json()["status"]["code"] == sc.CONN_DOES_NOT_EXIST
