"""Health, readiness, Prometheus metrics and the JSON access log, through the real server."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest
import requests
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from prometheus_client.parser import text_string_to_metric_families

from labeldesk.app import RunningServer
from labeldesk.ops.logs import ACCESS_LOGGER, JsonFormatter
from labeldesk.ops.readiness import check
from labeldesk.storage.engine import Database
from tests.helpers import AppFixture, ok


def samples(base_url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = requests.get(f"{base_url}/metrics", timeout=10).text
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                found[tuple(sorted(s.labels.items()))] = s.value
    return found


def test_healthz_and_readyz(server: RunningServer) -> None:
    health = requests.get(f"{server.base_url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"]["code"] == 10000
    ready = requests.get(f"{server.base_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert "schema at" in ready.json()["status"]["description"]


def test_not_ready_without_schema(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        answer = check(db)
        assert not answer.ready and "not initialised" in answer.detail
    finally:
        db.dispose()


def test_metrics_count_requests_by_rpc_and_code_on_both_transports(
    server: RunningServer, app: AppFixture, rest_stub: object, grpc_stub: object
) -> None:
    name = "labeldesk_requests_total"
    key = {"transport": "grpc", "rpc": "ListConcepts", "code": "10000"}
    before = samples(server.base_url, name)
    for stub in (rest_stub, grpc_stub):
        req = service_pb2.ListConceptsRequest(user_app_id=app.uai)
        ok(stub.ListConcepts(req, metadata=app.meta))  # type: ignore[attr-defined]
        bad = stub.ListConcepts(req, metadata=(("authorization", "Key nope"),))  # type: ignore[attr-defined]
        assert bad.status.code == 11008
    after = samples(server.base_url, name)
    for transport in ("rest", "grpc"):
        for code in ("10000", "11008"):
            labels = tuple(sorted({**key, "transport": transport, "code": code}.items()))
            assert after[labels] - before.get(labels, 0) == 1, (transport, code)
    latency = samples(server.base_url, "labeldesk_request_duration_seconds_count")
    assert latency[tuple(sorted(key.items()))] >= 1
    pool = samples(server.base_url, "labeldesk_db_pool_checked_out")
    assert pool[()] >= 0


def test_queue_depth_sources_are_reported(server: RunningServer) -> None:
    server.app.metrics.add_queue_source("test_queue", lambda: 7)
    depth = samples(server.base_url, "labeldesk_queue_depth")
    assert depth[(("queue", "test_queue"),)] == 7


def test_json_access_log_carries_the_answered_req_id(
    server: RunningServer,
    app: AppFixture,
    rest_stub: object,
    grpc_stub: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    formatter = JsonFormatter()
    for transport, stub in (("rest", rest_stub), ("grpc", grpc_stub)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
            resp = ok(
                stub.ListConcepts(service_pb2.ListConceptsRequest(user_app_id=app.uai), metadata=app.meta)
            )  # type: ignore[attr-defined]
        server.app.observer.flush()  # lines are written in batches (ops/observe.py)
        lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]
        mine = [line for line in lines if line.get("req_id") == resp.status.req_id]
        assert len(mine) == 1, lines
        line = mine[0]
        assert line["rpc"] == "ListConcepts" and line["transport"] == transport and line["code"] == 10000
        assert line["duration_ms"] >= 0 and line["level"] == "info"
        if transport == "rest":
            assert line["http_status"] == 200


def test_staged_errors_log_the_req_id_they_answer(
    server: RunningServer, app: AppFixture, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        answer = requests.get(
            f"{server.base_url}/api/v2/tasks/no-such-task",
            headers={"Authorization": f"Key {app.pat}"},
            timeout=10,
        )
    req_id = answer.json()["error"]["req_id"]
    server.app.observer.flush()
    lines = [r for r in caplog.records if r.name == ACCESS_LOGGER and r.__dict__.get("req_id") == req_id]
    assert len(lines) == 1 and lines[0].__dict__["rpc"] == "staged", caplog.records


def test_concurrent_writes_share_a_commit_and_metrics_count_it(
    server: RunningServer, app: AppFixture, grpc_stub: object
) -> None:
    """Group commit through the real server (storage/write_groups.py): three PostConcepts that
    queue while another write holds SQLite's writer are committed together, each answered alone."""
    db = server.app.db
    if db._groups is None:
        pytest.skip("group commit is SQLite's")
    hold, holding = threading.Event(), threading.Event()

    def holder(_conn: object) -> None:
        holding.set()
        assert hold.wait(10)

    before = {
        n: samples(server.base_url, f"labeldesk_db_{n}_total")[()]
        for n in ("group_commits", "grouped_writes")
    }
    leader = threading.Thread(target=db.run, args=(holder,), kwargs={"write": True})
    leader.start()
    assert holding.wait(10)
    answers: list[object] = []

    def post(i: int) -> None:
        req = service_pb2.PostConceptsRequest(
            user_app_id=app.uai, concepts=[resources_pb2.Concept(id=f"grouped-{i}", name=f"grouped {i}")]
        )
        answers.append(grpc_stub.PostConcepts(req, metadata=app.meta))  # type: ignore[attr-defined]

    threads = [threading.Thread(target=post, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(db._groups._queued) < 3:
        assert time.monotonic() < deadline, "the calls never queued for the writer"
        time.sleep(0.001)
    hold.set()
    for thread in [leader, *threads]:
        thread.join(10)
    assert sorted(ok(a).concepts[0].id for a in answers) == ["grouped-0", "grouped-1", "grouped-2"]  # type: ignore[attr-defined]
    after = {
        n: samples(server.base_url, f"labeldesk_db_{n}_total")[()]
        for n in ("group_commits", "grouped_writes")
    }
    # at least: the server's own background writes (sweeps, jobs) may have queued beside them
    assert after["group_commits"] - before["group_commits"] >= 1
    assert after["grouped_writes"] - before["grouped_writes"] >= 3
