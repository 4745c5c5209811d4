"""Prometheus metrics of one server process, in its own registry (no process-wide globals, so
several servers in one test process never mix their numbers).

- ``labeldesk_requests_total{transport,rpc,code}`` and
  ``labeldesk_request_duration_seconds{transport,rpc,code}``: every request on both transports;
  ``code`` is the Clarifai status code of the answer (``rpc`` is the RPC name, or a route label such
  as ``staged`` or ``healthz`` for labeldesk's own routes).
- ``labeldesk_db_pool_*``: the SQLAlchemy connection pool, read at scrape time.
- ``labeldesk_db_retries_total`` / ``labeldesk_db_reconnects_total``: units of work the database
  aborted for contention / that met a dead pooled connection, run again (storage/engine.py).
- ``labeldesk_db_unit_waits_total`` (PostgreSQL): units of work that waited for one of the
  process's turns (``LABELDESK_DB_CONCURRENCY``, storage/unit_turns.py).
- ``labeldesk_db_account_news_lost_total`` (PostgreSQL): times the ``LISTEN`` connection that hears
  of other replicas' key changes went (storage/account_news.py).
- ``labeldesk_db_group_commits_total`` / ``labeldesk_db_grouped_writes_total`` (SQLite): write
  transactions shared by several concurrent units of work, and those units
  (storage/write_groups.py); their ratio is the mean group size.
- ``labeldesk_queue_depth{queue}``: whatever the registered sources report at scrape time
  (:meth:`Metrics.add_queue_source`; the job worker and the task queue can feed it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from labeldesk.ops.peer_metrics import Fetch, merged

log = logging.getLogger("labeldesk")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
QueueSource = Callable[[], float]


#: the help of each of ``Database.counts``
_COUNT_HELP = {
    "retries": "units of work run again: the database aborted them for contention",
    "reconnects": "units of work run again: their pooled connection was dead",
    "group_commits": "write transactions that committed several units of work (SQLite group commit)",
    "grouped_writes": "units of work committed in a shared transaction (SQLite group commit)",
    "unit_waits": "units of work that waited for a turn: more than LABELDESK_DB_CONCURRENCY ran at once "
    "in this process (PostgreSQL)",
    "account_news_lost": "times the connection hearing of other replicas' key changes was lost "
    "(PostgreSQL; until it is back, a revocation elsewhere reaches this process within 5 s)",
}


class _PoolCollector(Collector):
    """The engine's pool numbers, read when Prometheus scrapes (nothing to keep up to date)."""

    def __init__(
        self, engine: Engine, counts: dict[str, int] | None, kept: Callable[[], int] | None = None
    ) -> None:
        self.engine = engine
        self.counts = counts or {}
        #: connections checked out of the pool but idle (storage/idle_connections.py)
        self.kept = kept or (lambda: 0)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        for name, value in sorted(self.counts.items()):
            yield CounterMetricFamily(f"labeldesk_db_{name}", _COUNT_HELP.get(name, name), value=value)
        pool = self.engine.pool
        for name, help_text, read in (
            ("size", "configured pool size", "size"),
            ("checked_out", "connections in use", "checkedout"),
            ("checked_in", "idle connections in the pool", "checkedin"),
            ("overflow", "connections opened beyond the pool size", "overflow"),
        ):
            reader = getattr(pool, read, None)
            if reader is None:
                continue
            gauge = float(reader())
            if read in ("checkedout", "checkedin"):  # kept connections are idle, not in use
                gauge += self.kept() if read == "checkedin" else -self.kept()
            yield GaugeMetricFamily(f"labeldesk_db_pool_{name}", help_text, value=gauge)


class _QueueCollector(Collector):
    def __init__(self) -> None:
        self.sources: dict[str, QueueSource] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "labeldesk_queue_depth", "items waiting, by queue (fed by registered sources)", labels=["queue"]
        )
        for name, source in sorted(self.sources.items()):
            try:
                family.add_metric([name], float(source()))
            except Exception:  # a broken source must not break the scrape
                log.warning("queue depth source %r failed", name, exc_info=True)
        yield family


class Metrics:
    """The registry and the instruments the transports and other parts of the server feed."""

    def __init__(
        self,
        engine: Engine | None = None,
        db_counts: dict[str, int] | None = None,
        kept: Callable[[], int] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "labeldesk_requests",
            "requests answered, by transport, RPC and Clarifai status code",
            ["transport", "rpc", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "labeldesk_request_duration_seconds",
            "time to answer a request, by transport, RPC and Clarifai status code",
            ["transport", "rpc", "code"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        #: (transport, rpc, code) -> the two labelled children: ``labels()`` costs a lock and a
        #: tuple lookup per call; the set of label values is bounded (RPCs x status codes)
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        #: run before every render (the observer's queued requests: ops/observe.py)
        self._before_render: list[Callable[[], None]] = []
        #: the server's other processes (serve --workers): their metrics join every render
        self._peers: list[tuple[str, Fetch]] = []
        #: in a worker process of serve --workers: the first process's whole render
        self._whole: Fetch | None = None
        self._queues = _QueueCollector()
        self.registry.register(self._queues)
        if engine is not None:
            self.registry.register(_PoolCollector(engine, db_counts, kept))

    def observe(self, transport: str, rpc: str, code: str, seconds: float) -> None:
        key = (transport, rpc, code)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(*key), self.latency.labels(*key))
        children[0].inc()
        children[1].observe(seconds)

    def add_queue_source(self, queue: str, source: QueueSource) -> None:
        """Report ``source()`` as ``labeldesk_queue_depth{queue=...}`` at every scrape."""
        self._queues.sources[queue] = source

    def before_render(self, hook: Callable[[], None]) -> None:
        """Run ``hook()`` before every :meth:`render` (so a scrape sees what is queued)."""
        self._before_render.append(hook)

    def add_peer(self, worker: str, fetch: Fetch) -> None:
        """Join another process's metrics (``fetch()``: its exposition text, None when it does not
        answer) to every render, its series labelled ``worker`` (ops/peer_metrics.py)."""
        self._peers.append((worker, fetch))

    def render(self) -> bytes:
        """This process's metrics, and its peers' (:meth:`add_peer`)."""
        for hook in self._before_render:
            hook()
        own = generate_latest(self.registry)
        return merged(own, self._peers) if self._peers else own

    def served_by(self, whole: Fetch) -> None:
        """In a worker process of ``serve --workers``: ``/metrics`` answers ``whole()`` (the first
        process's render, which holds this process's metrics too) instead of this one's alone."""
        self._whole = whole

    def exposition(self) -> bytes | None:
        """What ``/metrics`` answers: every process's metrics; None when the first process did
        not answer a worker process in time."""
        return self.render() if self._whole is None else self._whole()
