"""The work queue through the official client on both channels: FULL, PARTITIONED (evenly and
weighted), DYNAMIC, leases, closed tasks, permissions, submission and manual review, and how
PatchTasks re-plans."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import json_format, struct_pb2
from sqlalchemy import insert, select

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings
from labeldesk.domain.assignment import plan_inputs
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import assignments as repo
from tests.helpers import IMG, AppFixture, Meta, fails, ok

A = s.PutTaskAssignmentsRequestAction
LEASE = 60.0  # seconds; tests let it run out with the ``clock`` fixture, never by sleeping


# --------------------------------------------------------------------------- a second server, short leases


@pytest.fixture(scope="module")
def fast_server(database_url: str, server: RunningServer) -> Iterator[RunningServer]:
    """Same database, but leases of LEASE seconds and source rescans on every short queue."""
    settings = Settings(lease_seconds=LEASE, source_rescan_seconds=0)
    running = RunningServer(build(database_url, settings=settings), "127.0.0.1", 0, 0).start()
    yield running
    running.stop()


@pytest.fixture
def fast_stub(fast_server: RunningServer, request: pytest.FixtureRequest) -> Any:
    """The fast server's stub on the same channel as the test's ``stub``."""
    if request.node.callspec.params["stub"] == "rest":
        return service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=fast_server.base_url))
    channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=fast_server.grpc_port)
    return service_pb2_grpc.V2Stub(channel)


# --------------------------------------------------------------------------- a team of labelers


@dataclass
class Team:
    app: AppFixture
    stub: Any
    workers: list[str]
    meta: dict[str, Meta]
    reviewer: str
    outsider: str
    transport: str
    task_id: str = "t"
    handed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def call(self, rpc: str, who: str | None = None, **fields: Any) -> Any:
        req = getattr(s, f"{rpc}Request")(user_app_id=self.app.uai, **fields)
        return getattr(self.stub, rpc)(req, metadata=self.meta[who] if who else self.app.meta)

    def add_inputs(self, *ids: str, dataset: str = "", **meta: Any) -> None:
        md = struct_pb2.Struct()
        md.update(meta)
        data = r.Data(image=r.Image(url=IMG), metadata=md)
        datasets = [dataset] if dataset else []
        ok(self.call("PostInputs", inputs=[r.Input(id=i, data=data, dataset_ids=datasets) for i in ids]))

    def create(self, worker: dict[str, Any], review: dict[str, Any] | None = None, **extra: Any) -> None:
        task = {
            "id": self.task_id,
            "type": "CONCEPTS_CLASSIFICATION",
            "concept_ids": ["cat"],
            "worker": worker,
            "review": review or {"strategy": "NONE"},
            "input_source": {"type": "ALL_INPUTS"},
            **extra,
        }
        if review and review.get("strategy") in ("MANUAL", "CONSENSUS"):
            task["review"] = {"user_ids": [self.reviewer], **review}
        ok(self.call("PostTasks", tasks=[json_format.ParseDict(task, r.Task())]))

    def patch(self, **changes: Any) -> Any:
        current = ok(self.call("GetTask", task_id=self.task_id)).task
        spec = json_format.MessageToDict(current, preserving_proto_field_name=True)
        for f in ("created_at", "modified_at", "status", "app_id", "user_id", "metrics"):
            spec.pop(f, None)
        spec["worker"] = {k: v for k, v in spec["worker"].items() if k not in ("users", "workers")}
        spec.update(changes)
        return self.call("PatchTasks", action="overwrite", tasks=[json_format.ParseDict(spec, r.Task())])

    def set_status(self, code: int) -> None:
        ok(
            self.call(
                "PatchTasks",
                action="merge",
                tasks=[r.Task(id=self.task_id, status=status_pb2.Status(code=code))],
            )
        )

    def put(self, who: str, action: int, **fields: Any) -> Any:
        return self.call("PutTaskAssignments", who, task_id=self.task_id, action=action, **fields)

    def start(self, who: str) -> list[str]:
        got = ok(self.put(who, A.LABEL_START)).task_assignments
        assert all(a.worker.user.id == who and a.status.code == sc.TASK_ASSIGNMENT_PENDING for a in got)
        ids = [a.input.id for a in got]
        assert len(ids) == len(set(ids)) <= 10
        self.handed[who].extend(ids)
        return ids

    def submit(self, who: str, input_id: str) -> r.TaskAssignment:
        return ok(self.put(who, A.LABEL_SUBMIT, input_id=input_id)).task_assignments[0]

    def drain(self, *who: str) -> dict[str, list[str]]:
        """Everyone pulls and submits, round-robin, until nobody gets anything."""
        done: dict[str, list[str]] = defaultdict(list)
        active = list(who or self.workers)
        while active:
            for w in list(active):
                got = self.start(w)
                if not got:
                    active.remove(w)
                for i in got:
                    self.submit(w, i)
                    done[w].append(i)
        return done

    def annotate(self, who: str, input_id: str) -> None:
        info = struct_pb2.Struct()
        info.update({"task_id": self.task_id})
        ann = r.Annotation(
            input_id=input_id,
            data=r.Data(concepts=[r.Concept(id="cat", value=1)]),
            annotation_info=info,
            status=status_pb2.Status(code=sc.ANNOTATION_PENDING),
        )
        ok(self.call("PostAnnotations", who, annotations=[ann]))

    def annotation_statuses(self, who: str) -> dict[str, int]:
        got = ok(self.call("ListAnnotations", user_ids=[who], task_id=self.task_id, per_page=100))
        return {a.input_id: a.status.code for a in got.annotations}

    def counts(self) -> dict[str, tuple[int, int, int, int]]:
        """GetTaskInputCount per worker: (pending, awaiting review, success, review denied)."""
        req = s.GetTaskCountRequest(user_app_id=self.app.uai, task_id=self.task_id)
        resp = ok(self.stub.GetTaskInputCount(req, metadata=self.app.meta))
        return {c.user_id: (c.pending, c.awaiting_review, c.success, c.review_denied) for c in resp.counts}


def make_team(stub: Any, app: AppFixture, n_workers: int = 3, transport: str = "grpc") -> Team:
    workers, meta = [], {}
    for i in range(n_workers):
        uid, m = app.new_user(f"w{i}")
        workers.append(uid)
        meta[uid] = m
    reviewer, meta[reviewer] = app.new_user("reviewer")
    outsider, meta[outsider] = app.new_user("outsider")
    team = Team(app, stub, workers, meta, reviewer, outsider, transport)
    ok(team.call("PostConcepts", concepts=[r.Concept(id="cat")]))
    return team


@pytest.fixture
def team(stub: Any, app: AppFixture, request: pytest.FixtureRequest) -> Team:
    return make_team(stub, app, transport=request.node.callspec.params["stub"])


def partitioned(users: list[str], k: int = 1, weights: dict[str, float] | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"type": "WEIGHTED" if weights else "EVENLY", "workers_per_input": k}
    if weights:
        info["weights"] = weights
    return {"strategy": "PARTITIONED", "user_ids": users, "partitioned_strategy_info": info}


def dynamic(users: list[str], k: int = 1) -> dict[str, Any]:
    return {"strategy": "DYNAMIC", "user_ids": users, "partitioned_strategy_info": {"workers_per_input": k}}


def per_input(done: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for w, ids in done.items():
        for i in ids:
            out[i].append(w)
    return out


def inputs(n: int, prefix: str = "in") -> list[str]:
    return [f"{prefix}-{i:03d}" for i in range(n)]


# --------------------------------------------------------------------------- strategies


def test_full_gives_every_worker_every_input_once(team: Team) -> None:
    team.add_inputs(*inputs(12))
    team.create({"strategy": "FULL", "user_ids": team.workers})
    first = team.start(team.workers[0])
    assert first == inputs(10), "the first ten inputs, in order"
    done = team.drain()
    assert {w: sorted(ids) for w, ids in done.items()} == {w: inputs(12) for w in team.workers}
    assert all(team.start(w) == [] for w in team.workers)


def test_partitioned_evenly_gives_each_input_to_exactly_k_workers(stub: Any, app: AppFixture) -> None:
    team = make_team(stub, app, n_workers=4)
    team.add_inputs(*inputs(60))
    team.create(partitioned(team.workers, k=2))
    done = team.drain()
    holders = per_input(done)
    assert sorted(holders) == inputs(60)
    assert all(len(ws) == len(set(ws)) == 2 for ws in holders.values())
    shares = Counter(w for ws in holders.values() for w in ws)
    assert all(15 <= n <= 45 for n in shares.values()), shares  # 30 each expected; Binomial spread


def test_partitioned_weighted_follows_weights_and_caps_at_one_per_input(team: Team) -> None:
    a, b, c = team.workers
    team.add_inputs(*inputs(80))
    # k=2: a's proportional share (2*90/100 = 1.8 inputs each) is capped at every input; b and c
    # share the other place evenly
    team.create(partitioned([a, b, c], k=2, weights={a: 90, b: 5, c: 5}))
    done = team.drain()
    holders = per_input(done)
    assert all(len(set(ws)) == 2 for ws in holders.values()) and len(holders) == 80
    assert sorted(done[a]) == inputs(80), "capped: a gets every input, i.e. 1/k of all assignments"
    assert 20 <= len(done[b]) <= 60 and len(done[b]) + len(done[c]) == 80


def test_partitioned_weighted_relative_weights(team: Team) -> None:
    a, b, c = team.workers
    team.add_inputs(*inputs(120))
    team.create(partitioned([a, b, c], k=1, weights={a: 6, b: 3, c: 1}))  # 60 % / 30 % / 10 %
    done = team.drain()
    assert sum(len(v) for v in done.values()) == 120
    # The server hands out exactly the pure weighted plan (whose shares are property-tested with
    # fixed ids in tests/unit/test_assignment.py); worker ids here are random, so exact shares vary.
    expected = plan_inputs(team.task_id, inputs(120), {a: 6.0, b: 3.0, c: 1.0}, 1)
    assert {i: ws[0] for i, ws in per_input(done).items()} == {i: ws[0] for i, ws in expected.items()}
    assert len(done[a]) > len(done[c]), {w: len(v) for w, v in done.items()}


def test_plan_is_stable_and_extends_to_inputs_added_later(team: Team) -> None:
    team.add_inputs(*inputs(20))
    team.create(partitioned(team.workers, k=1))
    before = {i: ws[0] for i, ws in per_input(team.drain()).items()}
    team.add_inputs(*inputs(15, "late"))
    after = per_input(team.drain())
    assert sorted(after) == inputs(15, "late"), "only the new inputs are handed out"
    assert all(len(ws) == 1 for ws in after.values())
    # the plan is the pure partition of (task id, input ids): where the old inputs went is fixed
    expected = plan_inputs(team.task_id, inputs(20), {w: 1.0 for w in team.workers}, 1)
    assert before == {i: ws[0] for i, ws in expected.items()}


def test_dynamic_hands_each_input_to_k_distinct_workers(team: Team) -> None:
    team.add_inputs(*inputs(25))
    team.create(dynamic(team.workers, k=2))
    done = team.drain()
    holders = per_input(done)
    assert sorted(holders) == inputs(25)
    assert all(len(ws) == len(set(ws)) == 2 for ws in holders.values()), holders


def test_dynamic_picks_up_inputs_added_later(team: Team) -> None:
    team.add_inputs(*inputs(5))
    team.create(dynamic(team.workers))
    assert sorted(i for ids in team.drain().values() for i in ids) == inputs(5)
    team.add_inputs("new-1", "new-2")
    assert sorted(i for ids in team.drain().values() for i in ids) == ["new-1", "new-2"]


def test_same_worker_resumes_own_unfinished_inputs_first(team: Team) -> None:
    a = team.workers[0]
    team.add_inputs(*inputs(25))
    for worker in ({"strategy": "FULL", "user_ids": [a]}, dynamic([a])):
        team.task_id = f"t-{worker['strategy']}"
        team.create(worker)
        first = team.start(a)
        assert team.start(a) == first, "asking again resumes the same ten"
        team.submit(a, first[0])
        again = team.start(a)
        assert again[:9] == first[1:] and again[9] not in first


def test_list_next_task_assignments_is_label_start(team: Team) -> None:
    a, b = team.workers[:2]
    team.add_inputs(*inputs(12))
    team.create(dynamic([a, b]))
    listed = ok(team.call("ListNextTaskAssignments", a, task_id=team.task_id)).inputs
    assert [i.id for i in listed] == inputs(10)
    assert listed[0].data.image.url == IMG
    assert team.start(b) == inputs(12)[10:], "a's ten are leased, b gets the rest"
    assert [i.id for i in ok(team.call("ListNextTaskAssignments", a, task_id=team.task_id)).inputs] == inputs(
        10
    )


def _dynamic_2(users: list[str]) -> dict[str, Any]:
    return dynamic(users, k=2)


@pytest.mark.parametrize(("strategy", "n_workers"), [(dynamic, 1), (_dynamic_2, 2), (partitioned, 1)])
def test_work_handed_out_shows_its_inputs_as_get_input_does(
    team: Team, strategy: Callable[[list[str]], dict[str, Any]], n_workers: int
) -> None:
    """LABEL_START reads concepts and datasets only for the inputs that have them: each input it
    hands out equals GetInput's, with and without concepts, metadata and datasets -- work taken
    from the pool (DYNAMIC, one or two workers per input: two ways of taking seats), planned for
    the worker (PARTITIONED) or handed out again (on PostgreSQL each is read by the statement
    that leases it)."""
    ok(team.call("PostDatasets", datasets=[r.Dataset(id="ds-b"), r.Dataset(id="ds-a")]))
    ok(team.call("PostConcepts", concepts=[r.Concept(id="dog", name="Dog")]))
    plain = r.Input(id="plain", data=r.Data(image=r.Image(url=IMG)))
    md = _struct(camera="left", n=2)
    concepts = [r.Concept(id="dog", value=1.0), r.Concept(id="bird", value=0.0)]
    rich = r.Input(
        id="rich",
        data=r.Data(image=r.Image(url=IMG), metadata=md, concepts=concepts),
        dataset_ids=["ds-a", "ds-b"],
    )
    one = r.Input(id="one", data=r.Data(image=r.Image(url=IMG)), dataset_ids=["ds-b"])
    ok(team.call("PostInputs", inputs=[plain, rich, one]))
    team.create(strategy(team.workers[:n_workers]))
    got = ok(team.put(team.workers[0], A.LABEL_START)).task_assignments
    assert sorted(a.input.id for a in got) == ["one", "plain", "rich"]
    for a in got:
        assert a.input == ok(team.call("GetInput", input_id=a.input.id)).input
        assert (a.status.code, a.worker.user.id) == (sc.TASK_ASSIGNMENT_PENDING, team.workers[0])
    assert {a.input.id: list(a.input.dataset_ids) for a in got}["rich"] == ["ds-b", "ds-a"]
    assert [c.name for a in got if a.input.id == "rich" for c in a.input.data.concepts]
    again = ok(team.put(team.workers[0], A.LABEL_START)).task_assignments  # resumed: leased anew
    assert [(a.id, a.input) for a in again] == [(a.id, a.input) for a in got]
    assert all(b.modified_at.ToDatetime() >= a.modified_at.ToDatetime() for a, b in zip(got, again))


def test_input_source_dataset_and_late_members(stub: Any, fast_stub: Any, app: AppFixture) -> None:
    team = make_team(fast_stub, app, n_workers=2)
    team.add_inputs("old-1", "old-2")
    ok(team.call("PostDatasets", datasets=[r.Dataset(id="ds")]))
    team.add_inputs(*inputs(4), dataset="ds")
    team.create(partitioned(team.workers), input_source={"type": "DATASET", "id": "ds"})
    assert sorted(i for ids in team.drain().values() for i in ids) == inputs(4)
    # an input older than everything planned joins the dataset: it is found and planned
    ok(
        team.call(
            "PostDatasetInputs", dataset_id="ds", dataset_inputs=[r.DatasetInput(input=r.Input(id="old-2"))]
        )
    )
    assert [i for ids in team.drain().values() for i in ids] == ["old-2"]


def test_input_source_saved_search_follows_the_search(stub: Any, fast_stub: Any, app: AppFixture) -> None:
    team = make_team(fast_stub, app, n_workers=2)
    team.add_inputs("blue-old", color="blue")
    team.add_inputs("red-1", color="red")
    reds = r.Query(filters=[r.Filter(input=r.Input(data=r.Data(metadata=_struct(color="red"))))])
    ok(team.call("PostSearches", searches=[r.Search(id="reds", save=True, query=reds)]))
    team.create(dynamic(team.workers), input_source={"type": "SAVED_SEARCH", "id": "reds"})
    assert [i for ids in team.drain().values() for i in ids] == ["red-1"]
    team.add_inputs("red-2", color="red")
    assert [i for ids in team.drain().values() for i in ids] == ["red-2"]
    # an older input starts matching the search: it joins the task too
    patched = r.Input(id="blue-old", data=r.Data(metadata=_struct(color="red")))
    ok(team.call("PatchInputs", action="merge", inputs=[patched]))
    assert [i for ids in team.drain().values() for i in ids] == ["blue-old"]


def _struct(**values: Any) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(values)
    return out


# ----------------------------------------------------------------------- inputs leaving the task's dataset

#: how an input leaves the task's dataset "ds": DeleteDatasetInputs, PatchInputs removing "ds" from
#: its dataset_ids, or PatchInputs overwriting its dataset_ids with another dataset's
LEAVE_BY = ["DeleteDatasetInputs", "PatchInputs-remove", "PatchInputs-overwrite"]


def _dataset_team(stub: Any, app: AppFixture, n_inputs: int, worker: Any) -> Team:
    """Two workers, ``n_inputs`` inputs in dataset "ds" (and a dataset "other"), and a task on "ds"
    made by ``worker([a, b])``."""
    team = make_team(stub, app, n_workers=2)
    ok(team.call("PostDatasets", datasets=[r.Dataset(id="ds"), r.Dataset(id="other")]))
    team.add_inputs(*inputs(n_inputs), dataset="ds")
    team.create(worker(team.workers), input_source={"type": "DATASET", "id": "ds"})
    return team


def _leave(team: Team, how: str, *ids: str) -> None:
    """Take inputs out of dataset "ds", as ``how`` (one of :data:`LEAVE_BY`) says."""
    if how == "DeleteDatasetInputs":
        ok(team.call("DeleteDatasetInputs", dataset_id="ds", input_ids=list(ids)))
    elif how == "PatchInputs-remove":
        ok(team.call("PatchInputs", action="remove", inputs=[r.Input(id=i, dataset_ids=["ds"]) for i in ids]))
    else:
        moved = [r.Input(id=i, dataset_ids=["other"]) for i in ids]
        ok(team.call("PatchInputs", action="overwrite", inputs=moved))
    members = ok(team.call("ListDatasetInputs", dataset_id="ds", per_page=100)).dataset_inputs
    assert not {d.input.id for d in members} & set(ids)


def _rejoin(team: Team, *ids: str) -> None:
    back = [r.DatasetInput(input=r.Input(id=i)) for i in ids]
    ok(team.call("PostDatasetInputs", dataset_id="ds", dataset_inputs=back))


def _full(users: list[str]) -> dict[str, Any]:
    return {"strategy": "FULL", "user_ids": users}


@pytest.mark.parametrize("how", LEAVE_BY)
@pytest.mark.parametrize("strategy", ["FULL", "PARTITIONED"])
def test_inputs_that_leave_the_dataset_are_not_handed_out_but_started_work_stays(
    stub: Any, app: AppFixture, strategy: str, how: str
) -> None:
    worker = _full if strategy == "FULL" else partitioned
    team = _dataset_team(stub, app, 20, worker)
    a, b = team.workers
    mine = team.start(a)  # every input is planned now; a has started (leased) these
    assert mine, "a has work"
    others = [i for i in inputs(20) if i not in mine]  # a's unstarted surplus and b's inputs
    unstarted_gone = others[::2]
    _leave(team, how, mine[0], *unstarted_gone)
    done = team.drain(b, a)
    assert not set(done[b]) & {mine[0], *unstarted_gone}, "b gets none of the inputs that left"
    assert set(mine) <= set(done[a]), "what a had started stays a's, mine[0] included"
    assert not set(done[a]) & set(unstarted_gone)
    assert set(done[a]) | set(done[b]) == set(inputs(20)) - set(unstarted_gone)
    if strategy == "FULL":
        assert sorted(done[b]) == sorted(set(inputs(20)) - {mine[0], *unstarted_gone})


@pytest.mark.parametrize("how", LEAVE_BY)
def test_dynamic_open_seats_of_inputs_that_leave_the_dataset_are_dropped(
    stub: Any, app: AppFixture, how: str
) -> None:
    team = _dataset_team(stub, app, 12, lambda users: dynamic(users, k=2))
    a, b = team.workers
    assert team.start(a) == inputs(10)  # a holds one seat of each; the other seats are OPEN
    x = inputs(12)
    _leave(team, how, x[0], x[11])  # x0: a started it; x11: nobody did
    assert team.start(b) == x[1:11], "neither x0's open seat nor x11 is handed out"
    done = team.drain(a, b)
    assert sorted(done[a]) == x[:11], "a resumes x0 and takes x10"
    assert sorted(done[b]) == x[1:11]


def test_deleting_the_dataset_drops_the_unstarted_seats_of_its_tasks(stub: Any, app: AppFixture) -> None:
    team = _dataset_team(stub, app, 12, _full)
    a, b = team.workers
    mine = team.start(a)
    assert mine == inputs(10)
    ok(team.call("DeleteDatasets", dataset_ids=["ds"]))
    req = s.GetTaskRequest(user_app_id=team.app.uai, task_id=team.task_id, additional_fields=["assignments"])
    listed = json_format.MessageToDict(ok(team.stub.GetTask(req, metadata=team.app.meta)).task.metadata)
    seats = {(i["input_id"], i["worker_id"]) for i in listed["assignments"]["items"]}
    assert seats == {(i, a) for i in mine}, "only the work a started is left; b's seats are gone"
    assert team.submit(a, mine[0]).status.code == sc.TASK_ASSIGNMENT_SUCCESS
    # a holds 9 started inputs, fewer than a LABEL_START hands out: the planner looks at the source
    assert team.start(a) == mine[1:], "started work is handed back though its source is gone"
    fails(team.put(b, A.LABEL_START), sc.CONN_DOES_NOT_EXIST, "dataset 'ds'", "PatchTasks")


@pytest.mark.parametrize("how", LEAVE_BY)
@pytest.mark.parametrize("strategy", ["FULL", "DYNAMIC"])
def test_an_input_added_back_to_the_dataset_is_handed_out_again(
    stub: Any, fast_stub: Any, app: AppFixture, strategy: str, how: str
) -> None:
    # the fast server rescans the source whenever a queue is short (source_rescan_seconds=0)
    team = _dataset_team(fast_stub, app, 12, _full if strategy == "FULL" else dynamic)
    a, b = team.workers
    x = inputs(12)
    for i in team.start(a):  # submitted at once: the fast server's DYNAMIC leases are short
        team.submit(a, i)
    _leave(team, how, x[10], x[11])  # nobody has started them
    handed = sorted(i for ids in team.drain(b, a).values() for i in ids)
    assert handed == (x[:10] if strategy == "FULL" else [])
    _rejoin(team, x[11])
    again = team.drain(a, b)
    if strategy == "FULL":
        assert again == {a: [x[11]], b: [x[11]]}
    else:
        assert [i for ids in again.values() for i in ids] == [x[11]]


def test_the_rescan_looks_at_the_dataset_only_when_inputs_joined_it_late(
    stub: Any, fast_stub: Any, app: AppFixture
) -> None:
    """A dataset task's rescan (here on every short queue) skips its look at the dataset while no
    input that existed before has joined it (``datasets.late_version``): a membership written
    behind the server's back is not found. One more older input joining through
    PostDatasetInputs moves the count, and the next rescan finds both."""
    team = make_team(fast_stub, app, n_workers=2)
    a, b = team.workers
    ok(team.call("PostDatasets", datasets=[r.Dataset(id="ds")]))
    team.add_inputs("old-1", "old-2")  # below every input of the dataset
    team.add_inputs(*inputs(4), dataset="ds")
    team.create(dynamic(team.workers), input_source={"type": "DATASET", "id": "ds"})
    assert sorted(i for ids in team.drain(a, b).values() for i in ids) == inputs(4)
    db = app.server.app.db
    with db.write() as conn:
        app_pk = _app_pk(conn, app)  # (other tests' apps have an 'old-1' too)
        old_1 = conn.execute(
            select(t.inputs.c.pk).where(t.inputs.c.app_pk == app_pk, t.inputs.c.id == "old-1")
        ).scalar_one()
        ds_pk = conn.execute(
            select(t.datasets.c.pk).where(t.datasets.c.id == "ds", t.datasets.c.app_pk == app_pk)
        ).scalar_one()
        conn.execute(insert(t.dataset_inputs).values(dataset_pk=ds_pk, input_pk=old_1, created_at=utcnow()))
    assert team.drain(a, b) == {}, "nothing joined through the API: the rescans skipped the dataset"
    _rejoin(team, "old-2")
    assert sorted(i for ids in team.drain(a, b).values() for i in ids) == ["old-1", "old-2"]


def _app_pk(conn: Any, app: AppFixture) -> int:
    q = select(t.apps.c.pk).where(t.apps.c.user_id == app.user_id, t.apps.c.id == app.app_id)
    return int(conn.execute(q).scalar_one())


# --------------------------------------------------------------------------- leases


def test_dynamic_lease_expires_and_the_input_returns_to_the_pool(
    stub: Any, fast_stub: Any, app: AppFixture, clock: Callable[[float], None]
) -> None:
    team = make_team(fast_stub, app, n_workers=2)
    a, b = team.workers
    team.add_inputs(*inputs(3))
    team.create(dynamic([a, b]))
    assert team.start(a) == inputs(3)
    team.submit(a, inputs(3)[0])
    assert team.start(b) == [], "leased to a"
    clock(LEASE + 1)
    assert sorted(team.start(b)) == inputs(3)[1:], "a's unsubmitted inputs went back to the pool"
    fails(
        team.put(a, A.LABEL_SUBMIT, input_id=inputs(3)[1]),
        sc.CONN_INVALID_REQUEST,
        "not assigned to",
        "lease ran out",
    )
    assert team.start(a) == []
    team.submit(b, inputs(3)[1])


def test_dynamic_work_whose_lease_ran_out_goes_out_before_the_pool(
    stub: Any, fast_stub: Any, app: AppFixture, clock: Callable[[float], None]
) -> None:
    """Seats whose lease ran out are the oldest unfinished work: a LABEL_START hands them out
    first, then fills up from the pool (on PostgreSQL the usual claim, which takes from the pool
    in one statement, must leave them alone)."""
    team = make_team(fast_stub, app, n_workers=2)
    a, b = team.workers
    ids = inputs(12)
    team.add_inputs(*ids)
    team.create(dynamic([a, b]))
    assert team.start(a) == ids[:10]
    for i in ids[:7]:
        team.submit(a, i)
    clock(LEASE + 1)
    assert team.start(b) == ids[7:10] + ids[10:], "a's three lapsed inputs first, then the pool's two"
    assert team.start(a) == [], "none left: a's lapsed work is b's now"


def test_expired_lease_stays_with_its_worker_until_someone_takes_it(
    stub: Any, fast_stub: Any, app: AppFixture, clock: Callable[[float], None]
) -> None:
    team = make_team(fast_stub, app, n_workers=2)
    a, _ = team.workers
    team.add_inputs("x")
    team.create(dynamic(team.workers))
    assert team.start(a) == ["x"]
    clock(LEASE + 1)
    assert team.submit(a, "x").status.code == sc.TASK_ASSIGNMENT_SUCCESS


def seats(team: Team) -> dict[tuple[str, str], str]:
    """The task's seats, (input, worker) -> status name, as GetTask lists them."""
    req = s.GetTaskRequest(user_app_id=team.app.uai, task_id=team.task_id, additional_fields=["assignments"])
    listed = json_format.MessageToDict(ok(team.stub.GetTask(req, metadata=team.app.meta)).task.metadata)
    return {(i["input_id"], i["worker_id"]): i["status"] for i in listed["assignments"]["items"]}


