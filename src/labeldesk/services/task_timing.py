"""GetTask ``additional_fields: ["timing"]``: per worker, items timed and median / mean seconds
per item, and the task's submissions over time (``domain/timing.py`` does the arithmetic)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from labeldesk.domain.timing import Stamp, bucket_for, item_seconds, summary, throughput
from labeldesk.services.task_record import TaskRecord
from labeldesk.storage.repos import assignment_timing as repo

#: the key of ``metadata`` (and the additional field) GetTask answers it in
TIMING = "timing"


def timing(conn: Connection, task: TaskRecord) -> dict[str, Any]:
    stamps = [Stamp(r.worker_id, r.started_at, r.submitted_at) for r in repo.submitted(conn, task.pk)]
    size = bucket_for(stamps)
    return {
        "workers": {w: summary(spans) for w, spans in sorted(item_seconds(stamps).items())},
        "bucket_seconds": size,
        "throughput": throughput(stamps, size),
    }
