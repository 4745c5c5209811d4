"""Tasks through the official client on both channels: create / get / list / patch / delete,
validation, live input sources, task annotation counts, status changes, review samples, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import json_format, struct_pb2
from sqlalchemy import select

from labeldesk.domain.review_sampling import is_sampled_for_review
from labeldesk.services import task_model
from labeldesk.services.task_model import load_task, task_input_pks
from labeldesk.storage import tables as t
from tests.helpers import IMG, AppFixture, Meta, fails, ok


def as_task(fields: dict[str, Any]) -> r.Task:
    return json_format.ParseDict(fields, r.Task())


@dataclass
class World:
    """An app with concepts, inputs, three worker collaborators, a reviewer and a stranger."""

    app: AppFixture
    stub: Any
    workers: list[str]
    worker_meta: dict[str, Meta]
    reviewer: str
    reviewer_meta: Meta
    stranger: str
    transport: str

    def call(self, rpc: str, meta: Meta | None = None, **fields: Any) -> Any:
        req_cls = (
            getattr(s, f"{rpc}Request", None)
            or {
                "GetTaskAnnotationCount": s.GetTaskCountRequest,
                "GetTaskInputCount": s.GetTaskCountRequest,
            }[rpc]
        )
        return getattr(self.stub, rpc)(
            req_cls(user_app_id=self.app.uai, **fields), metadata=meta or self.app.meta
        )

    def post(self, *tasks: dict[str, Any]) -> Any:
        return self.call("PostTasks", tasks=[as_task(x) for x in tasks])

    def create(self, **fields: Any) -> r.Task:
        return ok(self.post(fields)).tasks[0]

    def get(self, task_id: str, *fields: str) -> r.Task:
        return ok(self.call("GetTask", task_id=task_id, additional_fields=list(fields))).task

    def listed(self, **filters: Any) -> list[str]:
        return [x.id for x in ok(self.call("ListTasks", **filters)).tasks]

    def add_inputs(self, *ids: str, dataset: str = "", **meta: Any) -> None:
        md = struct_pb2.Struct()
        md.update(meta)
        inputs = [
            r.Input(
                id=i,
                data=r.Data(image=r.Image(url=IMG), metadata=md),
                dataset_ids=[dataset] if dataset else [],
            )
            for i in ids
        ]
        ok(self.call("PostInputs", inputs=inputs))

    def annotate(self, user: str, input_id: str, task_id: str, concept: str = "tree") -> None:
        info = struct_pb2.Struct()
        info.update({"task_id": task_id})
        a = r.Annotation(
            input_id=input_id, data=r.Data(concepts=[r.Concept(id=concept, value=1)]), annotation_info=info
        )
        ok(self.call("PostAnnotations", meta=self.worker_meta[user], annotations=[a]))

    def set_status(
        self, task_id: str, code: int, users: list[str], meta: Meta | None = None, **kw: Any
    ) -> Any:
        return self.call(
            "PatchAnnotationsStatus", meta=meta, task_id=task_id, user_ids=users, status_code=code, **kw
        )


@pytest.fixture
def world(stub: Any, app: AppFixture, request: pytest.FixtureRequest) -> World:
    workers, metas = [], {}
    for _ in range(3):
        uid, meta = app.new_user("worker")
        workers.append(uid)
        metas[uid] = meta
    reviewer, reviewer_meta = app.new_user("reviewer")
    stranger, _ = app.new_user("stranger", collaborator=False)
    transport = request.node.callspec.params["stub"]
    w = World(app, stub, workers, metas, reviewer, reviewer_meta, stranger, transport)
    ok(w.call("PostConcepts", concepts=[r.Concept(id="tree"), r.Concept(id="water")]))
    w.add_inputs(*[f"in-{i}" for i in range(6)])
    return w


def partitioned(users: list[str], k: int = 1, weights: dict[str, float] | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"type": "WEIGHTED" if weights else "EVENLY", "workers_per_input": k}
    if weights:
        info["weights"] = weights
    return {"strategy": "PARTITIONED", "user_ids": users, "partitioned_strategy_info": info}


# --------------------------------------------------------------------------- create / get


def test_create_keeps_every_field_and_defaults_status(world: World) -> None:
    md = {"project": "p1", "n": 3}
    created = world.create(
        id="task-1",
        type="BOUNDING_BOX_DETECTION",
        name="Boxes",
        description="draw boxes",
        worker={"strategy": "FULL", "users": [{"id": world.workers[0]}]},
        concepts=[{"concept": {"id": "tree"}}],
        input_source={"type": "ALL_INPUTS"},
        sample_ms=500,
        review={"strategy": "NONE"},
        label_order_id="order-1",
        priority="HIGH",
        metadata=md,
    )
    got = world.get("task-1")
    for task in (created, got):
        assert task.id == "task-1"
        assert task.status.code == sc.TASK_IN_PROGRESS
        assert task.type == r.Task.BOUNDING_BOX_DETECTION
        assert (task.name, task.description, task.sample_ms) == ("Boxes", "draw boxes", 500)
        assert (task.label_order_id, task.priority) == ("order-1", r.Task.HIGH)
        assert json_format.MessageToDict(task.metadata) == md
        assert list(task.worker.user_ids) == [world.workers[0]]
        assert [u.id for u in task.worker.users] == [world.workers[0]]
        assert [w.user.id for w in task.worker.workers] == [world.workers[0]]
        assert list(task.concept_ids) == ["tree"] and task.concepts[0].concept.id == "tree"
        assert (task.app_id, task.user_id) == (world.app.app_id, world.app.user_id)
        assert task.created_at.seconds > 0


@pytest.mark.parametrize(
    "task_type", ["CONCEPTS_CLASSIFICATION", "BOUNDING_BOX_DETECTION", "POLYGON_DETECTION"]
)
def test_task_types(world: World, task_type: str) -> None:
    assert world.create(type=task_type, concept_ids=["tree"]).type == r.Task.TaskType.Value(task_type)


def test_strategies_are_stored_with_their_users_and_weights(world: World) -> None:
    a, b, c = world.workers
    weighted = world.create(worker=partitioned([a, b, c], k=2, weights={a: 3, b: 1, c: 1}))
    info = weighted.worker.partitioned_strategy_info
    assert (info.type, info.workers_per_input) == (r.TaskWorkerPartitionedStrategyInfo.WEIGHTED, 2)
    assert dict(info.weights) == {a: 3, b: 1, c: 1}
    evenly = world.create(worker=partitioned([a, b]))
    dynamic = world.create(worker={"strategy": "DYNAMIC", "user_ids": [a, b]})
    assert dynamic.worker.strategy == r.TaskWorker.DYNAMIC
    with world.app.server.app.db.read() as conn:
        rows = conn.execute(
            select(t.task_users.c.user_id, t.task_users.c.weight)
            .join(t.tasks, t.tasks.c.pk == t.task_users.c.task_pk)
            .where(t.tasks.c.id.in_([weighted.id, evenly.id]), t.tasks.c.app_pk == _app_pk(world))
            .order_by(t.tasks.c.pk, t.task_users.c.user_id)
        ).all()
    assert sorted(rows) == sorted([(a, 3.0), (b, 1.0), (c, 1.0), (a, 1.0), (b, 1.0)])


def _app_pk(world: World) -> int:
    with world.app.server.app.db.read() as conn:
        return int(
            conn.execute(
                select(t.apps.c.pk).where(
                    t.apps.c.user_id == world.app.user_id, t.apps.c.id == world.app.app_id
                )
            ).scalar_one()
        )


def test_review_strategies(world: World) -> None:
    a, b, c = world.workers
    manual = world.create(
        review={
            "strategy": "MANUAL",
            "manual_strategy_info": {"sample_percentage": 20},
            "user_ids": [world.reviewer],
        }
    )
    assert manual.review.manual_strategy_info.sample_percentage == pytest.approx(20)
    assert [u.id for u in manual.review.users] == [world.reviewer]
    consensus = world.create(
        worker=partitioned([a, b, c], k=2),
        review={
            "strategy": "CONSENSUS",
            "consensus_strategy_info": {"approval_threshold_labelers": 2, "approval_threshold_reviewers": -1},
            "users": [{"id": world.reviewer}],
        },
    )
    info = consensus.review.consensus_strategy_info
    assert (info.approval_threshold_labelers, info.approval_threshold, info.approval_threshold_reviewers) == (
        2,
        2,
        -1,
    )
    assert list(consensus.review.user_ids) == [world.reviewer]


def test_input_sources_must_exist(world: World) -> None:
    ok(world.call("PostDatasets", datasets=[r.Dataset(id="ds")]))
    ok(world.call("PostSearches", searches=[r.Search(id="saved", save=True, query=r.Query())]))
    for source in ({"type": "DATASET", "id": "ds"}, {"type": "SAVED_SEARCH", "id": "saved"}):
        task = world.create(input_source=source)
        assert task.input_source.id == source["id"]
    fails(
        world.post({"input_source": {"type": "DATASET", "id": "nope"}}),
        sc.CONN_DOES_NOT_EXIST,
        "tasks[0].input_source.id",
        "nope",
    )
    fails(
        world.post({"input_source": {"type": "SAVED_SEARCH", "id": "nope"}}),
        sc.CONN_DOES_NOT_EXIST,
        "saved search 'nope'",
    )


# --------------------------------------------------------------------------- validation


def test_validation_errors_name_the_field_and_nothing_is_half_created(world: World) -> None:
    a, b, _ = world.workers
    good = {"id": "fine", "concept_ids": ["tree"]}
    cases: list[tuple[dict[str, Any], int, str]] = [
        (
            {"worker": {"strategy": "FULL", "user_ids": [world.stranger]}},
            sc.CONN_INVALID_REQUEST,
            "tasks[1].worker.user_ids",
        ),
        (
            {"review": {"strategy": "MANUAL", "user_ids": ["ghost"]}},
            sc.CONN_INVALID_REQUEST,
            "tasks[1].review.user_ids",
        ),
        ({"worker": partitioned([a, b], weights={a: 1, b: 1, "bob": 1})}, sc.CONN_INVALID_REQUEST, "'bob'"),
        ({"worker": partitioned([a, b], weights={a: 1, b: 0})}, sc.CONN_INVALID_REQUEST, "positive"),
        ({"worker": partitioned([a, b], k=3)}, sc.CONN_INVALID_REQUEST, "workers_per_input"),
        ({"concept_ids": ["unicorn"]}, sc.CONN_INVALID_REQUEST, "tasks[1].concept_ids: concept(s) 'unicorn'"),
        (
            {
                "review": {
                    "strategy": "CONSENSUS",
                    "user_ids": [world.reviewer],
                    "consensus_strategy_info": {"approval_threshold_reviewers": 5},
                }
            },
            sc.CONN_INVALID_REQUEST,
            "approval_threshold_reviewers",
        ),
        ({"status": {"code": "INPUT_DOWNLOAD_SUCCESS"}}, sc.CONN_INVALID_REQUEST, "tasks[1].status.code"),
        ({"id": "bad id!"}, sc.CONN_INVALID_REQUEST, "tasks[1].id"),
    ]
    for bad, code, text in cases:
        fails(world.post(good, bad), code, text)
    assert world.listed() == []
    world.create(**good)
    fails(world.post({"id": "fine"}), sc.DATABASE_DUPLICATE_KEY, "fine")
    fails(world.post({"id": "x"}, {"id": "x"}), sc.CONN_INVALID_REQUEST, "more than once")
    fails(world.call("PostTasks"), sc.CONN_INVALID_REQUEST, "tasks")


def test_missing_task_is_54102(world: World) -> None:
    fails(world.call("GetTask", task_id="nope"), sc.TASK_MISSING, "nope")
    fails(world.call("GetTaskAnnotationCount", task_id="nope"), sc.TASK_MISSING, "nope")
    fails(world.call("DeleteTasks", ids=["nope"]), sc.TASK_MISSING, "nope")
    fails(world.call("PatchTasks", action="overwrite", tasks=[r.Task(id="nope")]), sc.TASK_MISSING)


# --------------------------------------------------------------------------- list


def test_list_filters_and_pages(world: World) -> None:
    a, b, c = world.workers
    ok(world.call("PostDatasets", datasets=[r.Dataset(id="ds")]))
    t1 = world.create(
        id="t1",
        worker={"strategy": "FULL", "user_ids": [a]},
        review={"strategy": "MANUAL", "user_ids": [world.reviewer]},
    )
    t2 = world.create(
        id="t2", worker={"strategy": "FULL", "user_ids": [b, c]}, input_source={"type": "DATASET", "id": "ds"}
    )
    t3 = world.create(id="t3", label_order_id="order-9")
    assert world.listed() == [t1.id, t2.id, t3.id]
    assert world.listed(worker_user_ids=[a]) == ["t1"]
    assert world.listed(worker_user_ids=[a, c]) == ["t1", "t2"]
    if world.transport == "grpc":  # the JSON client cannot put a list of messages in a query string
        assert world.listed(worker_ids=[r.WorkerIDSet(user_id=b)]) == ["t2"]
    assert world.listed(review_user_ids=[world.reviewer]) == ["t1"]
    assert world.listed(ids=["t3", "t1"]) == ["t1", "t3"]
    assert world.listed(input_source_ids=["ds"]) == ["t2"]
    assert world.listed(label_order_ids=["order-9"]) == ["t3"]
    assert world.listed(per_page=2, page=2) == ["t3"]
    assert world.listed(per_page=2, page=3) == []


# --------------------------------------------------------------------------- patch / delete


def test_overwrite_replaces_the_task_and_calls_the_hook(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = world.workers
    seen: list[tuple[str, list[str], list[str]]] = []

    def hook(conn: Any, task: Any, old: r.Task) -> None:
        seen.append((task.id, list(task.worker_ids), list(old.worker.user_ids)))

    monkeypatch.setattr(task_model, "on_task_changed", hook)
    world.create(id="p1", name="old", worker=partitioned([a, b], weights={a: 1, b: 1}), concept_ids=["tree"])
    new = {
        "id": "p1",
        "name": "new",
        "concept_ids": ["water"],
        "worker": partitioned([b, c], weights={b: 2, c: 1}),
        "status": {"code": "TASK_DONE"},
    }
    patched = ok(world.call("PatchTasks", action="overwrite", tasks=[as_task(new)])).tasks[0]
    got = world.get("p1")
    for task in (patched, got):
        assert (task.name, list(task.concept_ids), task.status.code) == ("new", ["water"], sc.TASK_DONE)
        assert dict(task.worker.partitioned_strategy_info.weights) == {b: 2, c: 1}
    assert seen == [("p1", [b, c], [a, b])]
    assert world.listed(worker_user_ids=[a]) == []
    assert world.listed(worker_user_ids=[c]) == ["p1"]


def test_merge_changes_only_the_status(world: World) -> None:
    world.create(id="m1", name="keep", concept_ids=["tree"])
    done = ok(
        world.call("PatchTasks", action="merge", tasks=[r.Task(id="m1", status={"code": sc.TASK_WONT_DO})])
    )
    assert done.tasks[0].status.code == sc.TASK_WONT_DO and done.tasks[0].name == "keep"
    fails(
        world.call("PatchTasks", action="merge", tasks=[r.Task(id="m1", name="x")]),
        sc.CONN_INVALID_REQUEST,
        "only changes the status",
    )
    fails(
        world.call("PatchTasks", action="remove", tasks=[r.Task(id="m1")]), sc.CONN_INVALID_REQUEST, "action"
    )


def test_failed_overwrite_changes_nothing(world: World) -> None:
    world.create(id="k1", name="one")
    world.create(id="k2", name="two")
    resp = world.call(
        "PatchTasks",
        action="overwrite",
        tasks=[as_task({"id": "k1", "name": "changed"}), as_task({"id": "k2", "concept_ids": ["nope"]})],
    )
    fails(resp, sc.CONN_INVALID_REQUEST, "tasks[1].concept_ids")
    assert world.get("k1").name == "one"


def test_delete_keeps_task_annotations(world: World) -> None:
    a = world.workers[0]
    world.create(id="d1", worker={"strategy": "FULL", "user_ids": [a]}, concept_ids=["tree"])
    world.create(id="d2")
    world.annotate(a, "in-0", "d1")
    fails(world.call("DeleteTasks", ids=["d1", "nope"]), sc.TASK_MISSING, "nope")
    assert world.listed() == ["d1", "d2"]
    ok(world.call("DeleteTasks", ids=["d1"]))
    assert world.listed() == ["d2"]
    fails(world.call("GetTask", task_id="d1"), sc.TASK_MISSING)
    left = ok(world.call("ListAnnotations", user_ids=[a]))
    assert [x.task_id or x.annotation_info["task_id"] for x in left.annotations] == ["d1"]


# --------------------------------------------------------------------------- live input sources and metrics


def test_dataset_and_saved_search_sources_are_resolved_live(world: World) -> None:
    ok(world.call("PostDatasets", datasets=[r.Dataset(id="ds")]))
    world.add_inputs("ds-1", "ds-2", dataset="ds")
    query = r.Query(filters=[r.Filter(input=r.Input(data=r.Data(metadata=_struct(color="red"))))])
    ok(world.call("PostSearches", searches=[r.Search(id="reds", save=True, query=query)]))
    world.add_inputs("red-1", color="red")
    by_ds = world.create(input_source={"type": "DATASET", "id": "ds"})
    by_search = world.create(input_source={"type": "SAVED_SEARCH", "id": "reds"})
    everything = world.create()

    def source_count(task_id: str) -> int:
        return int(world.get(task_id, "metrics").metrics.input_source.inputs_count_estimated)

    assert (source_count(by_ds.id), source_count(by_search.id), source_count(everything.id)) == (2, 1, 9)
    world.add_inputs("ds-3", dataset="ds")
    world.add_inputs("red-2", "red-3", color="red")
    assert (source_count(by_ds.id), source_count(by_search.id), source_count(everything.id)) == (3, 3, 12)


def _struct(**values: Any) -> struct_pb2.Struct:
    st = struct_pb2.Struct()
    st.update(values)
    return st


def test_additional_fields(world: World) -> None:
    task = world.create(
        worker={"strategy": "FULL", "user_ids": [world.workers[0]]},
        review={"strategy": "MANUAL", "user_ids": [world.reviewer]},
    )
    plain = world.get(task.id)
    assert not plain.HasField("metrics") and not plain.worker.users[0].primary_email
    full = world.get(task.id, "all")
    assert full.worker.users[0].primary_email == f"{world.workers[0]}@example.com"
    assert full.review.users[0].primary_email == f"{world.reviewer}@example.com"
    assert full.metrics.input_source.inputs_count_estimated == 6
    listed = ok(world.call("ListTasks", additional_fields=["metrics.work.inputs_count_estimated"])).tasks
    assert listed[0].metrics.input_source.inputs_count_estimated == 6
    fails(
        world.call("GetTask", task_id=task.id, additional_fields=["bogus"]), sc.CONN_INVALID_REQUEST, "bogus"
    )


# --------------------------------------------------------------------------- task annotations


def _counts(resp: Any) -> dict[str, tuple[int, int, int, int, int]]:
    return {
        c.user_id: (c.pending, c.awaiting_review, c.success, c.review_denied, c.awaiting_consensus_review)
        for c in resp.counts
    }


def test_annotation_counts_status_patch_and_metrics(world: World) -> None:
    a, b, c = world.workers
    task = world.create(
        worker={"strategy": "FULL", "user_ids": [a, b]},
        concept_ids=["tree"],
        review={
            "strategy": "MANUAL",
            "user_ids": [world.reviewer],
            "manual_strategy_info": {"sample_percentage": 100},
        },
    )
    for i in range(3):
        world.annotate(a, f"in-{i}", task.id)
    world.annotate(b, "in-0", task.id)
    ok(world.set_status(task.id, sc.ANNOTATION_AWAITING_REVIEW, [a, b]))
    counts = ok(world.call("GetTaskAnnotationCount", task_id=task.id))
    assert (counts.task_id, counts.app_id) == (task.id, world.app.app_id)
    assert _counts(counts) == {a: (0, 3, 0, 0, 0), b: (0, 1, 0, 0, 0)}
    # the reviewer approves a's in-progress work, then denies b's
    moved = ok(
        world.set_status(
            task.id,
            sc.ANNOTATION_SUCCESS,
            [a],
            meta=world.reviewer_meta,
            status_codes=[sc.ANNOTATION_AWAITING_REVIEW],
        )
    )
    assert (list(moved.user_ids), moved.updated_count) == ([a], 3)
    ok(world.set_status(task.id, sc.ANNOTATION_REVIEW_DENIED, [b], meta=world.reviewer_meta))
    assert _counts(ok(world.call("GetTaskAnnotationCount", task_id=task.id))) == {
        a: (0, 0, 3, 0, 0),
        b: (0, 0, 0, 1, 0),
    }
    assert _counts(ok(world.call("GetTaskAnnotationCount", task_id=task.id, user_ids=[b, c]))) == {
        b: (0, 0, 0, 1, 0),
        c: (0, 0, 0, 0, 0),
    }
    assert _counts(ok(world.call("GetTaskInputCount", task_id=task.id))) == {
        a: (0, 0, 3, 0, 0),
        b: (0, 0, 0, 1, 0),
    }
    progress = json_format.MessageToDict(world.get(task.id, "progress").metadata)["progress"]
    assert progress == {a: {"success": 3.0}, b: {"review_denied": 1.0}}, "GetTask progress = input counts"
    metrics = world.get(task.id, "metrics").metrics
    assert metrics.input_source.inputs_count_estimated == 6
    assert (metrics.work.inputs_count_estimated, metrics.work.inputs_percent_estimated) == (1, 16)
    assert metrics.review.inputs_count_estimated == 1
    assert list(metrics.review.inputs_reviewable_count_estimated_per_reviewer) == [6]
    # a worker who is not a reviewer may not move statuses; bad codes are refused
    fails(
        world.set_status(task.id, sc.ANNOTATION_SUCCESS, [b], meta=world.worker_meta[c]),
        sc.TASK_PERMISSION_DENIED,
    )
    fails(world.set_status(task.id, sc.TASK_DONE, [b]), sc.CONN_INVALID_REQUEST, "status_code")
    fails(world.set_status(task.id, 0, [b]), sc.CONN_INVALID_REQUEST, "status_code")


def test_input_samples_follow_sample_percentage(world: World) -> None:
    a, b, _ = world.workers
    world.add_inputs(*[f"more-{i}" for i in range(30)])
    task = world.create(
        worker={"strategy": "FULL", "user_ids": [a, b]},
        review={
            "strategy": "MANUAL",
            "user_ids": [world.reviewer],
            "manual_strategy_info": {"sample_percentage": 40},
        },
    )
    all_ids = [f"in-{i}" for i in range(6)] + [f"more-{i}" for i in range(30)]
    expected = [i for i in all_ids if is_sampled_for_review(task.id, i, 40)]
    assert 0 < len(expected) < len(all_ids)
    hits = ok(world.call("GetInputSamples", task_id=task.id)).hits
    assert [h.input.id for h in hits] == expected
    sampled, unsampled = expected[0], next(i for i in all_ids if i not in expected)
    world.annotate(a, sampled, task.id)
    world.annotate(a, unsampled, task.id)
    world.annotate(b, sampled, task.id)
    mine = ok(world.call("GetInputSamples", task_id=task.id, user_ids=[a])).hits
    assert [(h.input.id, h.annotation.user_id, h.annotation.task_id) for h in mine] == [(sampled, a, task.id)]
    both = ok(world.call("GetInputSamples", task_id=task.id)).hits
    assert sorted(h.annotation.user_id for h in both if h.input.id == sampled) == sorted([a, b])


def test_task_model_over_the_wire(world: World) -> None:
    """The shared read model sees what the API wrote (TaskRecord helpers, live inputs)."""
    a, b, c = world.workers
    world.create(
        id="tm",
        worker=partitioned([a, b, c], k=2, weights={a: 2, b: 1, c: 1}),
        review={"strategy": "CONSENSUS", "user_ids": [world.reviewer]},
    )
    with world.app.server.app.db.read() as conn:
        rec = load_task(conn, _app_pk(world), "tm")
        assert rec.worker_ids == (a, b, c) and rec.reviewer_ids == (world.reviewer,)
        assert rec.weights == {a: 2.0, b: 1.0, c: 1.0} and rec.workers_per_input == 2
        assert rec.strategy == r.TaskWorker.PARTITIONED and rec.review_strategy == r.TaskReview.CONSENSUS
        assert rec.is_open
        assert len(task_input_pks(conn, rec.app_pk, rec)) == 6
    ok(world.call("PatchTasks", action="merge", tasks=[r.Task(id="tm", status={"code": sc.TASK_DONE})]))
    with world.app.server.app.db.read() as conn:
        assert not load_task(conn, _app_pk(world), "tm").is_open