def test_a_submission_writes_its_seat_only_as_it_read_it(
    stub: Any, fast_stub: Any, fast_server: RunningServer, app: AppFixture, clock: Callable[[float], None]
) -> None:
    """PostgreSQL's usual LABEL_SUBMIT updates the seat, and moves the worker's annotations, in one
    statement that checks the seat is still the worker's and PENDING: here the lease runs out and
    another worker takes the input after the first one's seat was handed out."""
    db = fast_server.app.db
    if db.sqlite:
        pytest.skip("PostgreSQL's submissions (SQLite's hold the database's write lock throughout)")
    team = make_team(fast_stub, app, n_workers=2)
    a, b = team.workers
    team.add_inputs("x")
    team.create(dynamic([a, b]))
    assert team.start(a) == ["x"]
    team.annotate(a, "x")
    app_pk, task = _stored_task(db, app, team)

    def submit(worker: str) -> bool:
        return _submit_pending(db, app_pk, team, task, "x", worker) is not None

    clock(LEASE + 1)
    assert team.start(b) == ["x"], "a's lease ran out: b took the input"
    assert not submit(a), "the seat is b's now"
    assert team.annotation_statuses(a) == {"x": sc.ANNOTATION_PENDING}, "a's annotations did not move"
    assert seats(team) == {("x", b): "TASK_ASSIGNMENT_PENDING"}
    assert submit(b)
    assert seats(team) == {("x", b): "TASK_ASSIGNMENT_SUCCESS"}
    assert not submit(b), "submitted before: no longer pending"


