"""The documented task examples, replayed unchanged (base URL, keys and ids aside).

Sources: Clarifai's "Tasks" guide (cURL and JavaScript examples: POST/GET/PATCH/DELETE on the
short route ``/v2/tasks`` with an app key, and the JavaScript variants with a personal access
token, ``user_app_id`` in the body and ``/v2/users/me/apps/{app}/tasks`` for GETs) and the "Task
Annotations" guide (an annotation posted with ``annotation_info.task_id``).

Every example is run four ways: raw HTTP JSON as curl sends it (app key, short route), raw HTTP as
the JavaScript examples send it (PAT), and through the official ``clarifai-grpc`` client on its
JSON channel and on gRPC (the example body parsed into the request message). After each write,
what is stored (the ``tasks`` row, its spec and ``task_users``) is checked, not only the answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import json_format
from sqlalchemy import select

from labeldesk.storage import tables as t
from tests.helpers import AppFixture

# --------------------------------------------------------------------------- the examples, verbatim

NON_ASSIGNED = """
{
"tasks": [
{
"type": "CONCEPTS_CLASSIFICATION",
"name": "Annotate {{concept_id}}",
"worker": {
"strategy": "FULL"
},
"concept_ids": [
"{{concept_id}}"
],
"input_source": {
"type": "ALL_INPUTS"
},
"sample_ms": 1000,
"review": {
"strategy": "NONE"
}
}
]
}"""

ASSIGNED = """
{
"tasks": [
{
"type": "CONCEPTS_CLASSIFICATION",
"name": "Annotate {{concept_id}}",
"worker": {
"strategy": "FULL",
"user_ids": [
"{{worker_user_id}}"
]
},
"concept_ids": [
"{{concept_id}}"
],
"input_source": {
"type": "ALL_INPUTS"
},
"sample_ms": 1000,
"review": {
"strategy": "MANUAL",
"manual_strategy_info": {
"sample_percentage": 0.5
},
"user_ids": [
"{{reviewer_user_id}}"
]
}
}
]
}"""

PARTITIONED = """
{
"tasks": [
{
"type": "CONCEPTS_CLASSIFICATION",
"name": "Annotate {{concept_id}}",
"worker": {
"strategy": "PARTITIONED",
"user_ids": ["{{user_id1}}", "{{user_id2}}"],
"partitioned_strategy_info": {
"type": "WEIGHTED",
"workers_per_input": 1,
"weights": {
"{{user_id1}}": 90,
"{{user_id2}}": 10
}
}
},
"concept_ids": [
"{{concept_id}}"
],
"input_source": {
"type": "ALL_INPUTS"
},
"sample_ms": 1000,
"review": {
"strategy": "NONE"
}
}
]
}"""

CONSENSUS = """
{
"tasks": [
{
"type": "CONCEPTS_CLASSIFICATION",
"name": "Annotate {{concept_id}}",
"worker": {
"strategy": "PARTITIONED",
"user_ids": ["{{user_id1}}", "{{user_id2}}", "{{user_id3}}"],
"partitioned_strategy_info": {
"type": "WEIGHTED",
"workers_per_input": 1,
"weights": {
"{{user_id1}}": 1,
"{{user_id2}}": 1,
"{{user_id3}}": 1
}
}
},
"concept_ids": [
"{{concept_id}}"
],
"input_source": {
"type": "ALL_INPUTS"
},
"sample_ms": 1000,
"review": {
"strategy": "CONSENSUS",
"consensus_strategy_info": {
"approval_threshold": 2
},
"user_ids": [
"{{user_id4}}"
]
}
}
]
}"""

UPDATE = """
{
"action": "overwrite",
"tasks": [
{
"id": "{{task_id}}",
"type": "CONCEPTS_CLASSIFICATION",
"name": "Annotate {{concept_id}}",
"worker": {
"strategy": "PARTITIONED",
"user_ids": ["{{user_id1}}", "{{user_id2}}"],
"partitioned_strategy_info": {
"type": "WEIGHTED",
"workers_per_input": 1,
"weights": {
"{{user_id1}}": 1,
"{{user_id2}}": 1
}
}
},
"concept_ids": [
"{{concept_id}}"
],
"input_source": {
"type": "ALL_INPUTS"
},
"sample_ms": 1000,
"review": {
"strategy": "CONSENSUS",
"consensus_strategy_info": {
"approval_threshold": 2
},
"user_ids": [
"{{user_id3}}"
]
},
"status": {
"code": "TASK_DONE"
}
}
]
}"""

DELETE = """
{
"ids":["{{task_id}}"]
}"""

TASK_ANNOTATION = """
{
  "annotations": [
    {
      "input_id": "{{asset_id}}",
      "data": {
        "concepts": [
          {
            "id": "tree",
            "value": 1
          },
          {
            "id": "water",
            "value": 0
          }
        ]
      },
      "annotation_info": {
        "task_id": "{{task_id}}"
      }
    }
  ]
}"""

MODES = ["curl", "javascript", "client-rest", "client-grpc"]


def fill(template: str, **values: str) -> dict[str, Any]:
    text = template
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    assert "{{" not in text, text
    body: dict[str, Any] = json.loads(text)
    return body


# --------------------------------------------------------------------------- four ways to send them


@dataclass
class Replay:
    """Sends an example the way one kind of client does; answers the response as a JSON dict."""

    mode: str
    app: AppFixture
    stubs: dict[str, Any]

    @property
    def raw(self) -> bool:
        return self.mode in ("curl", "javascript")

    def _http(
        self, method: str, path: str, body: dict[str, Any] | None, params: Any = None
    ) -> dict[str, Any]:
        key = self.app.app_key if self.mode == "curl" else self.app.pat
        headers = {"Authorization": f"Key {key}", "Content-Type": "application/json"}
        if self.mode == "javascript" and body is not None:
            body = {"user_app_id": {"user_id": self.app.user_id, "app_id": self.app.app_id}, **body}
        resp = requests.request(
            method,
            self.app.server.base_url + path,
            headers=headers,
            data=json.dumps(body) if body is not None else None,
            params=params,
            timeout=10,
        )
        out: dict[str, Any] = resp.json()
        assert resp.status_code == 200 and out["status"]["code"] == sc.SUCCESS, resp.text
        return out

    def _client(self, rpc: str, req_cls: Any, body: dict[str, Any]) -> dict[str, Any]:
        req = json_format.ParseDict(body, req_cls())
        resp = getattr(self.stubs[self.mode], rpc)(req, metadata=self.app.key_meta)
        assert resp.status.code == sc.SUCCESS, resp.status
        return dict(json_format.MessageToDict(resp, preserving_proto_field_name=True))

    def send(self, rpc: str, method: str, body: dict[str, Any], req_cls: Any, path: str) -> dict[str, Any]:
        if self.raw:
            return self._http(method, path, body)
        return self._client(rpc, req_cls, body)

    def get_task(self, task_id: str) -> dict[str, Any]:
        if self.mode == "curl":
            return self._http("GET", f"/v2/tasks/{task_id}", None)
        if self.mode == "javascript":
            return self._http("GET", f"/v2/users/me/apps/{self.app.app_id}/tasks/{task_id}", None)
        return self._client("GetTask", s.GetTaskRequest, {"task_id": task_id})

    def list_tasks(self, query: str = "", **fields: list[str]) -> dict[str, Any]:
        if self.mode == "curl":
            return self._http("GET", f"/v2/tasks{query}", None)
        if self.mode == "javascript":
            return self._http("GET", f"/v2/users/me/apps/{self.app.app_id}/tasks{query}", None)
        return self._client("ListTasks", s.ListTasksRequest, fields)


@pytest.fixture(params=MODES)
def replay(request: pytest.FixtureRequest, app: AppFixture, rest_stub: Any, grpc_stub: Any) -> Replay:
    return Replay(request.param, app, {"client-rest": rest_stub, "client-grpc": grpc_stub})


@dataclass
class Stored:
    spec: r.Task
    status: int
    users: set[tuple[str, str, float]]


def stored(app: AppFixture, task_id: str) -> Stored | None:
    with app.server.app.db.read() as conn:
        row = conn.execute(
            select(t.tasks)
            .join(t.apps, t.apps.c.pk == t.tasks.c.app_pk)
            .where(t.apps.c.user_id == app.user_id, t.apps.c.id == app.app_id, t.tasks.c.id == task_id)
        ).first()
        if row is None:
            return None
        users = conn.execute(
            select(t.task_users.c.user_id, t.task_users.c.role, t.task_users.c.weight).where(
                t.task_users.c.task_pk == row.pk
            )
        ).all()
    return Stored(r.Task.FromString(row.spec), row.status, {(u, role, w) for u, role, w in users})


@dataclass
class Setup:
    users: list[str]
    ids: dict[str, str]


@pytest.fixture
def setup(replay: Replay) -> Setup:
    app = replay.app
    users = [app.new_user(f"u{i}")[0] for i in range(1, 5)]
    concepts = {"concepts": [{"id": "tree"}, {"id": "water"}]}
    inputs = {
        "inputs": [{"id": "asset-1", "data": {"image": {"url": "https://samples.clarifai.com/dog.jpg"}}}]
    }
    replay.send("PostConcepts", "POST", concepts, s.PostConceptsRequest, "/v2/concepts")
    replay.send("PostInputs", "POST", inputs, s.PostInputsRequest, "/v2/inputs")
    ids = {
        "concept_id": "tree",
        "worker_user_id": users[0],
        "reviewer_user_id": users[3],
        "user_id1": users[0],
        "user_id2": users[1],
        "user_id3": users[2],
        "user_id4": users[3],
        "asset_id": "asset-1",
    }
    return Setup(users, ids)


def post(replay: Replay, template: str, setup: Setup) -> str:
    body = fill(template, **setup.ids)
    resp = replay.send("PostTasks", "POST", body, s.PostTasksRequest, "/v2/tasks")
    task = resp["tasks"][0]
    assert task["id"] and task["name"] == "Annotate tree"
    return str(task["id"])


# --------------------------------------------------------------------------- the examples


def test_non_assigned_task(replay: Replay, setup: Setup) -> None:
    task_id = post(replay, NON_ASSIGNED, setup)
    got = stored(replay.app, task_id)
    assert got is not None
    assert got.status == sc.TASK_IN_PROGRESS and got.users == set()
    spec = got.spec
    assert (spec.type, spec.name, spec.sample_ms) == (r.Task.CONCEPTS_CLASSIFICATION, "Annotate tree", 1000)
    assert spec.worker.strategy == r.TaskWorker.FULL and not spec.worker.user_ids
    assert list(spec.concept_ids) == ["tree"] and spec.concepts[0].concept.id == "tree"
    assert spec.input_source.type == r.TaskInputSource.ALL_INPUTS
    assert spec.review.strategy == r.TaskReview.NONE


def test_assigned_task(replay: Replay, setup: Setup) -> None:
    task_id = post(replay, ASSIGNED, setup)
    got = stored(replay.app, task_id)
    assert got is not None
    worker, reviewer = setup.ids["worker_user_id"], setup.ids["reviewer_user_id"]
    assert got.users == {(worker, "worker", 1.0), (reviewer, "reviewer", 1.0)}
    assert list(got.spec.worker.user_ids) == [worker] and [u.id for u in got.spec.worker.users] == [worker]
    assert got.spec.review.strategy == r.TaskReview.MANUAL
    assert got.spec.review.manual_strategy_info.sample_percentage == pytest.approx(0.5)
    assert list(got.spec.review.user_ids) == [reviewer]


def test_partitioned_task(replay: Replay, setup: Setup) -> None:
    task_id = post(replay, PARTITIONED, setup)
    got = stored(replay.app, task_id)
    assert got is not None
    u1, u2 = setup.users[:2]
    assert got.users == {(u1, "worker", 90.0), (u2, "worker", 10.0)}
    info = got.spec.worker.partitioned_strategy_info
    assert got.spec.worker.strategy == r.TaskWorker.PARTITIONED
    assert (info.type, info.workers_per_input) == (r.TaskWorkerPartitionedStrategyInfo.WEIGHTED, 1)
    assert dict(info.weights) == {u1: 90, u2: 10}


def test_consensus_task(replay: Replay, setup: Setup) -> None:
    task_id = post(replay, CONSENSUS, setup)
    got = stored(replay.app, task_id)
    assert got is not None
    u1, u2, u3, u4 = setup.users
    assert got.users == {(u1, "worker", 1.0), (u2, "worker", 1.0), (u3, "worker", 1.0), (u4, "reviewer", 1.0)}
    info = got.spec.review.consensus_strategy_info
    assert got.spec.review.strategy == r.TaskReview.CONSENSUS
    assert (info.approval_threshold, info.approval_threshold_labelers) == (2, 2)


def test_get_list_update_delete(replay: Replay, setup: Setup) -> None:
    assigned = post(replay, ASSIGNED, setup)
    consensus = post(replay, CONSENSUS, setup)
    got = replay.get_task(assigned)["task"]
    assert got["id"] == assigned and got["worker"]["user_ids"] == [setup.ids["worker_user_id"]]
    assert got["review"]["user_ids"] == [setup.ids["reviewer_user_id"]]

    def ids(resp: dict[str, Any]) -> list[str]:
        return [x["id"] for x in resp.get("tasks", [])]

    assert ids(replay.list_tasks()) == [assigned, consensus]
    u1, u2, u3, u4 = setup.users
    assert ids(replay.list_tasks(f"?worker_user_ids={u2}", worker_user_ids=[u2])) == [consensus]
    assert ids(replay.list_tasks(f"?worker_user_ids={u1}", worker_user_ids=[u1])) == [assigned, consensus]
    assert ids(replay.list_tasks(f"?review_user_ids={u4}", review_user_ids=[u4])) == [assigned, consensus]
    assert ids(replay.list_tasks(f"?review_user_ids={u3}", review_user_ids=[u3])) == []

    update = fill(UPDATE, task_id=consensus, **setup.ids)
    patched = replay.send("PatchTasks", "PATCH", update, s.PatchTasksRequest, "/v2/tasks")["tasks"][0]
    assert patched["id"] == consensus
    after = stored(replay.app, consensus)
    assert after is not None
    assert after.status == sc.TASK_DONE and after.spec.status.code == sc.TASK_DONE
    assert after.users == {(u1, "worker", 1.0), (u2, "worker", 1.0), (u3, "reviewer", 1.0)}
    assert ids(replay.list_tasks(f"?review_user_ids={u3}", review_user_ids=[u3])) == [consensus]

    replay.send("DeleteTasks", "DELETE", fill(DELETE, task_id=assigned), s.DeleteTasksRequest, "/v2/tasks")
    assert stored(replay.app, assigned) is None
    assert ids(replay.list_tasks()) == [consensus]


def test_task_annotation(replay: Replay, setup: Setup) -> None:
    task_id = post(replay, NON_ASSIGNED, setup)
    body = fill(TASK_ANNOTATION, task_id=task_id, **setup.ids)
    resp = replay.send("PostAnnotations", "POST", body, s.PostAnnotationsRequest, "/v2/annotations")
    ann = resp["annotations"][0]
    assert ann["input_id"] == "asset-1"
    with replay.app.server.app.db.read() as conn:
        row = conn.execute(select(t.annotations.c.task_id).where(t.annotations.c.id == ann["id"])).one()
    assert row.task_id == task_id
    counts = _annotation_count(replay, task_id)
    assert counts == {replay.app.user_id: 1}


COUNT_FIELDS = ("pending", "awaiting_review", "success", "review_denied", "awaiting_consensus_review")


def _annotation_count(replay: Replay, task_id: str) -> dict[str, int]:
    """GetTaskAnnotationCount (``GET .../tasks/{task_id}/annotations/count``): user → all statuses."""
    if replay.mode == "curl":
        resp = replay._http("GET", f"/v2/tasks/{task_id}/annotations/count", None)
    elif replay.mode == "javascript":
        path = f"/v2/users/me/apps/{replay.app.app_id}/tasks/{task_id}/annotations/count"
        resp = replay._http("GET", path, None)
    else:
        resp = replay._client("GetTaskAnnotationCount", s.GetTaskCountRequest, {"task_id": task_id})
    return {c["user_id"]: sum(int(c.get(f, 0)) for f in COUNT_FIELDS) for c in resp.get("counts", [])}
