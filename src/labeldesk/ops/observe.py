"""One record per answered request, from either transport: a metrics sample and an access-log line.

The thread that answered only queues the record (a tuple on a deque); one background thread
turns the queued records into metrics samples and log lines, :data:`FLUSH_SECONDS` at a time.
Done per call in the answering thread, the same work cost ~3x its tight-loop cost (68 against
23 µs of thread CPU per gRPC call: between calls the caches go cold), a tenth of a trivial
read's server CPU (docs/performance.md, transport). Every ``/metrics`` render and
:meth:`Observer.flush` drain the queue first, so a scrape counts every request answered before
it; log lines carry the time their request was answered and appear up to
:data:`FLUSH_SECONDS` later (:meth:`Observer.close`, run when the server stops, writes the rest).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from labeldesk.ops.logs import ACCESS_LOGGER
from labeldesk.ops.metrics import Metrics

access = logging.getLogger(ACCESS_LOGGER)
ACCESS_LINE = "%s %s %s %s %.1f ms"
#: how often the background thread writes the queued records
FLUSH_SECONDS = 0.05
#: (answered at (time.time()), transport, rpc, code, seconds, req_id, http_status, log it)
_Record = tuple[float, str, str, "int | str", float, str, "int | None", bool]


class Observer:
    def __init__(self, metrics: Metrics, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.metrics = metrics
        self.flush_seconds = flush_seconds
        self._queued: deque[_Record] = deque()
        #: one drain at a time, so samples and lines keep their order
        self._draining = threading.Lock()
        self._closed = threading.Event()
        self._writer: threading.Thread | None = None
        self._starting = threading.Lock()
        metrics.before_render(self.flush)

    def record(
        self,
        transport: str,
        rpc: str,
        code: int | str,
        seconds: float,
        req_id: str = "",
        http_status: int | None = None,
    ) -> None:
        # The level is asked now: a line is written if it was wanted when the request ended.
        log = access.isEnabledFor(logging.INFO)
        self._queued.append((time.time(), transport, rpc, code, seconds, req_id, http_status, log))
        if self._writer is None:
            self._start()

    def flush(self) -> None:
        """Write every queued record now (metrics samples, then their log lines)."""
        queued = self._queued
        if not queued:
            return
        with self._draining:
            observe = self.metrics.observe
            while queued:  # only this drains it, and one at a time: never empty here
                when, transport, rpc, code, seconds, req_id, http_status, log = queued.popleft()
                observe(transport, rpc, str(code), seconds)
                if log:
                    _log(when, transport, rpc, code, seconds, req_id, http_status)

    def close(self) -> None:
        """Stop the background thread and write what is queued."""
        self._closed.set()
        writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join()
        self.flush()

    def _start(self) -> None:
        with self._starting:
            if self._writer is not None or self._closed.is_set():
                return
            self._writer = threading.Thread(target=self._write, name="access-log", daemon=True)
            self._writer.start()

    def _write(self) -> None:
        while not self._closed.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # a broken log handler must not stop the metrics
                logging.getLogger("labeldesk").exception("writing request records failed")


def _log(
    when: float,
    transport: str,
    rpc: str,
    code: int | str,
    seconds: float,
    req_id: str,
    http_status: int | None,
) -> None:
    duration_ms = round(seconds * 1000, 3)
    # The record is made here and handed to the logger, as Logger.info would after looking up
    # its caller's file and line (which no handler of ours prints): a third of the cost of a line.
    record = logging.getLogRecordFactory()(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        0,
        ACCESS_LINE,
        (transport, rpc, code, req_id or "-", duration_ms),
        None,
    )
    fields = record.__dict__
    # when the request was answered, not when the line is written
    fields["created"] = when
    fields["msecs"] = int((when - int(when)) * 1000) + 0.0
    fields["relativeCreated"] = (when - logging._startTime) * 1000  # type: ignore[attr-defined]
    fields["req_id"] = req_id
    fields["transport"] = transport
    fields["rpc"] = rpc
    fields["code"] = code
    fields["http_status"] = http_status
    fields["duration_ms"] = duration_ms
    access.handle(record)