def _submit_pending(
    db: Any, app_pk: int, team: Team, task: tuple[int, int, bytes], input_id: str, worker: str
) -> Any:
    """``repo.submit_pending_seat`` to SUCCESS of the worker's PENDING annotations, as decided from
    the stored ``task``."""
    with db.write() as conn:
        return repo.submit_pending_seat(
            conn,
            app_pk,
            team.task_id,
            task,
            input_id,
            worker,
            sc.TASK_ASSIGNMENT_SUCCESS,
            utcnow(),
            (sc.ANNOTATION_PENDING,),
            sc.ANNOTATION_SUCCESS,
        )


def _stored_task(db: Any, app: AppFixture, team: Team) -> tuple[int, tuple[int, int, bytes]]:
    """The app's pk and the task's stored ``(pk, status, spec)``."""
    with db.write() as conn:
        (app_pk,) = conn.exec_driver_sql("SELECT pk FROM apps WHERE id = %s", (app.app_id,)).one()
        row = conn.exec_driver_sql(
            "SELECT pk, status, spec FROM tasks WHERE app_pk = %s AND id = %s", (app_pk, team.task_id)
        ).one()
    return app_pk, (row[0], row[1], bytes(row[2]))


def test_a_one_statement_submission_checks_the_task_and_the_seat(
    stub: Any, fast_stub: Any, fast_server: RunningServer, app: AppFixture
) -> None:
    """PostgreSQL's commonest submission is one statement, decided from the task as this process
    last read it: it writes nothing unless the task is still stored so and the worker's seat is
    still PENDING; then the seat and the worker's annotations on the input move together."""
    db = fast_server.app.db
    if db.sqlite:
        pytest.skip("PostgreSQL's submissions (SQLite's hold the database's write lock throughout)")
    team = make_team(fast_stub, app, n_workers=2)
    a, b = team.workers
    team.add_inputs("x", "y")
    team.create(dynamic([a, b]))
    assert sorted(team.start(a)) == ["x", "y"]
    team.annotate(a, "x")
    app_pk, task = _stored_task(db, app, team)

    def submit(input_id: str, worker: str, stored: tuple[int, int, bytes]) -> Any:
        return _submit_pending(db, app_pk, team, stored, input_id, worker)

    assert submit("x", a, (task[0], task[1], task[2] + b"changed")) is None, "the task is not stored so"
    assert submit("x", a, (task[0], sc.TASK_DONE, task[2])) is None, "nor with that status"
    assert submit("x", b, task) is None, "b has no seat on x"
    assert submit("ghost", a, task) is None
    assert team.annotation_statuses(a) == {"x": sc.ANNOTATION_PENDING}
    assert seats(team) == {("x", a): "TASK_ASSIGNMENT_PENDING", ("y", a): "TASK_ASSIGNMENT_PENDING"}
    done = submit("x", a, task)
    assert done is not None and done[2:] == ("", None), "(pk, created_at, comment, reviewer_id)"
    assert team.annotation_statuses(a) == {"x": sc.ANNOTATION_SUCCESS}, "moved with the seat"
    assert seats(team)[("x", a)] == "TASK_ASSIGNMENT_SUCCESS"
    assert submit("x", a, task) is None, "no longer PENDING: a re-submission goes the other way"
    assert team.submit(a, "x").status.code == sc.TASK_ASSIGNMENT_SUCCESS, "and is answered as before"


