"""The observer queues request records and writes them in batches (ops/observe.py): nothing is
lost, a scrape counts every request queued before it, and lines carry their request's time."""

from __future__ import annotations

import logging
import time

import pytest

from labeldesk.ops.logs import ACCESS_LOGGER
from labeldesk.ops.metrics import Metrics
from labeldesk.ops.observe import Observer


def _count(metrics: Metrics, rpc: str) -> float:
    value = metrics.registry.get_sample_value(
        "labeldesk_requests_total", {"transport": "grpc", "rpc": rpc, "code": "10000"}
    )
    return value or 0.0


def test_a_scrape_counts_every_request_queued_before_it() -> None:
    metrics = Metrics()
    observer = Observer(metrics, flush_seconds=3600)  # the background thread never gets there
    for _ in range(5):
        observer.record("grpc", "GetApp", 10000, 0.001, "r1")
    assert _count(metrics, "GetApp") == 0  # queued, not yet written
    assert b'rpc="GetApp"' in metrics.render()
    assert _count(metrics, "GetApp") == 5
    observer.close()


def test_lines_carry_their_fields_and_the_time_their_request_was_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    observer = Observer(Metrics(), flush_seconds=3600)
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        before = time.time()
        observer.record("rest", "ListConcepts", 11008, 0.0025, "abc", http_status=401)
        after = time.time()
    assert not [r for r in caplog.records if r.name == ACCESS_LOGGER]
    time.sleep(0.02)  # so that a line stamped when written would be later than ``after``
    observer.flush()
    (line,) = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert before <= line.created <= after
    fields = line.__dict__
    assert (fields["req_id"], fields["transport"], fields["rpc"], fields["code"]) == (
        "abc",
        "rest",
        "ListConcepts",
        11008,
    )
    assert fields["http_status"] == 401 and fields["duration_ms"] == 2.5
    assert line.getMessage() == "rest ListConcepts 11008 abc 2.5 ms"
    observer.close()


def test_a_line_is_written_only_if_wanted_when_its_request_ended(caplog: pytest.LogCaptureFixture) -> None:
    observer = Observer(Metrics(), flush_seconds=3600)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING)
    try:
        observer.record("grpc", "GetApp", 10000, 0.001, "quiet")
    finally:
        logging.getLogger(ACCESS_LOGGER).setLevel(logging.NOTSET)
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        observer.flush()
    assert not [r for r in caplog.records if r.name == ACCESS_LOGGER]
    observer.close()


def test_the_background_thread_writes_and_close_writes_the_rest() -> None:
    metrics = Metrics()
    observer = Observer(metrics, flush_seconds=0.01)
    observer.record("grpc", "GetApp", 10000, 0.001)
    deadline = time.monotonic() + 10
    while _count(metrics, "GetApp") < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _count(metrics, "GetApp") == 1
    observer.close()
    observer.record("grpc", "ListApps", 10000, 0.001)  # after close: written by the next flush
    observer.close()
    assert _count(metrics, "ListApps") == 1
