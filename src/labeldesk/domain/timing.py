"""Time per item and throughput from when work was started and submitted (pure, no I/O).

A worker is handed up to 10 inputs at once by LABEL_START, so an item's time is measured from the
later of its hand-out and the worker's previous submission in the task, to its submission: the
time the worker actually spent on it when working through the batch one input after another."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class Stamp:
    worker_id: str
    started_at: datetime | None
    submitted_at: datetime


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def item_seconds(stamps: Iterable[Stamp]) -> dict[str, list[float]]:
    """Per worker, the seconds spent on each submitted item (in submission order)."""
    per_worker: dict[str, list[Stamp]] = {}
    for s in stamps:
        per_worker.setdefault(s.worker_id, []).append(s)
    out: dict[str, list[float]] = {}
    for worker, mine in per_worker.items():
        mine.sort(key=lambda s: _aware(s.submitted_at))
        previous: datetime | None = None
        spans: list[float] = []
        for s in mine:
            end = _aware(s.submitted_at)
            begins = [b for b in (s.started_at and _aware(s.started_at), previous) if b is not None]
            if begins:
                spans.append(max(0.0, (end - max(begins)).total_seconds()))
            previous = end
        out[worker] = spans
    return out


def summary(spans: Sequence[float]) -> dict[str, float | int]:
    """Items timed, median and mean seconds per item (0 when nothing was timed)."""
    if not spans:
        return {"items": 0, "median_seconds": 0.0, "mean_seconds": 0.0}
    return {
        "items": len(spans),
        "median_seconds": round(statistics.median(spans), 3),
        "mean_seconds": round(statistics.fmean(spans), 3),
    }


def throughput(stamps: Iterable[Stamp], bucket_seconds: int) -> list[dict[str, object]]:
    """Submissions per time bucket (buckets aligned to the epoch), oldest first, empty buckets
    between the first and last included so a chart's time axis is even."""
    counts: dict[int, int] = {}
    for s in stamps:
        b = int(_aware(s.submitted_at).timestamp()) // bucket_seconds
        counts[b] = counts.get(b, 0) + 1
    if not counts:
        return []
    first, last = min(counts), max(counts)
    return [
        {
            "start": datetime.fromtimestamp(b * bucket_seconds, timezone.utc).isoformat(),
            "count": counts.get(b, 0),
        }
        for b in range(first, last + 1)
    ]


def bucket_for(stamps: Sequence[Stamp]) -> int:
    """A bucket size giving at most ~60 points over the span of the submissions: a minute, 10
    minutes, an hour or a day."""
    if not stamps:
        return 60
    times = [_aware(s.submitted_at).timestamp() for s in stamps]
    span = max(times) - min(times)
    for size in (60, 600, 3600):
        if span / size <= 60:
            return size
    return 86400