def test_partitioned_work_is_not_taken_away_when_the_lease_runs_out(
    stub: Any, fast_stub: Any, app: AppFixture, clock: Callable[[float], None]
) -> None:
    team = make_team(fast_stub, app, n_workers=2)
    a, b = team.workers
    team.add_inputs(*inputs(6))
    team.create({"strategy": "FULL", "user_ids": [a, b]})
    assert team.start(a) == inputs(6)
    clock(LEASE + 1)
    assert team.start(a) == inputs(6)


# ---------------------------------------------------------------- closed tasks, permissions, errors


@pytest.mark.parametrize("code", [sc.TASK_DONE, sc.TASK_WONT_DO, sc.TASK_IDLE])
def test_closed_task_hands_out_nothing(team: Team, code: int) -> None:
    a = team.workers[0]
    team.add_inputs(*inputs(3))
    team.create(dynamic([a]))
    started = team.start(a)
    team.set_status(code)
    resp = ok(team.put(a, A.LABEL_START))
    assert list(resp.task_assignments) == []
    assert sc.StatusCode.Name(code) in resp.status.description
    listed = ok(team.call("ListNextTaskAssignments", a, task_id=team.task_id))
    assert list(listed.inputs) == [] and "no new work" in listed.status.description
    assert team.submit(a, started[0]).status.code == sc.TASK_ASSIGNMENT_SUCCESS, (
        "handed-out work can be submitted"
    )
    team.set_status(sc.TASK_IN_PROGRESS)
    assert team.start(a) == started[1:]


