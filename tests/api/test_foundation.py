"""The foundation through the official client on both channels: apps, keys, auth, collaborators,
concepts, inputs, datasets, saved searches, and Clarifai errors for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import struct_pb2

from tests.helpers import IMG, PNG_1PX, AppFixture, ok, unique


def image_input(input_id: str = "", url: str = IMG, **meta: Any) -> r.Input:
    md = struct_pb2.Struct()
    md.update(meta)
    return r.Input(id=input_id, data=r.Data(image=r.Image(url=url), metadata=md))


def test_pat_creates_app_and_lists_it(stub: Any, app: AppFixture) -> None:
    new_app = unique("created")
    resp = ok(
        stub.PostApps(
            s.PostAppsRequest(
                user_app_id=r.UserAppIDSet(user_id="me"), apps=[r.App(id=new_app, description="made by test")]
            ),
            metadata=app.meta,
        )
    )
    assert resp.apps[0].id == new_app and resp.apps[0].user_id == app.user_id
    listed = ok(
        stub.ListApps(s.ListAppsRequest(user_app_id=r.UserAppIDSet(user_id=app.user_id)), metadata=app.meta)
    )
    assert {a.id for a in listed.apps} == {app.app_id, new_app}
    got = ok(
        stub.GetApp(
            s.GetAppRequest(user_app_id=r.UserAppIDSet(user_id="me", app_id=new_app)), metadata=app.meta
        )
    )
    assert got.app.description == "made by test"


def test_duplicate_app_id_is_refused(stub: Any, app: AppFixture) -> None:
    resp = stub.PostApps(
        s.PostAppsRequest(user_app_id=r.UserAppIDSet(user_id="me"), apps=[r.App(id=app.app_id)]),
        metadata=app.meta,
    )
    assert resp.status.code == sc.DATABASE_DUPLICATE_KEY
    assert app.app_id in resp.status.description


@pytest.mark.parametrize("token", ["", "not-a-key", "Key"])
def test_wrong_or_missing_key_is_11008(stub: Any, app: AppFixture, token: str) -> None:
    resp = stub.ListConcepts(
        s.ListConceptsRequest(user_app_id=app.uai), metadata=(("authorization", f"Key {token}x"),)
    )
    assert resp.status.code == sc.CONN_KEY_INVALID
    assert "Authorization" in resp.status.details


def test_app_key_works_without_user_app_id_and_is_bound_to_its_app(
    stub: Any, app: AppFixture, server: Any
) -> None:
    ok(stub.PostConcepts(s.PostConceptsRequest(concepts=[r.Concept(id="cat")]), metadata=app.key_meta))
    listed = ok(stub.ListConcepts(s.ListConceptsRequest(), metadata=app.key_meta))
    assert [c.id for c in listed.concepts] == ["cat"]
    other = unique("other")
    ok(
        stub.PostApps(
            s.PostAppsRequest(user_app_id=r.UserAppIDSet(user_id="me"), apps=[r.App(id=other)]),
            metadata=app.meta,
        )
    )
    resp = stub.ListConcepts(
        s.ListConceptsRequest(user_app_id=r.UserAppIDSet(user_id=app.user_id, app_id=other)),
        metadata=app.key_meta,
    )
    assert resp.status.code == sc.CONN_KEY_INVALID
    assert not resp.concepts


def test_pat_needs_user_app_id_for_app_calls(stub: Any, app: AppFixture) -> None:
    resp = stub.ListInputs(s.ListInputsRequest(), metadata=app.meta)
    assert resp.status.code == sc.CONN_INVALID_REQUEST
    assert "user_app_id" in resp.status.details


def test_other_users_cannot_see_an_app_until_added_as_collaborator(stub: Any, app: AppFixture) -> None:
    stranger, stranger_meta = app.new_user("stranger", collaborator=False)
    resp = stub.ListInputs(s.ListInputsRequest(user_app_id=app.uai), metadata=stranger_meta)
    assert resp.status.code == sc.CONN_DOES_NOT_EXIST
    ok(
        stub.PostCollaborators(
            s.PostCollaboratorsRequest(
                user_app_id=app.uai, collaborators=[r.Collaborator(user=r.User(id=stranger), scopes=["All"])]
            ),
            metadata=app.meta,
        )
    )
    ok(stub.ListInputs(s.ListInputsRequest(user_app_id=app.uai), metadata=stranger_meta))
    collabs = ok(stub.ListCollaborators(s.ListCollaboratorsRequest(user_app_id=app.uai), metadata=app.meta))
    assert [c.user.id for c in collabs.collaborators] == [stranger]
    assert collabs.app_owner.id == app.user_id
    # a collaborator cannot manage collaborators
    resp = stub.DeleteCollaborators(
        s.DeleteCollaboratorsRequest(user_app_id=app.uai, collaborator_ids=[stranger]), metadata=stranger_meta
    )
    assert resp.status.code == sc.CONN_INSUFFICIENT_SCOPES
    ok(
        stub.DeleteCollaborators(
            s.DeleteCollaboratorsRequest(user_app_id=app.uai, collaborator_ids=[stranger]), metadata=app.meta
        )
    )
    resp = stub.ListInputs(s.ListInputsRequest(user_app_id=app.uai), metadata=stranger_meta)
    assert resp.status.code == sc.CONN_DOES_NOT_EXIST


def test_collaborator_listing_apps_sees_shared_app(stub: Any, app: AppFixture) -> None:
    _, meta = app.new_user("collab")
    listed = ok(stub.ListApps(s.ListAppsRequest(user_app_id=r.UserAppIDSet(user_id="me")), metadata=meta))
    assert [(a.user_id, a.id) for a in listed.apps] == [(app.user_id, app.app_id)]


def test_post_keys_makes_an_app_key(stub: Any, app: AppFixture) -> None:
    resp = ok(
        stub.PostKeys(
            s.PostKeysRequest(
                user_app_id=r.UserAppIDSet(user_id="me"),
                keys=[
                    r.Key(
                        description="ci",
                        scopes=["Inputs:Get"],
                        apps=[r.App(id=app.app_id, user_id=app.user_id)],
                    )
                ],
            ),
            metadata=app.meta,
        )
    )
    key = resp.keys[0].id
    meta = (("authorization", f"Key {key}"),)
    ok(stub.ListInputs(s.ListInputsRequest(), metadata=meta))
    denied = stub.PostConcepts(s.PostConceptsRequest(concepts=[r.Concept(id="x")]), metadata=meta)
    assert denied.status.code == sc.CONN_INSUFFICIENT_SCOPES
    assert "Concepts:Add" in denied.status.description
    keys = ok(stub.ListKeys(s.ListKeysRequest(user_app_id=r.UserAppIDSet(user_id="me")), metadata=app.meta))
    assert key[:12] in {k.id for k in keys.keys} and key not in {k.id for k in keys.keys}


def test_concepts_create_get_list_patch(stub: Any, app: AppFixture) -> None:
    resp = ok(
        stub.PostConcepts(
            s.PostConceptsRequest(
                user_app_id=app.uai, concepts=[r.Concept(id="tree", name="Tree"), r.Concept(id="water")]
            ),
            metadata=app.meta,
        )
    )
    assert [(c.id, c.name) for c in resp.concepts] == [("tree", "Tree"), ("water", "water")]
    got = ok(stub.GetConcept(s.GetConceptRequest(user_app_id=app.uai, concept_id="tree"), metadata=app.meta))
    assert got.concept.name == "Tree"
    ok(
        stub.PatchConcepts(
            s.PatchConceptsRequest(
                user_app_id=app.uai, action="overwrite", concepts=[r.Concept(id="water", name="Water")]
            ),
            metadata=app.meta,
        )
    )
    listed = ok(
        stub.ListConcepts(s.ListConceptsRequest(user_app_id=app.uai, per_page=1, page=2), metadata=app.meta)
    )
    assert [(c.id, c.name) for c in listed.concepts] == [("water", "Water")]
    dup = stub.PostConcepts(
        s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="new"), r.Concept(id="tree")]),
        metadata=app.meta,
    )
    assert dup.status.code == sc.DATABASE_DUPLICATE_KEY and "tree" in dup.status.description
    missing = stub.GetConcept(s.GetConceptRequest(user_app_id=app.uai, concept_id="new"), metadata=app.meta)
    assert missing.status.code == sc.CONN_DOES_NOT_EXIST, "a failed batch must not half-write"


def test_inputs_post_list_paginate_get_patch_delete(stub: Any, app: AppFixture) -> None:
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="dog")]), metadata=app.meta
        )
    )
    posted = ok(
        stub.PostInputs(
            s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[image_input(f"in-{i}", group="a" if i % 2 else "b") for i in range(5)]
                + [
                    r.Input(
                        id="with-concept",
                        data=r.Data(image=r.Image(url=IMG), concepts=[r.Concept(id="dog", value=1)]),
                    ),
                    r.Input(id="bytes", data=r.Data(image=r.Image(base64=PNG_1PX))),
                ],
            ),
            metadata=app.meta,
        )
    )
    assert len(posted.inputs) == 7
    assert posted.inputs[0].status.code == sc.INPUT_DOWNLOAD_SUCCESS
    assert posted.inputs[0].data.image.url == IMG
    pages = [
        ok(stub.ListInputs(s.ListInputsRequest(user_app_id=app.uai, page=p, per_page=3), metadata=app.meta))
        for p in (1, 2, 3, 4)
    ]
    assert [[i.id for i in pg.inputs] for pg in pages] == [
        ["in-0", "in-1", "in-2"],
        ["in-3", "in-4", "with-concept"],
        ["bytes"],
        [],
    ]
    got = ok(
        stub.GetInput(s.GetInputRequest(user_app_id=app.uai, input_id="with-concept"), metadata=app.meta)
    )
    assert [(c.id, c.value) for c in got.input.data.concepts] == [("dog", 1.0)]
    got = ok(stub.GetInput(s.GetInputRequest(user_app_id=app.uai, input_id="in-1"), metadata=app.meta))
    assert dict(got.input.data.metadata) == {"group": "a"}
    patched = ok(
        stub.PatchInputs(
            s.PatchInputsRequest(
                user_app_id=app.uai, action="merge", inputs=[image_input("in-1", extra="x")]
            ),
            metadata=app.meta,
        )
    )
    assert dict(patched.inputs[0].data.metadata) == {"group": "a", "extra": "x"}
    ok(stub.DeleteInput(s.DeleteInputRequest(user_app_id=app.uai, input_id="in-0"), metadata=app.meta))
    ok(stub.DeleteInputs(s.DeleteInputsRequest(user_app_id=app.uai, ids=["in-2", "in-3"]), metadata=app.meta))
    left = ok(stub.ListInputs(s.ListInputsRequest(user_app_id=app.uai), metadata=app.meta))
    assert [i.id for i in left.inputs] == ["in-1", "in-4", "with-concept", "bytes"]
    gone = stub.GetInput(s.GetInputRequest(user_app_id=app.uai, input_id="in-0"), metadata=app.meta)
    assert gone.status.code == sc.CONN_DOES_NOT_EXIST and "in-0" in gone.status.description


def test_input_batch_errors_write_nothing(stub: Any, app: AppFixture) -> None:
    ok(
        stub.PostInputs(
            s.PostInputsRequest(user_app_id=app.uai, inputs=[image_input("taken")]), metadata=app.meta
        )
    )
    cases = [
        ([image_input("fresh-1"), image_input("fresh-1")], sc.CONN_INVALID_REQUEST, "more than once"),
        ([image_input("fresh-1"), r.Input(id="fresh-2")], sc.CONN_INVALID_REQUEST, "inputs[1].data"),
        ([image_input("bad id!")], sc.CONN_INVALID_REQUEST, "not a valid input id"),
        (
            [r.Input(id="fresh-3", data=r.Data(image=r.Image(url=IMG), concepts=[r.Concept(id="tab\tid")]))],
            sc.CONN_INVALID_REQUEST,
            "inputs[0].data.concepts[0].id",
        ),
    ]
    for inputs, code, text in cases:
        resp = stub.PostInputs(s.PostInputsRequest(user_app_id=app.uai, inputs=inputs), metadata=app.meta)
        assert resp.status.code == code, (inputs, resp.status)
        assert text in resp.status.description + resp.status.details
    listed = ok(stub.ListInputs(s.ListInputsRequest(user_app_id=app.uai), metadata=app.meta))
    assert [i.id for i in listed.inputs] == ["taken"]


def test_per_page_out_of_range(stub: Any, app: AppFixture) -> None:
    resp = stub.ListInputs(s.ListInputsRequest(user_app_id=app.uai, per_page=5000), metadata=app.meta)
    assert resp.status.code == sc.CONN_INVALID_REQUEST
    assert "per_page" in resp.status.description


def test_datasets_and_dataset_inputs(stub: Any, app: AppFixture) -> None:
    ok(
        stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=app.uai, datasets=[r.Dataset(id="ds1", description="d")]),
            metadata=app.meta,
        )
    )
    ok(
        stub.PostInputs(
            s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[
                    image_input("a"),
                    image_input("b"),
                    r.Input(id="c", dataset_ids=["ds1"], data=r.Data(image=r.Image(url=IMG))),
                ],
            ),
            metadata=app.meta,
        )
    )
    ok(
        stub.PostDatasetInputs(
            s.PostDatasetInputsRequest(
                user_app_id=app.uai, dataset_id="ds1", dataset_inputs=[r.DatasetInput(input=r.Input(id="a"))]
            ),
            metadata=app.meta,
        )
    )
    members = ok(
        stub.ListDatasetInputs(
            s.ListDatasetInputsRequest(user_app_id=app.uai, dataset_id="ds1"), metadata=app.meta
        )
    )
    assert [d.input.id for d in members.dataset_inputs] == ["a", "c"]
    assert list(members.dataset_inputs[0].input.dataset_ids) == ["ds1"]
    got = ok(stub.GetDataset(s.GetDatasetRequest(user_app_id=app.uai, dataset_id="ds1"), metadata=app.meta))
    assert got.dataset.description == "d"
    assert [
        d.id
        for d in ok(stub.ListDatasets(s.ListDatasetsRequest(user_app_id=app.uai), metadata=app.meta)).datasets
    ] == ["ds1"]
    bad = stub.PostDatasetInputs(
        s.PostDatasetInputsRequest(
            user_app_id=app.uai, dataset_id="nope", dataset_inputs=[r.DatasetInput(input=r.Input(id="a"))]
        ),
        metadata=app.meta,
    )
    assert bad.status.code == sc.CONN_DOES_NOT_EXIST


def test_saved_search_by_concept_and_metadata(stub: Any, app: AppFixture) -> None:
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="cat")]), metadata=app.meta
        )
    )
    ok(
        stub.PostInputs(
            s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[
                    image_input("red-1", color="red"),
                    image_input("blue-1", color="blue"),
                    r.Input(
                        id="cat-1",
                        data=r.Data(image=r.Image(url=IMG), concepts=[r.Concept(id="cat", value=1)]),
                    ),
                ],
            ),
            metadata=app.meta,
        )
    )
    meta_query = r.Query(filters=[r.Filter(input=r.Input(data=r.Data(metadata=_struct(color="red"))))])
    saved = ok(
        stub.PostSearches(
            s.PostSearchesRequest(
                user_app_id=app.uai, searches=[r.Search(id="reds", save=True, query=meta_query)]
            ),
            metadata=app.meta,
        )
    )
    assert [h.input.id for h in saved.hits] == ["red-1"]
    concept_query = r.Query(
        filters=[r.Filter(annotation=r.Annotation(data=r.Data(concepts=[r.Concept(id="cat", value=1)])))]
    )
    ok(
        stub.PostSearches(
            s.PostSearchesRequest(
                user_app_id=app.uai, searches=[r.Search(id="cats", save=True, query=concept_query)]
            ),
            metadata=app.meta,
        )
    )
    listed = ok(stub.ListSearches(s.ListSearchesRequest(user_app_id=app.uai), metadata=app.meta))
    assert [x.id for x in listed.searches] == ["reds", "cats"]
    ok(
        stub.PostInputs(
            s.PostInputsRequest(user_app_id=app.uai, inputs=[image_input("red-2", color="red")]),
            metadata=app.meta,
        )
    )
    run = ok(
        stub.PostSearchesByID(s.PostSearchesByIDRequest(user_app_id=app.uai, id="reds"), metadata=app.meta)
    )
    assert [h.input.id for h in run.hits] == ["red-1", "red-2"]
    cats = ok(
        stub.PostSearchesByID(s.PostSearchesByIDRequest(user_app_id=app.uai, id="cats"), metadata=app.meta)
    )
    assert [h.input.id for h in cats.hits] == ["cat-1"]


def _struct(**values: Any) -> struct_pb2.Struct:
    st = struct_pb2.Struct()
    st.update(values)
    return st


def test_unimplemented_rpc_answers_clarifai_status(stub: Any, app: AppFixture) -> None:
    resp = stub.ListModelTypes(s.ListModelTypesRequest(user_app_id=app.uai), metadata=app.meta)
    assert resp.status.code == sc.NOT_IMPLEMENTED
    assert "ListModelTypes" in resp.status.description


def test_patch_and_delete_app_owner_only(stub: Any, app: AppFixture) -> None:
    patched = ok(
        stub.PatchApps(
            s.PatchAppsRequest(
                user_app_id=app.uai, action="overwrite", apps=[r.App(id=app.app_id, description="renamed")]
            ),
            metadata=app.meta,
        )
    )
    assert patched.apps[0].description == "renamed"
    _, collab_meta = app.new_user("collab")
    denied = stub.DeleteApp(s.DeleteAppRequest(user_app_id=app.uai), metadata=collab_meta)
    assert denied.status.code == sc.CONN_INSUFFICIENT_SCOPES
    ok(stub.DeleteApp(s.DeleteAppRequest(user_app_id=app.uai), metadata=app.meta))
    gone = stub.GetApp(s.GetAppRequest(user_app_id=app.uai), metadata=app.meta)
    assert gone.status.code == sc.CONN_DOES_NOT_EXIST


def test_delete_key_revokes_it(stub: Any, app: AppFixture) -> None:
    ok(stub.ListInputs(s.ListInputsRequest(), metadata=app.key_meta))
    ok(
        stub.DeleteKey(
            s.DeleteKeyRequest(user_app_id=r.UserAppIDSet(user_id="me"), key_id=app.app_key),
            metadata=app.meta,
        )
    )
    assert stub.ListInputs(s.ListInputsRequest(), metadata=app.key_meta).status.code == sc.CONN_KEY_INVALID


def test_input_count(stub: Any, app: AppFixture) -> None:
    ok(
        stub.PostInputs(
            s.PostInputsRequest(user_app_id=app.uai, inputs=[image_input() for _ in range(3)]),
            metadata=app.meta,
        )
    )
    counts = ok(stub.GetInputCount(s.GetInputCountRequest(user_app_id=app.uai), metadata=app.meta))
    assert counts.counts.processed == 3


def test_dataset_patch_delete_and_membership_removal(stub: Any, app: AppFixture) -> None:
    ok(
        stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=app.uai, datasets=[r.Dataset(id="d1"), r.Dataset(id="d2")]),
            metadata=app.meta,
        )
    )
    ok(
        stub.PatchDatasets(
            s.PatchDatasetsRequest(
                user_app_id=app.uai, action="overwrite", datasets=[r.Dataset(id="d1", description="first")]
            ),
            metadata=app.meta,
        )
    )
    assert (
        ok(
            stub.GetDataset(s.GetDatasetRequest(user_app_id=app.uai, dataset_id="d1"), metadata=app.meta)
        ).dataset.description
        == "first"
    )
    ok(
        stub.PostInputs(
            s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[r.Input(id="m1", dataset_ids=["d1"], data=r.Data(image=r.Image(url=IMG)))],
            ),
            metadata=app.meta,
        )
    )
    ok(
        stub.DeleteDatasetInputs(
            s.DeleteDatasetInputsRequest(user_app_id=app.uai, dataset_id="d1", input_ids=["m1"]),
            metadata=app.meta,
        )
    )
    members = ok(
        stub.ListDatasetInputs(
            s.ListDatasetInputsRequest(user_app_id=app.uai, dataset_id="d1"), metadata=app.meta
        )
    )
    assert list(members.dataset_inputs) == []
    ok(
        stub.DeleteDatasets(
            s.DeleteDatasetsRequest(user_app_id=app.uai, dataset_ids=["d2"]), metadata=app.meta
        )
    )
    assert [
        d.id
        for d in ok(stub.ListDatasets(s.ListDatasetsRequest(user_app_id=app.uai), metadata=app.meta)).datasets
    ] == ["d1"]
    assert (
        ok(stub.GetInput(s.GetInputRequest(user_app_id=app.uai, input_id="m1"), metadata=app.meta)).input.id
        == "m1"
    )


def test_saved_search_get_patch_delete_and_refusals(stub: Any, app: AppFixture) -> None:
    q = r.Query(filters=[r.Filter(input=r.Input(data=r.Data(metadata=_struct(k="v"))))])
    ok(
        stub.PostSearches(
            s.PostSearchesRequest(user_app_id=app.uai, searches=[r.Search(id="s1", save=True, query=q)]),
            metadata=app.meta,
        )
    )
    got = ok(stub.GetSearch(s.GetSearchRequest(user_app_id=app.uai, id="s1"), metadata=app.meta))
    assert dict(got.search.query.filters[0].input.data.metadata) == {"k": "v"}
    ok(
        stub.PatchSearches(
            s.PatchSearchesRequest(
                user_app_id=app.uai, action="overwrite", searches=[r.Search(id="s1", name="renamed")]
            ),
            metadata=app.meta,
        )
    )
    assert (
        ok(stub.GetSearch(s.GetSearchRequest(user_app_id=app.uai, id="s1"), metadata=app.meta)).search.name
        == "renamed"
    )
    visual = r.Query(ranks=[r.Rank(annotation=r.Annotation(data=r.Data(image=r.Image(url=IMG))))])
    refused = stub.PostSearches(
        s.PostSearchesRequest(user_app_id=app.uai, searches=[r.Search(id="s2", save=True, query=visual)]),
        metadata=app.meta,
    )
    assert refused.status.code == sc.NOT_IMPLEMENTED and "model" in refused.status.description
    ok(stub.DeleteSearch(s.DeleteSearchRequest(user_app_id=app.uai, id="s1"), metadata=app.meta))
    assert (
        stub.GetSearch(s.GetSearchRequest(user_app_id=app.uai, id="s1"), metadata=app.meta).status.code
        == sc.CONN_DOES_NOT_EXIST
    )


def test_patch_inputs_concepts_and_datasets(stub: Any, app: AppFixture) -> None:
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="cat"), r.Concept(id="dog")]),
            metadata=app.meta,
        )
    )
    ok(
        stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=app.uai, datasets=[r.Dataset(id="d1"), r.Dataset(id="d2")]),
            metadata=app.meta,
        )
    )
    ok(
        stub.PostInputs(
            s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[
                    r.Input(
                        id="p1",
                        dataset_ids=["d1"],
                        data=r.Data(image=r.Image(url=IMG), concepts=[r.Concept(id="cat", value=1)]),
                    )
                ],
            ),
            metadata=app.meta,
        )
    )

    def patch(action: str, **fields: Any) -> Any:
        return ok(
            stub.PatchInputs(
                s.PatchInputsRequest(user_app_id=app.uai, action=action, inputs=[r.Input(id="p1", **fields)]),
                metadata=app.meta,
            )
        ).inputs[0]

    got = patch("merge", data=r.Data(concepts=[r.Concept(id="dog", value=0)]), dataset_ids=["d2"])
    assert sorted((c.id, c.value) for c in got.data.concepts) == [("cat", 1.0), ("dog", 0.0)]
    assert sorted(got.dataset_ids) == ["d1", "d2"]
    got = patch("remove", data=r.Data(concepts=[r.Concept(id="cat")]), dataset_ids=["d1"])
    assert [(c.id, c.value) for c in got.data.concepts] == [("dog", 0.0)]
    assert list(got.dataset_ids) == ["d2"]
    got = patch("overwrite", data=r.Data(concepts=[r.Concept(id="cat", value=1)]), dataset_ids=["d1"])
    assert [(c.id, c.value) for c in got.data.concepts] == [("cat", 1.0)]
    assert list(got.dataset_ids) == ["d1"]
    search = ok(
        stub.PostSearches(
            s.PostSearchesRequest(
                user_app_id=app.uai,
                query=r.Query(
                    filters=[
                        r.Filter(
                            annotation=r.Annotation(data=r.Data(concepts=[r.Concept(id="cat", value=1)]))
                        )
                    ]
                ),
            ),
            metadata=app.meta,
        )
    )
    assert [h.input.id for h in search.hits] == ["p1"], "the concept index follows patched input concepts"
    fresh = stub.PatchInputs(
        s.PatchInputsRequest(
            user_app_id=app.uai,
            action="merge",
            inputs=[r.Input(id="p1", data=r.Data(concepts=[r.Concept(id="fresh", value=1)]))],
        ),
        metadata=app.meta,
    )
    assert "fresh" in [c.id for c in ok(fresh).inputs[0].data.concepts], "a new concept is created on the fly"
    got = ok(stub.GetConcept(s.GetConceptRequest(user_app_id=app.uai, concept_id="fresh"), metadata=app.meta))
    assert got.concept.name == "fresh"


def test_saved_search_mixing_metadata_and_concepts(stub: Any, app: AppFixture) -> None:
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="cat")]), metadata=app.meta
        )
    )
    cat = [r.Concept(id="cat", value=1)]
    ok(
        stub.PostInputs(
            s.PostInputsRequest(
                user_app_id=app.uai,
                inputs=[
                    r.Input(
                        id="red-cat",
                        data=r.Data(image=r.Image(url=IMG), concepts=cat, metadata=_struct(c="red")),
                    ),
                    r.Input(id="red", data=r.Data(image=r.Image(url=IMG), metadata=_struct(c="red"))),
                    r.Input(
                        id="blue-cat",
                        data=r.Data(image=r.Image(url=IMG), concepts=cat, metadata=_struct(c="blue")),
                    ),
                ],
            ),
            metadata=app.meta,
        )
    )

    def hits(negate: bool) -> list[str]:
        both = r.Filter(negate=negate, input=r.Input(data=r.Data(metadata=_struct(c="red"), concepts=cat)))
        resp = ok(
            stub.PostSearches(
                s.PostSearchesRequest(user_app_id=app.uai, query=r.Query(filters=[both])), metadata=app.meta
            )
        )
        return [h.input.id for h in resp.hits]

    assert hits(False) == ["red-cat"], "metadata and concept in one filter must both hold"
    assert hits(True) == ["red", "blue-cat"]
