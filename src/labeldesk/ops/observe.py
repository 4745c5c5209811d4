"""One record per answered request, from either transport: a metrics sample and an access-log line."""

from __future__ import annotations

import logging

from labeldesk.ops.logs import ACCESS_LOGGER
from labeldesk.ops.metrics import Metrics

access = logging.getLogger(ACCESS_LOGGER)
ACCESS_LINE = "%s %s %s %s %.1f ms"


class Observer:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def record(
        self,
        transport: str,
        rpc: str,
        code: int | str,
        seconds: float,
        req_id: str = "",
        http_status: int | None = None,
    ) -> None:
        self.metrics.observe(transport, rpc, str(code), seconds)
        if access.isEnabledFor(logging.INFO):
            duration_ms = round(seconds * 1000, 3)
            # The record is made here and handed to the logger, as Logger.info would after
            # looking up its caller's file and line (which no handler of ours prints): a third
            # of the cost of a line, paid on every request.
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
            fields["req_id"] = req_id
            fields["transport"] = transport
            fields["rpc"] = rpc
            fields["code"] = code
            fields["http_status"] = http_status
            fields["duration_ms"] = duration_ms
            access.handle(record)