def test_only_workers_label_and_only_reviewers_review(team: Team) -> None:
    a = team.workers[0]
    team.add_inputs("x")
    team.create(
        dynamic([a]), review={"strategy": "MANUAL", "manual_strategy_info": {"sample_percentage": 100}}
    )
    for who in (team.outsider, team.reviewer):
        fails(team.put(who, A.LABEL_START), sc.TASK_PERMISSION_DENIED, who, "worker.user_ids")
        fails(team.call("ListNextTaskAssignments", who, task_id=team.task_id), sc.TASK_PERMISSION_DENIED)
        fails(team.put(who, A.LABEL_SUBMIT, input_id="x"), sc.TASK_PERMISSION_DENIED)
    fails(team.put(team.outsider, A.LABEL_START), sc.TASK_PERMISSION_DENIED)
    for action in (A.REVIEW_START, A.REVIEW_APPROVE, A.REVIEW_REJECT):
        fails(team.put(a, action, input_id="x"), sc.TASK_PERMISSION_DENIED, "review.user_ids")


def test_bad_requests_say_what_to_fix(team: Team) -> None:
    a, b = team.workers[:2]
    team.add_inputs(*inputs(10))
    team.create(partitioned([a, b], k=1))
    if team.transport == "grpc":  # the REST client cannot even build the path without a task id
        fails(team.call("PutTaskAssignments", a, action=A.LABEL_START), sc.CONN_INVALID_REQUEST, "task_id")
    fails(team.call("PutTaskAssignments", a, task_id="nope", action=A.LABEL_START), sc.TASK_MISSING, "nope")
    fails(
        team.put(a, A.PUT_TASK_ASSIGNMENTS_REQUEST_ACTION_NOT_SET),
        sc.CONN_INVALID_REQUEST,
        "action",
        "LABEL_START",
    )
    fails(team.put(a, A.LABEL_SUBMIT), sc.CONN_INVALID_REQUEST, "input_id")
    fails(team.put(a, A.LABEL_SUBMIT, input_id="ghost"), sc.CONN_DOES_NOT_EXIST, "ghost")
    mine = team.start(a) + team.start(b)
    theirs = team.handed[b][0]
    fails(team.put(a, A.LABEL_SUBMIT, input_id=theirs), sc.CONN_INVALID_REQUEST, theirs, "not assigned to")
    fails(
        team.put(
            a,
            A.LABEL_SUBMIT,
            label_submit_config=s.LabelSubmitConfig(task_assignments=[r.TaskAssignment(id="x1")]),
        ),
        sc.CONN_INVALID_REQUEST,
        "task_assignments[0].id",
    )
    assert sorted(mine) == inputs(10)


