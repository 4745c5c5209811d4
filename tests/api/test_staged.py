"""The staged workflow (Deepen-style tasks API under /api/v2) end to end with ``requests`` against the
running server: stages, assignments, submit/reject/resubmit/accept, user task lists, deadlines and
auto-reassign, sequences and label tasks, errors — and the same work seen through the Clarifai API
with the official client on both channels."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf import struct_pb2

from labeldesk.transport.rest.staged import served
from tests.helpers import IMG, AppFixture, ok, unique

VIDEO = "https://samples.clarifai.com/beer.mp4"
OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi-staged.json"
PAST = (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat()
FUTURE = "2999-01-01T00:00:00Z"


@dataclass
class Person:
    user_id: str
    email: str
    token: str
    meta: tuple[tuple[str, str]]


@dataclass
class Staged:
    """An app with a dataset, the owner, two labellers, a QA user and a stranger."""

    app: AppFixture
    base: str
    owner: Person
    a: Person
    b: Person
    qa: Person
    stranger: Person
    dataset: str = field(default_factory=lambda: unique("ds"))

    # ---- HTTP
    def call(self, method: str, path: str, who: Person | None = None, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {(who or self.owner).token}"}
        return requests.request(method, self.base + "/api/v2" + path, headers=headers, timeout=30, **kw)

    def good(self, method: str, path: str, who: Person | None = None, **kw: Any) -> Any:
        resp = self.call(method, path, who, **kw)
        assert resp.status_code in (200, 204), resp.text
        return resp.json() if resp.status_code == 200 else None

    def error(
        self, status: int, method: str, path: str, who: Person | None = None, **kw: Any
    ) -> dict[str, Any]:
        resp = self.call(method, path, who, **kw)
        assert resp.status_code == status, resp.text
        err: dict[str, Any] = resp.json()["error"]
        assert set(err) >= {"code", "message", "details", "clarifai_code", "req_id"}
        return err

    def tasks(self, who: Person | None = None, **query: str) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = self.good("GET", f"/datasets/{self.dataset}/tasks", who, params=query)[
            "tasks"
        ]
        return got

    def task(self, file_id: str, stage: str, **query: str) -> dict[str, Any]:
        (found,) = [t for t in self.tasks(**query) if t["file_id"] == file_id and t["stage"] == stage]
        return found

    def act(self, task_id: str, action: str, who: Person, **body: Any) -> dict[str, Any]:
        got: dict[str, Any] = self.good("POST", f"/tasks/{task_id}/{action}", who, json=body)
        return got

    def assign(
        self, stage: str, *pairs: tuple[str, str | None], kind: str = "file_tasks", **extra: Any
    ) -> None:
        key = "file_id" if kind == "file_tasks" else "task_id"
        body = {"stage": stage, "assignments": [{key: x, "email": e} for x, e in pairs], **extra}
        self.good("POST", f"/datasets/{self.dataset}/{kind}", json=body)

    def user_tasks(self, who: Person, **query: str) -> dict[str, Any]:
        got: dict[str, Any] = self.good(
            "GET", f"/clients/{self.owner.user_id}/user_tasks", who, params={"email": who.email, **query}
        )
        return got

    def delayed(self, who: Person | None = None) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = self.good("GET", f"/clients/{self.owner.user_id}/delayed_tasks", who)[
            "delayed_tasks"
        ]
        return got

    # ---- Clarifai side
    def add_inputs(self, stub: Any, *ids: str, video: bool = False, **meta: Any) -> None:
        md = struct_pb2.Struct()
        md.update(meta)
        data = r.Data(video=r.Video(url=VIDEO)) if video else r.Data(image=r.Image(url=IMG))
        data.metadata.CopyFrom(md)
        inputs = [r.Input(id=i, data=data) for i in ids]
        ok(
            stub.PostInputs(
                s.PostInputsRequest(user_app_id=self.app.uai, inputs=inputs), metadata=self.owner.meta
            )
        )
        ok(
            stub.PostDatasetInputs(
                s.PostDatasetInputsRequest(
                    user_app_id=self.app.uai,
                    dataset_id=self.dataset,
                    dataset_inputs=[r.DatasetInput(input=r.Input(id=i)) for i in ids],
                ),
                metadata=self.owner.meta,
            )
        )

    def annotate(self, stub: Any, who: Person, input_id: str, track_id: str = "", video: bool = False) -> str:
        region = r.Region(
            region_info=r.RegionInfo(
                bounding_box=r.BoundingBox(top_row=0.1, left_col=0.1, bottom_row=0.5, right_col=0.5)
            ),
            data=r.Data(concepts=[r.Concept(id="car", value=1)]),
            track_id=track_id,
        )
        data = (
            r.Data(frames=[r.Frame(frame_info=r.FrameInfo(index=0, time=0), data=r.Data(regions=[region]))])
            if (video)
            else r.Data(regions=[region])
        )
        resp = ok(
            stub.PostAnnotations(
                s.PostAnnotationsRequest(
                    user_app_id=self.app.uai, annotations=[r.Annotation(input_id=input_id, data=data)]
                ),
                metadata=who.meta,
            )
        )
        return str(resp.annotations[0].id)

    def annotation_statuses(self, stub: Any, task_id: str) -> dict[str, str]:
        resp = ok(
            stub.ListAnnotations(
                s.ListAnnotationsRequest(user_app_id=self.app.uai, task_id=task_id, per_page=100),
                metadata=self.owner.meta,
            )
        )
        return {a.id: sc.StatusCode.Name(a.status.code) for a in resp.annotations}


def _person(app: AppFixture, prefix: str, collaborator: bool = True) -> Person:
    uid, meta = app.new_user(prefix, collaborator=collaborator)
    return Person(uid, f"{uid}@example.com", meta[0][1].split()[1], meta)


@pytest.fixture
def world(app: AppFixture, rest_stub: Any) -> Staged:
    owner = Person(app.user_id, f"{app.user_id}@example.com", app.pat, app.meta)
    w = Staged(
        app,
        app.server.base_url,
        owner,
        _person(app, "lab-a"),
        _person(app, "lab-b"),
        _person(app, "qa"),
        _person(app, "stranger", collaborator=False),
    )
    ok(
        rest_stub.PostConcepts(
            s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id="car")]), metadata=app.meta
        )
    )
    ok(
        rest_stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=app.uai, datasets=[r.Dataset(id=w.dataset)]), metadata=app.meta
        )
    )
    return w


def _history(task: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(h["action"], h["from"], h["to"]) for h in task["history"]]


# =============================================================================================
# The whole flow: two labellers and a QA user, on both Clarifai channels
# =============================================================================================


def test_two_stage_flow_submit_reject_resubmit_accept(world: Staged, stub: Any) -> None:
    w = world
    w.add_inputs(stub, "img-1", "img-2")
    ann_a = w.annotate(stub, w.a, "img-1")
    ann_b = w.annotate(stub, w.b, "img-2")

    tasks = w.tasks()
    assert len(tasks) == 4 and {t["type"] for t in tasks} == {"file"}
    assert {(t["file_id"], t["stage"], t["state"]) for t in tasks} == {
        ("img-1", "Labelling", "Ready"),
        ("img-1", "QA", "Waiting"),
        ("img-2", "Labelling", "Ready"),
        ("img-2", "QA", "Waiting"),
    }
    # assign: each labeller one input; QA both; img-2's labelling is overdue already
    w.assign("Labelling", ("img-1", w.a.email))
    w.assign("Labelling", ("img-2", w.b.email), due_at=PAST)
    w.assign("QA", ("img-1", w.qa.email), ("img-2", w.qa.email))
    lab1, qa1 = w.task("img-1", "Labelling"), w.task("img-1", "QA")
    assert (
        lab1["assignee"] == w.a.email
        and lab1["annotation_task_id"] == lab1["id"] == qa1["annotation_task_id"]
    )
    assert [t["file_id"] for t in w.user_tasks(w.a)["file_tasks"]] == ["img-1"]
    assert w.user_tasks(w.a)["label_tasks"] == []
    assert [(t["file_id"], t["state"]) for t in w.user_tasks(w.qa)["file_tasks"]] == [
        ("img-1", "Waiting"),
        ("img-2", "Waiting"),
    ]
    delayed = w.delayed()
    assert [(t["file_id"], t["stage"], t["assignee"]) for t in delayed] == [("img-2", "Labelling", w.b.email)]
    assert delayed[0]["delayed"] and delayed[0]["overdue_seconds"] > 3 * 3600 - 60

    # QA cannot act before labelling is handed in; a labeller cannot touch another's task
    err = w.error(409, "POST", f"/tasks/{qa1['id']}/accept", w.qa)
    assert "is Waiting" in err["message"] and "allowed actions: none" in err["message"]
    err = w.error(403, "POST", f"/tasks/{lab1['id']}/submit", w.b)
    assert w.a.email in err["message"] and err["code"] == "forbidden"

    # A starts and submits → QA opens; A's annotation awaits review, stamped with the task id
    assert w.act(lab1["id"], "start", w.a)["state"] == "In progress"
    done = w.act(lab1["id"], "submit", w.a)
    assert done["state"] == "Submitted" and done["allowed_actions"] == []
    assert w.task("img-1", "QA")["state"] == "Ready"
    assert w.annotation_statuses(stub, lab1["id"]) == {ann_a: "ANNOTATION_AWAITING_REVIEW"}
    assert [t["file_id"] for t in w.delayed()] == ["img-2"]
    err = w.error(409, "POST", f"/tasks/{lab1['id']}/submit", w.a)
    assert "is Submitted" in err["message"]

    # QA rejects → the unit goes back to A (same assignee), annotations pending rework
    rejected = w.act(qa1["id"], "reject", w.qa, reason="box too loose")
    assert rejected["state"] == "Rejected" and rejected["history"][-1]["reason"] == "box too loose"
    lab1 = w.task("img-1", "Labelling")
    assert lab1["state"] == "Ready" and lab1["assignee"] == w.a.email
    assert _history(lab1)[-1] == ("send_back", "Submitted", "Ready")
    assert lab1["history"][-1]["reason"] == "box too loose" and lab1["history"][-1]["by_email"] == w.qa.email
    assert w.annotation_statuses(stub, lab1["id"]) == {ann_a: "ANNOTATION_PENDING"}
    assert [(t["stage"], t["state"]) for t in w.user_tasks(w.a)["file_tasks"]] == [("Labelling", "Ready")]
    assert ("img-1", "Rejected") in [(t["file_id"], t["state"]) for t in w.user_tasks(w.qa)["file_tasks"]]
    assert [t["file_id"] for t in w.delayed()] == ["img-2"]

    # A resubmits → QA Ready again; QA accepts → both accepted, annotations successful
    w.act(lab1["id"], "submit", w.a)
    assert w.task("img-1", "QA")["state"] == "Ready"
    assert w.annotation_statuses(stub, lab1["id"]) == {ann_a: "ANNOTATION_AWAITING_REVIEW"}
    accepted = w.act(qa1["id"], "accept", w.qa, reason="good now")
    assert accepted["state"] == "Accepted"
    lab1 = w.task("img-1", "Labelling")
    assert lab1["state"] == "Accepted"
    assert _history(lab1) == [
        ("assign", "Ready", "Ready"),
        ("start", "Ready", "In progress"),
        ("submit", "In progress", "Submitted"),
        ("send_back", "Submitted", "Ready"),
        ("submit", "Ready", "Submitted"),
        ("approve", "Submitted", "Accepted"),
    ]
    assert [h["action"] for h in accepted["history"]] == ["assign", "open", "reject", "open", "accept"]
    assert w.annotation_statuses(stub, lab1["id"]) == {ann_a: "ANNOTATION_SUCCESS"}
    assert [(t["file_id"], t["state"]) for t in w.user_tasks(w.qa)["file_tasks"]] == [
        ("img-1", "Accepted"),
        ("img-2", "Waiting"),
    ]
    assert [t["file_id"] for t in w.delayed()] == ["img-2"]
    got = ok(
        stub.GetAnnotation(
            s.GetAnnotationRequest(user_app_id=w.app.uai, input_id="img-1", annotation_id=ann_a),
            metadata=w.owner.meta,
        )
    ).annotation
    assert got.task_id == lab1["id"] and got.annotation_info["task_id"] == lab1["id"]
    err = w.error(409, "POST", f"/tasks/{qa1['id']}/reject", w.qa, json={"reason": "changed my mind"})
    assert "is Accepted" in err["message"]

    # B hands in the overdue work: no longer delayed; the owner may accept for QA
    lab2 = w.task("img-2", "Labelling")
    assert lab2["delayed"]
    w.act(lab2["id"], "submit", w.b)
    assert w.delayed() == []
    w.act(w.task("img-2", "QA")["id"], "accept", w.owner)
    assert w.annotation_statuses(stub, lab2["id"]) == {ann_b: "ANNOTATION_SUCCESS"}
    assert {t["state"] for t in w.tasks()} == {"Accepted"}
    assert w.tasks(state="accepted", stage="qa", assignee=w.qa.email) == w.tasks(stage="QA")


def test_single_stage_submit_is_final_and_rework_can_go_to_another_labeller(
    world: Staged, rest_stub: Any
) -> None:
    w = world
    w.add_inputs(rest_stub, "one")
    ann = w.annotate(rest_stub, w.a, "one")
    w.good("PUT", f"/datasets/{w.dataset}/stages", json={"stages": ["Labelling"]})
    (task,) = w.tasks()
    w.act(task["id"], "submit", w.a)  # unassigned: claimed by the member who submits it
    task = w.task("one", "Labelling")
    assert task["state"] == "Submitted" and task["assignee"] == w.a.email
    assert _history(task) == [("assign", "Ready", "Ready"), ("submit", "Ready", "Submitted")]
    assert w.annotation_statuses(rest_stub, task["id"]) == {ann: "ANNOTATION_SUCCESS"}

    # three stages: a rejection at the last stage resets the middle one and may name a new labeller
    w2 = Staged(w.app, w.base, w.owner, w.a, w.b, w.qa, w.stranger)
    ok(
        rest_stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=w.app.uai, datasets=[r.Dataset(id=w2.dataset)]),
            metadata=w.owner.meta,
        )
    )
    w2.add_inputs(rest_stub, "two")
    w2.good("PUT", f"/datasets/{w2.dataset}/stages", json={"stages": ["Labelling", "Review", "QA"]})
    w2.assign("Labelling", ("two", w.a.email))
    w2.assign("Review", ("two", w.b.email))
    w2.assign("QA", ("two", w.qa.email))
    w2.act(w2.task("two", "Labelling")["id"], "submit", w.a)
    w2.act(w2.task("two", "Review")["id"], "accept", w.b)
    assert [t["state"] for t in w2.tasks()] == ["Accepted", "Accepted", "Ready"]
    w2.act(w2.task("two", "QA")["id"], "reject", w.qa, reason="missed a car", email=w.b.email)
    assert [(t["state"], t["assignee"]) for t in w2.tasks()] == [
        ("Ready", w.b.email),
        ("Waiting", w.b.email),
        ("Rejected", w.qa.email),
    ]
    assert w2.task("two", "Labelling")["history"][-1]["reason"] == "rework: missed a car"


# =============================================================================================
# Deadlines and auto-reassign
# =============================================================================================


def test_auto_reassign_moves_overdue_unstarted_work_to_the_least_loaded(
    world: Staged, rest_stub: Any
) -> None:
    w = world
    c = _person(w.app, "lab-c")
    w.add_inputs(rest_stub, "x1", "x2", "x3", "x4", "x5")
    w.tasks()
    w.assign("Labelling", ("x1", w.a.email), ("x2", w.a.email), ("x3", w.b.email), ("x4", c.email))
    w.assign("Labelling", ("x5", w.a.email), due_at=PAST)  # A: 3 open; B and C: 1 each → B by email order
    started = w.task("x2", "Labelling")
    w.assign("Labelling", ("x2", w.a.email), due_at=PAST)
    w.act(started["id"], "start", w.a)
    # auto-reassign is off: overdue work stays
    assert {t["file_id"]: t["assignee"] for t in w.delayed()} == {"x5": w.a.email, "x2": w.a.email}

    settings = w.good("PUT", f"/datasets/{w.dataset}/stages", json={"auto_reassign": True})
    assert settings["auto_reassign"] is True and [x["name"] for x in settings["stages"]] == [
        "Labelling",
        "QA",
    ]
    delayed = {t["file_id"]: t for t in w.delayed()}
    least = min((w.b, c), key=lambda p: p.email)
    assert delayed["x5"]["assignee"] == least.email  # moved
    assert delayed["x2"]["assignee"] == w.a.email  # In progress: not moved
    last = delayed["x5"]["history"][-1]
    assert (last["by"], last["action"], last["assignee_from"], last["assignee_to"]) == (
        "system",
        "assign",
        w.a.email,
        least.email,
    )
    assert "least-loaded" in last["reason"]
    # moved once: reading again changes nothing
    assert w.delayed()[0]["history"] == delayed[w.delayed()[0]["file_id"]]["history"]
    assert "x5" in [t["file_id"] for t in w.user_tasks(least)["file_tasks"]]

    # a stage default due time: relative to when a task becomes Ready
    w.good(
        "PUT",
        f"/datasets/{w.dataset}/stages",
        json={"stages": ["Labelling", {"name": "QA", "due_in_hours": 1}]},
    )
    assert w.task("x1", "QA")["due_at"] is None  # still waiting
    w.act(w.task("x1", "Labelling")["id"], "submit", w.a)
    due = datetime.fromisoformat(w.task("x1", "QA")["due_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=55) < due - datetime.now(timezone.utc) <= timedelta(hours=1)


# =============================================================================================
# Sequences: label tasks per tracked object
# =============================================================================================


def test_sequences_make_label_tasks_per_tracked_object(world: Staged, rest_stub: Any) -> None:
    w = world
    w.add_inputs(rest_stub, "f1", "f2", sequence_id="seq-1")
    w.add_inputs(rest_stub, "single")
    w.add_inputs(rest_stub, "clip", video=True)
    car1 = w.annotate(rest_stub, w.a, "f1", track_id="car-1")
    car2 = w.annotate(rest_stub, w.a, "f2", track_id="car-1")
    ped = w.annotate(rest_stub, w.a, "f2", track_id="ped-7")
    w.annotate(rest_stub, w.b, "clip", track_id="bike-3", video=True)

    tasks = w.tasks(stage="Labelling")
    assert sorted((t["type"], t["sequence_id"], t["label_id"], t["file_id"]) for t in tasks) == [
        ("file", None, None, "single"),
        ("label", "clip", "bike-3", None),
        ("label", "seq-1", "car-1", None),
        ("label", "seq-1", "ped-7", None),
    ]
    # assign by sequence and label id; a label id given on assignment makes its unit
    w.good(
        "POST",
        f"/datasets/{w.dataset}/label_tasks",
        json={
            "stage": "Labelling",
            "assignments": [
                {"sequence_id": "seq-1", "label_id": "car-1", "email": w.a.email},
                {"sequence_id": "seq-1", "label_id": "truck-9", "email": w.b.email, "due_at": FUTURE},
            ],
        },
    )
    mine = w.user_tasks(w.a)
    assert mine["file_tasks"] == [] and [t["label_id"] for t in mine["label_tasks"]] == ["car-1"]
    (truck,) = w.user_tasks(w.b)["label_tasks"]
    assert (
        truck["label_id"] == "truck-9" and truck["due_at"] == "2999-01-01T00:00:00Z" and truck["due_explicit"]
    )

    # submitting the car's label task moves only the car's annotations (both frames)
    car_task = mine["label_tasks"][0]
    w.act(car_task["id"], "submit", w.a)
    assert w.annotation_statuses(rest_stub, car_task["id"]) == {
        car1: "ANNOTATION_AWAITING_REVIEW",
        car2: "ANNOTATION_AWAITING_REVIEW",
    }
    assert ped not in w.annotation_statuses(rest_stub, car_task["id"])
    # frames are not file tasks
    err = w.error(
        404,
        "POST",
        f"/datasets/{w.dataset}/file_tasks",
        json={"assignments": [{"file_id": "f1", "email": w.a.email}]},
    )
    assert "label_tasks" in err["details"]
    err = w.error(
        404,
        "POST",
        f"/datasets/{w.dataset}/label_tasks",
        json={"assignments": [{"sequence_id": "nope", "label_id": "x", "email": w.a.email}]},
    )
    assert "no sequence 'nope'" in err["message"]


def test_units_follow_the_dataset_and_attribute_tasks(world: Staged, rest_stub: Any) -> None:
    w = world
    w.add_inputs(rest_stub, "p1")
    assert [t["file_id"] for t in w.tasks(stage="Labelling")] == ["p1"]
    w.add_inputs(rest_stub, "p2")  # added later: found on the next listing
    assert [t["file_id"] for t in w.tasks(stage="Labelling")] == ["p1", "p2"]
    ok(
        rest_stub.DeleteDatasetInputs(
            s.DeleteDatasetInputsRequest(user_app_id=w.app.uai, dataset_id=w.dataset, input_ids=["p1"]),
            metadata=w.owner.meta,
        )
    )
    assert [t["file_id"] for t in w.tasks(stage="Labelling")] == ["p2"]

    w.good(
        "PUT", f"/datasets/{w.dataset}/stages", json={"frame_attributes": True, "dataset_attributes": True}
    )
    kinds = sorted((t["type"], t["file_id"]) for t in w.tasks(stage="Labelling"))
    assert kinds == [("dataset_attribute", None), ("file", "p2"), ("frame_attribute", "p2")]
    w.good(
        "POST",
        f"/datasets/{w.dataset}/file_tasks",
        json={
            "assignments": [
                {"type": "frame_attribute", "file_id": "p2", "email": w.a.email},
                {"type": "dataset_attribute", "email": w.b.email},
            ]
        },
    )
    assert [t["type"] for t in w.user_tasks(w.a)["file_tasks"]] == ["frame_attribute"]
    assert [t["type"] for t in w.user_tasks(w.b)["file_tasks"]] == ["dataset_attribute"]
    w.good("PUT", f"/datasets/{w.dataset}/stages", json={"frame_attributes": False})
    assert sorted(t["type"] for t in w.tasks(stage="Labelling")) == ["dataset_attribute", "file"]


# =============================================================================================
# Stages, permissions, bad input
# =============================================================================================


def test_stages_can_change_until_work_starts(world: Staged, rest_stub: Any) -> None:
    w = world
    w.add_inputs(rest_stub, "s1")
    got = w.good("GET", f"/datasets/{w.dataset}/stages")
    assert [x["name"] for x in got["stages"]] == ["Labelling", "QA"] and got["client_id"] == w.owner.user_id
    w.assign("Labelling", ("s1", w.a.email))
    w.good("PUT", f"/datasets/{w.dataset}/stages", json={"stages": ["Labelling", "Review", "QA"]})
    assert [t["stage"] for t in w.tasks()] == ["Labelling", "Review", "QA"]  # rebuilt: assignments reset
    w.act(w.task("s1", "Labelling")["id"], "submit", w.a)
    err = w.error(409, "PUT", f"/datasets/{w.dataset}/stages", json={"stages": ["Labelling", "QA"]})
    assert "work has started" in err["message"] and "due_at" in err["details"]
    w.good(
        "PUT",
        f"/datasets/{w.dataset}/stages",
        json={"stages": ["Labelling", "Review", {"name": "QA", "due_at": FUTURE}]},
    )
    assert w.task("s1", "QA")["due_at"] == "2999-01-01T00:00:00Z"
    # collaborators work, the owner manages
    err = w.error(403, "PUT", f"/datasets/{w.dataset}/stages", w.a, json={"auto_reassign": True})
    assert "only the owner" in err["message"]
    w.error(
        403,
        "POST",
        f"/datasets/{w.dataset}/file_tasks",
        w.a,
        json={"assignments": [{"file_id": "s1", "email": w.a.email}]},
    )
    assert len(w.tasks(w.a)) == 3


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "text"),
    [
        ("GET", "/datasets/{ds}/tasks?state=Done", None, 400, "not a task state"),
        ("GET", "/datasets/{ds}/tasks?stage=Review", None, 400, "not a stage of this dataset"),
        ("GET", "/datasets/{ds}/tasks?statee=Ready", None, 400, "unknown query parameter"),
        ("GET", "/datasets/{ds}/tasks?per_page=0", None, 400, "between 1 and 1000"),
        ("GET", "/datasets/{ds}/tasks?page=x", None, 400, "whole number"),
        # out-of-range numbers and dates (issue 19 defect 6): 400 naming the field, never a 500
        ("GET", "/datasets/{ds}/tasks?offset=9223372036854775808", None, 400, "offset"),
        ("GET", "/datasets/{ds}/tasks?offset=99999999999999999999999999", None, 400, "offset"),
        ("GET", "/datasets/{ds}/tasks?page=9223372036854775807&per_page=1000", None, 400, "page"),
        ("GET", "/clients/{client}/delayed_tasks?offset=9223372036854775808", None, 400, "offset"),
        ("GET", "/datasets/{ds}/tasks?limit=99999999999999999999", None, 400, "limit"),
        (
            "PUT",
            "/datasets/{ds}/stages",
            {"stages": ["Labelling", {"name": "QA", "due_in_hours": 1e300}]},
            400,
            "stages[1].due_in_hours",
        ),
        (
            "PUT",
            "/datasets/{ds}/stages",
            {"stages": ["Labelling", {"name": "QA", "due_in_hours": 10**400}]},
            400,
            "stages[1].due_in_hours",
        ),
        (
            "PUT",
            "/datasets/{ds}/stages",
            {"stages": ["Labelling", {"name": "QA", "due_at": "0001-01-01T00:00:00+05:00"}]},
            400,
            "stages[1].due_at",
        ),
        (
            "POST",
            "/datasets/{ds}/file_tasks",
            {"due_at": "0001-01-01T00:30:00+01:00", "assignments": [{"file_id": "b1", "email": None}]},
            400,
            "due_at",
        ),
        (
            "POST",
            "/datasets/{ds}/file_tasks",
            {"assignments": [{"file_id": "b1", "email": None, "due_at": "9999-12-31T23:59:59-05:00"}]},
            400,
            "assignments[0].due_at",
        ),
        ("GET", "/datasets/{ds}/tasks?page=1&limit=5", None, 400, "not both"),
        ("GET", "/datasets/{ds}/tasks?assignee=nobody@example.com", None, 404, "nobody@example.com"),
        ("GET", "/datasets/no-such-ds/tasks", None, 404, "does not exist"),
        ("PUT", "/datasets/{ds}/stages", {"stages": []}, 400, "non-empty list"),
        ("PUT", "/datasets/{ds}/stages", {"stages": ["A", "a"]}, 400, "appears twice"),
        ("PUT", "/datasets/{ds}/stages", {"auto_reassign": "yes"}, 400, "true or false"),
        ("PUT", "/datasets/{ds}/stages", {}, 400, "give stages"),
        ("POST", "/datasets/{ds}/file_tasks", {"assignments": []}, 400, "1-1000"),
        ("POST", "/datasets/{ds}/file_tasks", {"assignments": [{"file_id": "b1"}]}, 400, "email"),
        (
            "POST",
            "/datasets/{ds}/file_tasks",
            {"assignments": [{"file_id": "b1", "email": "z@z"}]},
            404,
            "no user with email 'z@z'",
        ),
        (
            "POST",
            "/datasets/{ds}/file_tasks",
            {"assignments": [{"file_id": "nope", "email": None}]},
            404,
            "not a single-frame input",
        ),
        (
            "POST",
            "/datasets/{ds}/file_tasks",
            {"stage": "QA", "due_at": "soon", "assignments": [{"file_id": "b1", "email": None}]},
            400,
            "ISO 8601",
        ),
        (
            "POST",
            "/datasets/{ds}/file_tasks",
            {"assignments": [{"file_id": "b1", "email": None}, {"file_id": "b1", "email": None}]},
            400,
            "more than once",
        ),
        (
            "POST",
            "/datasets/{ds}/file_tasks",
            {"assignments": [{"file_id": "b1", "emial": "a"}]},
            400,
            "unknown field",
        ),
        ("POST", "/tasks/no-such-task/submit", {}, 404, "task 'no-such-task' does not exist"),
        ("POST", "/tasks/{task}/reject", {"reason": "too early"}, 409, "is Waiting"),
        ("POST", "/tasks/{task}/reject", {"reason": "x", "extra": 1}, 400, "unknown field"),
        ("POST", "/tasks/{lab}/accept", {}, 409, "first stage is submitted"),
        ("POST", "/tasks/{lab}/reject", {"reason": ""}, 400, "say why"),
        ("GET", "/clients/{client}/user_tasks?email=z@z", None, 404, "no user with email 'z@z'"),
        ("GET", "/clients/nobody/delayed_tasks", None, 404, "client 'nobody'"),
        ("GET", "/nowhere", None, 404, "no staged-workflow endpoint"),
        ("DELETE", "/tasks/{task}/submit", None, 405, "DELETE is not allowed"),
        ("POST", "/datasets/{ds}/tasks", {}, 405, "POST is not allowed"),
    ],
)
def test_bad_input_is_refused_in_one_shape(
    world: Staged, rest_stub: Any, method: str, path: str, body: Any, status: int, text: str
) -> None:
    w = world
    w.add_inputs(rest_stub, "b1")
    w.tasks()
    url = path.format(
        ds=w.dataset,
        task=w.task("b1", "QA")["id"],
        lab=w.task("b1", "Labelling")["id"],
        client=w.owner.user_id,
    )
    err = w.error(status, method, url, json=body)
    assert text in err["message"] + err["details"], err


def test_auth_errors_and_app_keys(world: Staged, rest_stub: Any) -> None:
    w = world
    w.add_inputs(rest_stub, "k1")
    url = f"{w.base}/api/v2/datasets/{w.dataset}/tasks"
    for headers in ({}, {"Authorization": "Bearer nope"}):
        resp = requests.get(url, headers=headers, timeout=30)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthenticated"
    resp = requests.post(
        url.replace("/tasks", "/file_tasks"),
        data=b"{oops",
        headers={"Authorization": f"Bearer {w.owner.token}"},
        timeout=30,
    )
    assert resp.status_code == 400 and "JSON" in resp.json()["error"]["message"]
    # the app key works, as "Key <key>" too; the stranger sees nothing
    resp = requests.get(url, headers={"Authorization": f"Key {w.app.app_key}"}, timeout=30)
    assert resp.status_code == 200 and len(resp.json()["tasks"]) == 2
    w.error(404, "GET", f"/datasets/{w.dataset}/tasks", w.stranger)
    task = w.tasks()[0]
    w.error(404, "POST", f"/tasks/{task['id']}/submit", w.stranger)
    w.error(404, "GET", f"/clients/{w.owner.user_id}/delayed_tasks", w.stranger)


def test_pagination(world: Staged, rest_stub: Any) -> None:
    w = world
    w.add_inputs(rest_stub, *[f"pg{i}" for i in range(5)])
    everything = w.good("GET", f"/datasets/{w.dataset}/tasks")
    assert everything["total"] == 10
    page2 = w.good("GET", f"/datasets/{w.dataset}/tasks", params={"page": 2, "per_page": 3})
    assert [t["id"] for t in page2["tasks"]] == [t["id"] for t in everything["tasks"][3:6]]
    window = w.good("GET", f"/datasets/{w.dataset}/tasks", params={"offset": 8, "limit": 5})
    assert [t["id"] for t in window["tasks"]] == [t["id"] for t in everything["tasks"][8:]]
    assert w.good("GET", f"/datasets/{w.dataset}/tasks", params={"page": 9})["tasks"] == []


def test_a_dataset_id_must_be_unique_per_client(world: Staged, rest_stub: Any) -> None:
    w = world
    other = unique("app")
    ok(
        rest_stub.PostApps(
            s.PostAppsRequest(user_app_id=r.UserAppIDSet(user_id="me"), apps=[r.App(id=other)]),
            metadata=w.owner.meta,
        )
    )
    ok(
        rest_stub.PostDatasets(
            s.PostDatasetsRequest(
                user_app_id=r.UserAppIDSet(user_id=w.owner.user_id, app_id=other),
                datasets=[r.Dataset(id=w.dataset)],
            ),
            metadata=w.owner.meta,
        )
    )
    err = w.error(409, "GET", f"/datasets/{w.dataset}/tasks")
    assert "unique per client" in err["message"] and "rename" in err["details"]
    assert w.app.app_id in err["message"] and other in err["message"]


def test_concurrent_discovery_and_transitions_are_safe(world: Staged, rest_stub: Any) -> None:
    """Replicas share nothing but the database: concurrent first listings discover each unit once,
    and of concurrent submits of one task exactly one wins (the unit's rows are locked)."""
    w = world
    w.add_inputs(rest_stub, *[f"cc{i}" for i in range(6)])
    with ThreadPoolExecutor(8) as pool:
        listings = list(pool.map(lambda _: w.call("GET", f"/datasets/{w.dataset}/tasks"), range(8)))
    assert [x.status_code for x in listings] == [200] * 8
    assert {len(x.json()["tasks"]) for x in listings} == {12}
    task = w.task("cc0", "Labelling")
    with ThreadPoolExecutor(8) as pool:
        submits = list(pool.map(lambda _: w.call("POST", f"/tasks/{task['id']}/submit", w.a), range(8)))
    assert sorted(x.status_code for x in submits) == [200] + [409] * 7
    final = w.task("cc0", "Labelling")
    assert _history(final) == [("assign", "Ready", "Ready"), ("submit", "Ready", "Submitted")]
    assert [t["state"] for t in w.tasks() if t["file_id"] == "cc0"] == ["Submitted", "Ready"]


# =============================================================================================
# The OpenAPI document tells the truth
# =============================================================================================


def test_openapi_document_lists_every_served_endpoint() -> None:
    doc = json.loads(OPENAPI.read_text())
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), path) for path, item in doc["paths"].items() for m in item if m != "parameters"}
    assert set(served()) == documented
    schemas = doc["components"]["schemas"]
    assert {"TaskResource", "Error", "HistoryEntry"} <= set(schemas)
    resource = schemas["TaskResource"]["properties"]
    sample_keys = {
        "id",
        "type",
        "client_id",
        "app_id",
        "dataset_id",
        "stage",
        "stage_index",
        "state",
        "assignee",
        "assignee_user_id",
        "file_id",
        "sequence_id",
        "label_id",
        "annotation_task_id",
        "due_at",
        "due_explicit",
        "delayed",
        "allowed_actions",
        "created_at",
        "updated_at",
        "history",
        "overdue_seconds",
    }
    assert set(resource) == sample_keys

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [x for v in node.values() for x in refs(v)]
        return [x for v in node for x in refs(v)] if isinstance(node, list) else []

    for ref in refs(doc):
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]  # KeyError: a dangling $ref
