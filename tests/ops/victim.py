"""A victim app full of data that carries a secret marker, and what of the database is its."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from google.protobuf import struct_pb2
from sqlalchemy import select

from labeldesk.services import admin
from labeldesk.storage import tables as t
from labeldesk.storage.engine import Database
from tests.helpers import IMG, ok

Meta = tuple[tuple[str, str]]


def meta(token: str) -> Meta:
    return (("authorization", f"Key {token}"),)


@dataclass
class Victim:
    """The owner's app with one object of every kind; ``marker`` is in each object's text."""

    owner: str
    app_id: str
    pat: str
    app_key: str
    marker: str
    ids: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    @property
    def uai(self) -> r.UserAppIDSet:
        return r.UserAppIDSet(user_id=self.owner, app_id=self.app_id)

    def leaked(self, answer: bytes) -> list[str]:
        """Victim-only strings found in an answer (the marker, or any of the victim's keys)."""
        return [text for text in (self.marker, *self.secrets) if text.encode() in answer]


def make_victim(db: Database, stub: Any) -> Victim:
    tag = uuid.uuid4().hex[:10]
    owner, app_id, marker = f"victim-{tag}", f"vapp-{tag}", f"VICTIMSECRET{tag}"
    pat = admin.create_user(db, owner, f"{owner}@example.com")
    admin.create_app(db, owner, app_id, name=marker)
    key = admin.create_app_key(db, owner, app_id)
    v = Victim(owner, app_id, pat, key, marker, secrets=[pat, key])
    m, uai = meta(pat), v.uai
    v.ids = {"concept": f"c{tag}", "input": f"i{tag}", "dataset": f"d{tag}", "task": f"t{tag}"}
    v.ids |= {"search": f"s{tag}", "annotation": f"a{tag}", "user": owner, "app": app_id, "upload": f"u{tag}"}
    upload = r.Upload(id=v.ids["upload"], content_name=f"{marker}.zip", content_length=10)
    ok(stub.PostUploads(s.PostUploadsRequest(user_app_id=uai, uploads=[upload]), metadata=m))
    ok(
        stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=uai, concepts=[r.Concept(id=v.ids["concept"], name=marker)]),
            metadata=m,
        )
    )
    info = struct_pb2.Struct()
    info.update({"note": marker})
    data = r.Data(image=r.Image(url=IMG), metadata=info, concepts=[r.Concept(id=v.ids["concept"], value=1)])
    ok(
        stub.PostInputs(
            s.PostInputsRequest(user_app_id=uai, inputs=[r.Input(id=v.ids["input"], data=data)]), metadata=m
        )
    )
    ok(
        stub.PostDatasets(
            s.PostDatasetsRequest(
                user_app_id=uai, datasets=[r.Dataset(id=v.ids["dataset"], description=marker)]
            ),
            metadata=m,
        )
    )
    ok(
        stub.PostDatasetInputs(
            s.PostDatasetInputsRequest(
                user_app_id=uai,
                dataset_id=v.ids["dataset"],
                dataset_inputs=[r.DatasetInput(input=r.Input(id=v.ids["input"]))],
            ),
            metadata=m,
        )
    )
    region = r.Region(
        region_info=r.RegionInfo(
            bounding_box=r.BoundingBox(top_row=0.1, left_col=0.1, bottom_row=0.5, right_col=0.5)
        ),
        data=r.Data(concepts=[r.Concept(id=v.ids["concept"], value=1)]),
    )
    ok(
        stub.PostAnnotations(
            s.PostAnnotationsRequest(
                user_app_id=uai,
                annotations=[
                    r.Annotation(
                        id=v.ids["annotation"], input_id=v.ids["input"], data=r.Data(regions=[region])
                    )
                ],
            ),
            metadata=m,
        )
    )
    query = r.Query(
        filters=[
            r.Filter(annotation=r.Annotation(data=r.Data(concepts=[r.Concept(id=v.ids["concept"], value=1)])))
        ]
    )
    ok(
        stub.PostSearches(
            s.PostSearchesRequest(
                user_app_id=uai, searches=[r.Search(id=v.ids["search"], name=marker, save=True, query=query)]
            ),
            metadata=m,
        )
    )
    task = r.Task(
        id=v.ids["task"],
        name=marker,
        type=r.Task.TaskType.CONCEPTS_CLASSIFICATION,
        worker=r.TaskWorker(strategy=r.TaskWorker.TaskWorkerStrategy.DYNAMIC, users=[r.User(id=owner)]),
        concept_ids=[v.ids["concept"]],
        input_source=r.TaskInputSource(
            type=r.TaskInputSource.TaskInputSourceType.DATASET, id=v.ids["dataset"]
        ),
    )
    ok(stub.PostTasks(s.PostTasksRequest(user_app_id=uai, tasks=[task]), metadata=m))
    return v


def victim_rows(db: Database, v: Victim) -> dict[str, set[tuple[str, ...]]]:
    """Every row that belongs to the victim's user or app, table by table."""
    with db.engine.connect() as conn:
        app_pk = conn.execute(
            select(t.apps.c.pk).where(t.apps.c.user_id == v.owner, t.apps.c.id == v.app_id)
        ).scalar()

        def pks(table: Any) -> set[int]:
            return set(conn.execute(select(table.c.pk).where(table.c.app_pk == app_pk)).scalars())

        owned = {
            "dataset_pk": pks(t.datasets),
            "input_pk": pks(t.inputs),
            "task_pk": pks(t.tasks),
            "annotation_pk": pks(t.annotations),
            "upload_pk": pks(t.uploads),
        }
        rows: dict[str, set[tuple[str, ...]]] = {}
        for table in t.metadata.sorted_tables:
            cols = table.c
            if table.name in ("server_secrets", "sweep_turns"):  # the server's own, no user's
                continue
            if table.name == "users":
                cond = cols.id == v.owner
            elif table.name == "apps" or table.name == "keys":
                cond = cols.user_id == v.owner
            elif "app_pk" in cols:
                cond = cols.app_pk == app_pk
            else:
                link = next((name for name in owned if name in cols), None)
                if link is None:
                    raise AssertionError(f"table {table.name}: no way to tell whose rows are whose")
                cond = cols[link].in_(owned[link])
            rows[table.name] = {tuple(map(repr, row)) for row in conn.execute(select(table).where(cond))}
        return rows