# --------------------------------------------------------------------------- submit and review


def test_a_submission_follows_the_task_as_stored_now(team: Team) -> None:
    """A LABEL_SUBMIT reads the task with the worker's seats in one query when the server has seen
    the task before: a review strategy changed since (to CONSENSUS too, whose seats are locked
    another way), a task deleted since and a task that was never seen all answer as stored."""
    a, b = team.workers[:2]
    MANUAL_ALL = {"manual_strategy_info": {"sample_percentage": 1}}  # review every submission
    team.add_inputs(*inputs(6))
    team.create(dynamic([a, b], k=2))
    mine = team.start(a)
    team.start(b)
    assert team.submit(a, mine[0]).status.code == sc.TASK_ASSIGNMENT_SUCCESS
    ok(team.patch(review={"strategy": "MANUAL", "user_ids": [team.reviewer], **MANUAL_ALL}))
    assert team.submit(a, mine[1]).status.code == sc.TASK_ASSIGNMENT_AWAITING_REVIEW
    consensus = {"approval_threshold_labelers": 2, "approval_threshold_reviewers": 1}
    ok(
        team.patch(
            review={
                "strategy": "CONSENSUS",
                "user_ids": [team.reviewer],
                "consensus_strategy_info": consensus,
            }
        )
    )
    assert team.submit(a, mine[2]).status.code == sc.TASK_ASSIGNMENT_AWAITING_CONSENSUS_REVIEW
    assert team.submit(b, mine[2]).status.code in (sc.TASK_ASSIGNMENT_SUCCESS, sc.TASK_ASSIGNMENT_REJECTED)
    ok(team.patch(review={"strategy": "NONE"}))
    fails(team.put(a, A.LABEL_SUBMIT, input_id="ghost"), sc.CONN_DOES_NOT_EXIST, "ghost")
    fails(team.put(team.reviewer, A.LABEL_SUBMIT, input_id=mine[3]), sc.TASK_PERMISSION_DENIED)
    assert team.submit(a, mine[3]).status.code == sc.TASK_ASSIGNMENT_SUCCESS
    ok(team.call("DeleteTasks", ids=[team.task_id]))
    fails(team.put(a, A.LABEL_SUBMIT, input_id=mine[4]), sc.TASK_MISSING, team.task_id)
    team.create(dynamic([a]))  # the same id, a new task: nothing of the old one's is a's
    fails(team.put(a, A.LABEL_SUBMIT, input_id=mine[4]), sc.CONN_INVALID_REQUEST, "not assigned to")
    team.task_id = "never-seen"
    fails(team.put(a, A.LABEL_SUBMIT, input_id=mine[4]), sc.TASK_MISSING, "never-seen")


