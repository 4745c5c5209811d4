"""The metrics of ``serve --workers``' other processes in the first one's /metrics
(ops/peer_metrics.py): fetched over a pipe at every scrape, merged, every series labelled by process.
The whole path through a real ``serve --workers 2`` is tested in tests/api/test_serve_workers.py."""

from __future__ import annotations

import multiprocessing
import threading

from prometheus_client.parser import text_string_to_metric_families

from labeldesk.ops.metrics import Metrics
from labeldesk.ops.peer_metrics import PeerScrape, answer_scrapes


def metrics_with(rpc: str, calls: int) -> Metrics:
    m = Metrics()
    for _ in range(calls):
        m.observe("grpc", rpc, "10000", 0.002)
    return m


def totals(text: bytes) -> dict[tuple[str, str], float]:
    """(worker, rpc) -> labeldesk_requests_total."""
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            if s.name == "labeldesk_requests_total":
                found[(s.labels["worker"], s.labels["rpc"])] = s.value
    return found


def test_a_scrape_covers_every_process_each_labelled() -> None:
    first, second, third = metrics_with("GetApp", 3), metrics_with("GetApp", 2), metrics_with("ListInputs", 4)
    pipes = []
    for n, peer in ((1, second), (2, third)):
        ours, theirs = multiprocessing.Pipe()
        answer_scrapes(theirs, peer.render)
        first.add_peer(str(n), PeerScrape(ours))
        pipes.append(ours)
    text = first.render()
    assert totals(text) == {("0", "GetApp"): 3, ("1", "GetApp"): 2, ("2", "ListInputs"): 4}
    types = [line for line in text.decode().splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)), "each family once, whatever process it came from"
    second.observe("grpc", "GetApp", "10000", 0.001)
    assert totals(first.render())[("1", "GetApp")] == 3, "read anew at every scrape"


def test_a_process_that_does_not_answer_is_left_out_and_its_late_answer_dropped() -> None:
    peer = metrics_with("GetApp", 1)
    release, answered_once = threading.Event(), threading.Event()

    def render() -> bytes:
        if not answered_once.is_set():
            answered_once.set()
            assert release.wait(10)  # answers only after that scrape gave up
            return b"# stale\n"
        return peer.render()

    ours, theirs = multiprocessing.Pipe()
    answer_scrapes(theirs, render)
    first = metrics_with("GetApp", 5)
    scrape = PeerScrape(ours, timeout=0.05)
    first.add_peer("1", scrape)
    assert totals(first.render()) == {("0", "GetApp"): 5}
    release.set()
    assert ours.poll(10), "the late answer is in the pipe"
    scrape.timeout = 10
    assert totals(first.render()) == {("0", "GetApp"): 5, ("1", "GetApp"): 1}


def test_a_process_that_is_gone_is_left_out() -> None:
    ours, theirs = multiprocessing.Pipe()
    theirs.close()
    first = metrics_with("GetApp", 2)
    first.add_peer("1", PeerScrape(ours))

    def broken() -> bytes:
        raise RuntimeError("a bug in a fetch")

    first.add_peer("2", broken)
    assert totals(first.render()) == {("0", "GetApp"): 2}


def test_a_worker_process_answers_the_first_process_s_whole_render() -> None:
    """Every process of ``serve --workers`` serves REST, so a scrape may land on any: a worker
    process answers the first process's render (which asks the worker for its own metrics over the
    other pipe while the worker waits: two pipes, no deadlock), and nothing when the first process
    does not answer (a partial text would read as counters going backwards)."""
    first, worker = metrics_with("GetApp", 3), metrics_with("ListInputs", 4)
    scrapes, their_scrapes = multiprocessing.Pipe()
    answer_scrapes(their_scrapes, worker.render)  # the worker answers the first process's scrapes
    first.add_peer("1", PeerScrape(scrapes))
    whole, their_whole = multiprocessing.Pipe()
    answer_scrapes(whole, first.render)  # the first process answers the worker's /metrics
    worker.served_by(PeerScrape(their_whole))
    expected = {("0", "GetApp"): 3.0, ("1", "ListInputs"): 4.0}
    worker_text = worker.exposition()
    assert worker_text is not None
    assert totals(worker_text) == expected
    first_text = first.exposition()
    assert first_text is not None
    assert totals(first_text) == expected
    own = worker.render()  # what it answers the first process: its own metrics alone
    assert b'rpc="ListInputs"' in own and b'rpc="GetApp"' not in own

    silent, _kept_open = multiprocessing.Pipe()
    worker.served_by(PeerScrape(silent, timeout=0.05))
    assert worker.exposition() is None
