"""PostAnnotationsSearches pages and counts in SQL when no filter needs Python: for any search
built from the SQL-only filters, the SQL page is the same slice of the same annotations, in the
same order, as the Python reference path (load every match, filter, cut), on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from labeldesk.domain.search_query import ConceptRef, Criterion
from labeldesk.services.searches import annotation_hits_in_python
from labeldesk.storage import tables as t
from labeldesk.storage.repos import searches as repo
from tests.helpers import IMG, AppFixture, ok

INPUTS = [f"p{i}" for i in range(8)]
CONCEPTS = {"cat": "Cat", "dog": "Dog", "owl": "Cat"}  # two concepts share the name "Cat"
STATUSES = (sc.ANNOTATION_SUCCESS, sc.ANNOTATION_PENDING, sc.ANNOTATION_AWAITING_REVIEW)


@pytest.fixture
def world(grpc_stub: Any, app: AppFixture) -> Iterator[tuple[AppFixture, int, list[str]]]:
    """Inputs (some with upload concepts), two datasets, annotations by two users in three
    statuses with concepts present and absent, and model-made ones: (app, app pk, user ids)."""
    stub, meta = grpc_stub, app.meta
    concepts = [r.Concept(id=c, name=n) for c, n in CONCEPTS.items()]
    ok(stub.PostConcepts(s.PostConceptsRequest(user_app_id=app.uai, concepts=concepts), metadata=meta))
    inputs = [
        r.Input(
            id=i,
            data=r.Data(
                image=r.Image(url=IMG),
                concepts=[r.Concept(id="dog", value=1)] if n % 3 == 0 else [],
                metadata=struct(even=n % 2 == 0),
            ),
        )
        for n, i in enumerate(INPUTS)
    ]
    ok(stub.PostInputs(s.PostInputsRequest(user_app_id=app.uai, inputs=inputs), metadata=meta))
    datasets = [r.Dataset(id="d1"), r.Dataset(id="d2")]
    ok(stub.PostDatasets(s.PostDatasetsRequest(user_app_id=app.uai, datasets=datasets), metadata=meta))
    for ds, members in (("d1", INPUTS[:5]), ("d2", INPUTS[3:])):
        ok(
            stub.PostDatasetInputs(
                s.PostDatasetInputsRequest(
                    user_app_id=app.uai,
                    dataset_id=ds,
                    dataset_inputs=[r.DatasetInput(input=r.Input(id=i)) for i in members],
                ),
                metadata=meta,
            )
        )
    worker, _ = app.new_user("searcher")
    names = list(CONCEPTS)
    anns: list[r.Annotation] = []
    for n in range(40):
        who = "owner" if n % 2 else "worker"
        concepts_of = [r.Concept(id=names[(n + k) % 3], value=float((n + k) % 2)) for k in range(n % 3)]
        anns.append(
            r.Annotation(
                user_id=app.user_id if who == "owner" else worker,
                input_id=INPUTS[(n * 5) % len(INPUTS)],
                data=r.Data(concepts=concepts_of),
                status=status_pb2.Status(code=STATUSES[n % 3]),
                model_version_id="mv-1" if who == "owner" and n % 7 == 1 else "",
            )
        )
    ok(stub.PostAnnotations(s.PostAnnotationsRequest(user_app_id=app.uai, annotations=anns), metadata=meta))
    with app.server.app.db.read() as conn:
        app_pk = conn.execute(
            select(t.apps.c.pk).where(t.apps.c.user_id == app.user_id, t.apps.c.id == app.app_id)
        ).scalar_one()
    yield app, int(app_pk), [app.user_id, worker]


def struct(**values: Any) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(values)
    return out


def concept_refs() -> st.SearchStrategy[ConceptRef]:
    by_id = st.builds(ConceptRef, id=st.sampled_from([*CONCEPTS, "none"]), present=st.booleans())
    by_name = st.builds(ConceptRef, name=st.sampled_from(["Cat", "Dog", "Nobody"]), present=st.booleans())
    return by_id | by_name


def criteria(users: list[str]) -> st.SearchStrategy[list[Criterion]]:
    one = st.builds(
        Criterion,
        negate=st.booleans(),
        concepts=st.lists(concept_refs(), max_size=2).map(tuple),
        dataset_ids=st.lists(st.sampled_from(["d1", "d2", "d9"]), max_size=1).map(tuple),
        input_id=st.sampled_from(["", "", "", *INPUTS[:3]]),
        annotation_user_id=st.sampled_from(["", "", *users]),
        annotation_status=st.sampled_from([0, 0, *STATUSES]),
        annotated=st.booleans(),
    )
    return st.lists(one, max_size=3)


def test_sql_pages_equal_the_python_reference(world: tuple[AppFixture, int, list[str]]) -> None:
    app, app_pk, users = world

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(crit=criteria(users), offset=st.integers(0, 30), limit=st.integers(1, 25))
    def check(crit: list[Criterion], offset: int, limit: int) -> None:
        with app.server.app.db.read() as conn:
            reference = [int(row.pk) for row in annotation_hits_in_python(conn, app_pk, crit)]
            assert repo.count_matching_annotations(conn, app_pk, crit) == len(reference)
            page = repo.matching_annotation_page(conn, app_pk, crit, offset, limit)
            assert [int(row.pk) for row in page] == reference[offset : offset + limit]
            assert all(row.input_id for row in page)

    check()
    with app.server.app.db.read() as conn:  # the world is rich enough for the property to bite
        everything = annotation_hits_in_python(conn, app_pk, [])
        some = annotation_hits_in_python(conn, app_pk, [Criterion(concepts=(ConceptRef(name="Cat"),))])
    assert len(everything) >= 40 and 0 < len(some) < len(everything)


def test_the_rpc_pages_through_every_hit_once(stub: Any, world: tuple[AppFixture, int, list[str]]) -> None:
    app, _, users = world
    q = r.Query(filters=[r.Filter(annotation=r.Annotation(user_id=users[1]))])

    def page(n: int) -> list[str]:
        resp = stub.PostAnnotationsSearches(
            s.PostAnnotationsSearchesRequest(
                user_app_id=app.uai, searches=[r.Search(query=q)], pagination=s.Pagination(page=n, per_page=7)
            ),
            metadata=app.meta,
        )
        return [h.annotation.id for h in ok(resp).hits]

    pages = [page(n) for n in range(1, 5)]
    seen = [a for p in pages for a in p]
    assert len(seen) == len(set(seen)) == 20 and pages[3] == []
    # a metadata filter is matched in Python: same hits, on the even inputs only
    with_meta = r.Query(
        filters=[
            r.Filter(annotation=r.Annotation(user_id=users[1])),
            r.Filter(annotation=r.Annotation(data=r.Data(metadata=struct(even=True)))),
        ]
    )
    resp = stub.PostAnnotationsSearches(
        s.PostAnnotationsSearchesRequest(
            user_app_id=app.uai, searches=[r.Search(query=with_meta)], pagination=s.Pagination(per_page=100)
        ),
        metadata=app.meta,
    )
    even = {i for n, i in enumerate(INPUTS) if n % 2 == 0}
    hits = ok(resp).hits
    assert hits and {h.annotation.input_id for h in hits} <= even
    assert [h.annotation.id for h in hits] == [a for a in seen if a in {h.annotation.id for h in hits}]