def test_submit_without_review_is_success_and_moves_annotations(team: Team) -> None:
    a = team.workers[0]
    team.add_inputs(*inputs(2))
    team.create(dynamic([a]))
    got = ok(team.put(a, A.LABEL_START)).task_assignments
    team.annotate(a, got[0].input.id)
    assert team.annotation_statuses(a) == {got[0].input.id: sc.ANNOTATION_PENDING}
    # submit by assignment id (label_submit_config) rather than input_id
    done = ok(
        team.put(
            a,
            A.LABEL_SUBMIT,
            label_submit_config=s.LabelSubmitConfig(task_assignments=[r.TaskAssignment(id=got[0].id)]),
        )
    ).task_assignments
    assert [(x.id, x.input.id, x.status.code) for x in done] == [
        (got[0].id, got[0].input.id, sc.TASK_ASSIGNMENT_SUCCESS)
    ]
    assert team.annotation_statuses(a) == {got[0].input.id: sc.ANNOTATION_SUCCESS}
    assert team.submit(a, got[0].input.id).status.code == sc.TASK_ASSIGNMENT_SUCCESS, "a retry is harmless"
    assert team.counts()[a] == (1, 0, 1, 0)


def test_manual_review_approve_request_changes_reject(team: Team) -> None:
    a, b, _ = team.workers
    rv = team.reviewer
    team.add_inputs(*inputs(3))
    team.create(
        partitioned([a, b], k=1, weights={a: 1000, b: 1}),
        review={"strategy": "MANUAL", "manual_strategy_info": {"sample_percentage": 100}},
    )
    mine = team.start(a)
    assert sorted(mine) == inputs(3), "practically all of them go to a"
    for i in mine:
        team.annotate(a, i)
        assert team.submit(a, i).status.code == sc.TASK_ASSIGNMENT_AWAITING_REVIEW
    assert set(team.annotation_statuses(a).values()) == {sc.ANNOTATION_AWAITING_REVIEW}
    queue = ok(team.put(rv, A.REVIEW_START)).task_assignments
    assert sorted(x.input.id for x in queue) == inputs(3)
    assert {(x.worker.user.id, x.status.code) for x in queue} == {(a, sc.TASK_ASSIGNMENT_AWAITING_REVIEW)}
    x0, x1, x2 = inputs(3)
    # approve
    approved = ok(team.put(rv, A.REVIEW_APPROVE, input_id=x0)).task_assignments
    assert [(x.input.id, x.status.code) for x in approved] == [(x0, sc.TASK_ASSIGNMENT_SUCCESS)]
    fails(team.put(rv, A.REVIEW_APPROVE, input_id=x0), sc.CONN_INVALID_REQUEST, "no work", "awaiting review")
    # request changes: back to a, first in a's queue, annotations pending again
    back = ok(
        team.put(
            rv,
            A.REVIEW_REQUEST_CHANGES,
            input_id=x1,
            review_request_changes_config=s.ReviewRequestChangesConfig(workers=[r.Worker(user=r.User(id=a))]),
        )
    ).task_assignments
    assert [(x.input.id, x.status.code) for x in back] == [(x1, sc.TASK_ASSIGNMENT_PENDING)]
    assert team.annotation_statuses(a)[x1] == sc.ANNOTATION_PENDING
    assert team.start(a) == [x1]
    assert team.submit(a, x1).status.code == sc.TASK_ASSIGNMENT_AWAITING_REVIEW
    # reject: denied, and the input goes back to the pool -- to b, the only other worker
    rejected = ok(team.put(rv, A.REVIEW_REJECT, input_id=x2)).task_assignments
    assert [(x.input.id, x.status.code) for x in rejected] == [(x2, sc.TASK_ASSIGNMENT_REJECTED)]
    assert team.annotation_statuses(a)[x2] == sc.ANNOTATION_REVIEW_DENIED
    fails(team.put(a, A.LABEL_SUBMIT, input_id=x2), sc.CONN_INVALID_REQUEST, "TASK_ASSIGNMENT_REJECTED")
    assert team.start(b) == [x2]
    assert team.start(a) == []
    assert team.counts()[a] == (0, 1, 1, 1)


