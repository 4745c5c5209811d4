"""The metrics of the server's other processes, in the first process's ``/metrics``.

``serve --workers N`` answers REST and gRPC from N processes; each keeps its own registry
(:mod:`labeldesk.ops.metrics`). So that one scrape still covers every call, the first process
asks each other process for its exposition text over a pipe at every scrape
(:class:`PeerScrape`; the other end runs :func:`answer_scrapes`), and :func:`merged` joins them,
every series labelled ``worker`` (``"0"`` the first process, ``"1"`` … the others). A scrape that
lands on another process (they all serve REST) is answered with the first process's page, asked
for over a second pipe (``Metrics.served_by``). A process that does not answer within
:data:`SCRAPE_TIMEOUT_SECONDS` (stopped, busy) is left out of that scrape; the scrape itself never
fails because of it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger("labeldesk")

#: how long a scrape waits for another process's metrics
SCRAPE_TIMEOUT_SECONDS = 2.0

#: another process's exposition text, or None when it did not answer
Fetch = Callable[[], "bytes | None"]


class PeerScrape:
    """The first process's end of the pipe to another process: calling it fetches that
    process's metrics (None when it does not answer in time or is gone)."""

    def __init__(self, pipe: Connection, timeout: float = SCRAPE_TIMEOUT_SECONDS) -> None:
        self._pipe = pipe
        #: seconds a scrape waits for the answer
        self.timeout = timeout
        self._lock = threading.Lock()  # one scrape at a time on a pipe
        self._asked = 0

    def __call__(self) -> bytes | None:
        with self._lock:
            self._asked += 1
            try:
                self._pipe.send(self._asked)
                deadline = time.monotonic() + self.timeout
                while self._pipe.poll(max(0.0, deadline - time.monotonic())):
                    asked, text = self._pipe.recv()
                    if asked == self._asked:  # not the late answer to a scrape that gave up
                        return bytes(text)
            except (EOFError, OSError):  # the process is gone
                return None
            return None


def answer_scrapes(pipe: Connection, render: Callable[[], bytes]) -> threading.Thread:
    """In another process: answer every scrape on ``pipe`` with ``render()``, on a daemon thread,
    until the pipe closes."""

    def serve() -> None:
        while True:
            try:
                asked = pipe.recv()
                pipe.send((asked, render()))
            except (EOFError, OSError):
                return

    thread = threading.Thread(target=serve, daemon=True, name="metrics-scrapes")
    thread.start()
    return thread


def merged(own: bytes, peers: Iterable[tuple[str, Fetch]]) -> bytes:
    """One exposition text of the families of ``own`` (this process's) and of each peer's, merged
    by name (each family's HELP and TYPE once), every sample labelled ``worker`` (this process
    ``"0"``)."""
    families: dict[str, Metric] = {}
    texts: list[tuple[str, bytes | None]] = [("0", own)]
    for worker, fetch in peers:
        try:
            texts.append((worker, fetch()))
        except Exception:  # a broken peer must not break the scrape
            log.warning("reading the metrics of server process %s failed", worker, exc_info=True)
    for worker, text in texts:
        if text is None:
            continue
        for family in text_string_to_metric_families(text.decode()):
            into = families.get(family.name)
            if into is None:
                into = families[family.name] = Metric(family.name, family.documentation, family.type)
            for sample in family.samples:
                into.samples.append(sample._replace(labels={**sample.labels, "worker": worker}))
    return generate_latest(_Collected(list(families.values())))


class _Collected:
    """Families collected already, in the shape ``generate_latest`` reads a registry."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families
