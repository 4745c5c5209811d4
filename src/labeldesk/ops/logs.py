"""Log set-up for ``labeldesk serve``: plain text for a terminal, or one JSON object per line
for log shippers (``--log-format json``). Request records (logger ``labeldesk.access``) carry
``req_id``, ``rpc``, ``transport``, ``code``, ``http_status`` and ``duration_ms`` as fields."""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import Any

import orjson

ACCESS_LOGGER = "labeldesk.access"
FORMATS = ("text", "json")
REQUEST_FIELDS = ("req_id", "transport", "rpc", "code", "http_status", "duration_ms", "method", "path")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in REQUEST_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    """Send every record to stderr in ``fmt`` (``text`` or ``json``); replaces earlier set-up."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: choose one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