def test_dynamic_reject_reopens_the_input_for_another_worker(team: Team) -> None:
    a, b, _ = team.workers
    rv = team.reviewer
    team.add_inputs("x")
    team.create(
        dynamic([a, b]), review={"strategy": "MANUAL", "manual_strategy_info": {"sample_percentage": 100}}
    )
    assert team.start(a) == ["x"]
    team.submit(a, "x")
    assert team.start(b) == []
    ok(team.put(rv, A.REVIEW_START))
    ok(team.put(rv, A.REVIEW_REJECT, input_id="x"))
    assert team.start(a) == [], "never the same worker twice"
    assert team.start(b) == ["x"]


def test_reviewers_do_not_get_the_same_inputs(stub: Any, app: AppFixture) -> None:
    team = make_team(stub, app, n_workers=1)
    a = team.workers[0]
    rv2, team.meta["rv2"] = app.new_user("rv2")
    team.meta[rv2] = team.meta["rv2"]
    team.add_inputs(*inputs(14))
    team.create(
        {"strategy": "FULL", "user_ids": [a]},
        review={
            "strategy": "MANUAL",
            "user_ids": [team.reviewer, rv2],
            "manual_strategy_info": {"sample_percentage": 100},
        },
    )
    team.drain()
    first = [x.input.id for x in ok(team.put(team.reviewer, A.REVIEW_START)).task_assignments]
    second = [x.input.id for x in ok(team.put(rv2, A.REVIEW_START)).task_assignments]
    assert len(first) == 10 and sorted(first + second) == inputs(14)
    assert [x.input.id for x in ok(team.put(team.reviewer, A.REVIEW_START)).task_assignments] == first


# --------------------------------------------------------------------------- PatchTasks re-plans


def test_removing_a_worker_moves_only_their_unsubmitted_work(team: Team) -> None:
    a, b, c = team.workers
    team.add_inputs(*inputs(30))
    team.create(partitioned([a, b, c], k=1))
    plan = {w: team.start(w) for w in team.workers}  # the whole task is planned by now
    c_done = plan[c][:2]
    for i in c_done:
        team.submit(c, i)
    ok(team.patch(worker=partitioned([a, b], k=1)))
    fails(team.put(c, A.LABEL_START), sc.TASK_PERMISSION_DENIED)
    done = team.drain(a, b)
    assert set(plan[a]) <= set(done[a]) and set(plan[b]) <= set(done[b]), "a's and b's work stayed theirs"
    assert sorted(done[a] + done[b] + c_done) == inputs(30), "c's unsubmitted inputs moved, the rest stayed"
    assert not set(done[a]) & set(done[b])


def test_adding_a_worker_to_a_full_task_and_raising_workers_per_input(team: Team) -> None:
    a, b, c = team.workers
    team.add_inputs(*inputs(8))
    team.create({"strategy": "FULL", "user_ids": [a, b]})
    team.start(a)
    ok(team.patch(worker={"strategy": "FULL", "user_ids": [a, b, c]}))
    assert sorted(team.start(c)) == inputs(8)
    team.task_id = "t-k"
    team.create(dynamic([a, b, c], k=1))
    assert team.drain(a) == {a: inputs(8)}
    ok(team.patch(worker=dynamic([a, b, c], k=2)))
    holders = per_input(team.drain(b, c))
    assert sorted(holders) == inputs(8) and all(len(ws) == 1 for ws in holders.values())


def test_nobody_reviews_their_own_labels(team: Team) -> None:
    a, b, _ = team.workers
    team.add_inputs("x", "y")
    manual = {"strategy": "MANUAL", "user_ids": [a, b], "manual_strategy_info": {"sample_percentage": 100}}
    team.create({"strategy": "FULL", "user_ids": [a]}, review=manual)
    team.drain(a)
    assert ok(team.put(a, A.REVIEW_START)).task_assignments == []
    fails(team.put(a, A.REVIEW_APPROVE, input_id="x"), sc.CONN_INVALID_REQUEST, "their own work")
    assert sorted(x.input.id for x in ok(team.put(b, A.REVIEW_START)).task_assignments) == ["x", "y"]
    ok(team.put(b, A.REVIEW_APPROVE, input_id="x"))


def test_removing_a_dynamic_worker_returns_their_leased_inputs_to_the_pool(team: Team) -> None:
    a, b, _ = team.workers
    team.add_inputs(*inputs(12))
    team.create(dynamic([a, b]))
    taken = team.start(a)
    team.submit(a, taken[0])
    assert team.start(b) == inputs(12)[10:]
    ok(team.patch(worker=dynamic([b])))
    assert team.start(b) == inputs(12)[10:] + taken[1:9], "b resumes its own, then takes a's unsubmitted ones"


# --------------------------------------------------------------------------- listing the queue


def test_assignments_are_listable_per_task_worker_and_input(team: Team) -> None:
    team.add_inputs(*inputs(3))
    team.create(partitioned(team.workers, k=2))
    # the plan may give one of three workers nothing: take the first who has work
    worker, mine = next((w, got) for w in team.workers if (got := team.start(w)))
    team.submit(worker, mine[0])
    req = s.GetTaskRequest(user_app_id=team.app.uai, task_id=team.task_id, additional_fields=["assignments"])
    listed = json_format.MessageToDict(ok(team.stub.GetTask(req, metadata=team.app.meta)).task.metadata)
    items = listed["assignments"]["items"]
    assert listed["assignments"]["truncated"] is False and listed["assignments"]["total"] == len(items)
    status = {(i["input_id"], i["worker_id"]): i["status"] for i in items}
    assert status[(mine[0], worker)] == "TASK_ASSIGNMENT_SUCCESS"
    assert all(status[(i, worker)] == "TASK_ASSIGNMENT_PENDING" for i in mine[1:])
    per_input = defaultdict(set)
    for input_id, w in status:
        per_input[input_id].add(w)
    assert all(len(ws) <= 2 for ws in per_input.values()), "never more than workers_per_input per input"
