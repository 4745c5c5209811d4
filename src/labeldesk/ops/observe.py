"""One record per answered request, from either transport: a metrics sample and an access-log line."""

from __future__ import annotations

import logging

from labeldesk.ops.logs import ACCESS_LOGGER
from labeldesk.ops.metrics import Metrics

access = logging.getLogger(ACCESS_LOGGER)


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
            access.info(
                "%s %s %s %s %.1f ms",
                transport,
                rpc,
                code,
                req_id or "-",
                duration_ms,
                extra={
                    "req_id": req_id,
                    "transport": transport,
                    "rpc": rpc,
                    "code": code,
                    "http_status": http_status,
                    "duration_ms": duration_ms,
                },
            )
