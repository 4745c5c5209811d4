"""The auto-annotation kill test: a task over 200 inputs with two concept ranges, run by a real
``labeldesk serve`` process against an Open Inference Protocol server the test runs (scores are a
function of the image, so every input has a known answer). The server is SIGKILLed while the model
is answering its third batch, then restarted: the job finishes; the right inputs have exactly one
annotation per status; the others reach the human worker; no input is annotated twice, and only the
batch in flight at the kill is asked of the model twice. On SQLite, and on PostgreSQL when
LABELDESK_TEST_DATABASE_URL names one."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.services import admin
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import migrate
from tests.api.test_auto_annotation import seed_task_body
from tests.api.test_models import binding
from tests.helpers import ok
from tests.model_servers import model_server
from tests.ops.proc import ServerProcess, start
from tests.ops.test_crash import _databases

N = 200
KILL_AT = 3  # the model request during which the server dies (inputs 64..95)
BATCH = 32


def image(i: int) -> bytes:
    good, png = cv2.imencode(".png", np.array([[i % 256, i // 256], [7, 7]], np.uint8))
    assert good
    return bytes(png)


def scores(i: int) -> tuple[float, float]:
    return i / N, (i % 10) / 10  # cat, dog


def expected(i: int) -> set[tuple[str, int]]:
    """What the task's ranges make of input i: cat in [0.7, 0.999] SUCCESS, dog in (0.4, 0.6) PENDING."""
    cat, dog = scores(i)
    got = set()
    if 0.7 <= cat <= 0.999:
        got.add(("cat", sc.ANNOTATION_SUCCESS))
    if 0.4 < dog < 0.6:
        got.add(("dog", sc.ANNOTATION_PENDING))
    return got


class Model:
    """Answers scores per image, counts calls per input, and holds request KILL_AT until killed."""

    def __init__(self) -> None:
        self.index = {hashlib.sha256(image(i)).hexdigest(): i for i in range(N)}
        self.calls: Counter[int] = Counter()
        self.requests = 0
        self.in_call = threading.Event()
        self.killed = threading.Event()

    def answer(self, path: str, body: Any) -> tuple[int, bytes]:
        ids = [self.index[hashlib.sha256(base64.b64decode(b)).hexdigest()] for b in body["inputs"][0]["data"]]
        self.calls.update(ids)
        self.requests += 1
        if self.requests == KILL_AT:
            self.in_call.set()
            assert self.killed.wait(60)
        values = [v for i in ids for v in scores(i)]
        out = {"outputs": [{"name": "scores", "datatype": "FP32", "shape": [len(ids), 2], "data": values}]}
        return 200, json.dumps(out).encode()


def _stub(server: ServerProcess) -> Any:
    return service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
    )


def _progress(stub: Any, uai: r.UserAppIDSet, meta: Any, task_id: str) -> dict[str, Any]:
    req = s.GetTaskRequest(user_app_id=uai, task_id=task_id, additional_fields=["progress"])
    shown = ok(stub.GetTask(req, metadata=meta)).task.metadata["auto_annotation"]
    (job,) = [dict(j) for j in shown]
    return job


def _set_up(stub: Any, server: ServerProcess, uai: r.UserAppIDSet, meta: Any, pat: str, url: str) -> str:
    concepts = [r.Concept(id="cat"), r.Concept(id="dog")]
    ok(stub.PostConcepts(s.PostConceptsRequest(user_app_id=uai, concepts=concepts), metadata=meta))
    ok(
        stub.PostDatasets(
            s.PostDatasetsRequest(user_app_id=uai, datasets=[r.Dataset(id="pets")]), metadata=meta
        )
    )
    for start_at in range(0, N, 100):
        inputs = [
            r.Input(id=f"in{i:03d}", dataset_ids=["pets"], data=r.Data(image=r.Image(base64=image(i))))
            for i in range(start_at, start_at + 100)
        ]
        ok(stub.PostInputs(s.PostInputsRequest(user_app_id=uai, inputs=inputs), metadata=meta))
    m = r.Model(id="pets-clf", metadata=binding(backend="oip", url=url, model_name="pets"))
    m.output_info.data.concepts.add(id="cat")
    m.output_info.data.concepts.add(id="dog")
    version = ok(stub.PostModels(s.PostModelsRequest(user_app_id=uai, models=[m]), metadata=meta)).model
    body = seed_task_body("pets-clf", version.model_version.id, "pets")
    body["tasks"][0]["worker"]["workers"].append({"user": {"id": uai.user_id}})
    res = requests.post(
        f"{server.base_url}/v2/users/{uai.user_id}/apps/{uai.app_id}/tasks",
        headers={"Authorization": f"Key {pat}"},
        json=body,
        timeout=30,
    )
    assert res.status_code == 200, res.text
    return str(res.json()["tasks"][0]["id"])


def _human_work(stub: Any, uai: r.UserAppIDSet, meta: Any, task_id: str) -> list[str]:
    """Everything the task hands its human worker, submitting as it goes."""
    handed: list[str] = []
    A = s.PutTaskAssignmentsRequestAction
    while True:
        req = s.ListNextTaskAssignmentsRequest(user_app_id=uai, task_id=task_id)
        batch = [i.id for i in ok(stub.ListNextTaskAssignments(req, metadata=meta)).inputs]
        if not batch:
            return handed
        handed += batch
        for input_id in batch:
            put = s.PutTaskAssignmentsRequest(
                user_app_id=uai, task_id=task_id, input_id=input_id, action=A.LABEL_SUBMIT
            )
            ok(stub.PutTaskAssignments(put, metadata=meta))


@pytest.mark.parametrize("database", _databases())
def test_killed_mid_run_the_job_finishes_with_no_input_done_twice(
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    private_database: Callable[[str, str], str],
) -> None:
    monkeypatch.setenv("LABELDESK_JOB_LEASE_SECONDS", "3")  # the dead server's job is free after 3 s
    url = private_database(database, "kill.db")
    db = Database(url)
    try:
        migrate(db)
        owner = f"kill-{uuid.uuid4().hex[:8]}"
        pat = admin.create_user(db, owner, f"{owner}@example.com")
        admin.create_app(db, owner, "kill")
    finally:
        db.dispose()
    uai, meta = r.UserAppIDSet(user_id=owner, app_id="kill"), (("authorization", f"Key {pat}"),)
    model = Model()
    command = ["serve", "--database-url", url]
    with model_server() as backend:
        backend.answer = model.answer
        server = start(command, tmp_path)
        try:
            task_id = _set_up(_stub(server), server, uai, meta, pat, backend.url)
            assert model.in_call.wait(120), "the model never got its third batch"
            server.kill()  # SIGKILL while the model answers inputs 64..95
            model.killed.set()
            server = start(command, tmp_path)
            stub = _stub(server)
            deadline = time.monotonic() + 120
            while (job := _progress(stub, uai, meta, task_id))["state"] != "done":
                assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
                time.sleep(0.1)
            _check(stub, uai, meta, task_id, job, model)
        finally:
            server.kill()


def _check(
    stub: Any,
    uai: r.UserAppIDSet,
    meta: Any,
    task_id: str,
    job: dict[str, Any],
    model: Model,
) -> None:
    want = {f"in{i:03d}": expected(i) for i in range(N) if expected(i)}
    req = s.ListAnnotationsRequest(user_app_id=uai, list_all_annotations=True, per_page=1000)
    anns = [a for a in ok(stub.ListAnnotations(req, metadata=meta)).annotations if a.model_version_id]
    per_status = Counter((a.input_id, a.status.code) for a in anns)
    assert max(per_status.values()) == 1, "an input was annotated twice"
    got: dict[str, set[tuple[str, int]]] = {}
    for a in anns:
        assert a.task_id == task_id
        got.setdefault(a.input_id, set()).update((c.id, a.status.code) for c in a.data.concepts)
    assert got == want
    assert (job["done"], job["annotated"], job["to_humans"], job["failed"]) == (
        N,
        len(want),
        N - len(want),
        0,
    )
    assert set(model.calls) == set(range(N)), "an input never reached the model"
    twice = {i for i, n in model.calls.items() if n > 1}
    in_flight = set(range((KILL_AT - 1) * BATCH, KILL_AT * BATCH))
    assert twice <= in_flight and max(model.calls.values()) == 2, twice - in_flight
    handed = _human_work(stub, uai, meta, task_id)
    assert sorted(handed) == sorted(f"in{i:03d}" for i in range(N) if not expected(i))
