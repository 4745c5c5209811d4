"""Progress bars and summaries of ``labeldesk import`` / ``export`` (rich, on stderr)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

if TYPE_CHECKING:  # the server-side import's type only: the REST-only commands load no services
    from labeldesk.services.dataset_import import Summary

console = Console(stderr=True)


def say(message: str) -> None:
    """One message on stderr, as it is (no markup, no highlighting, no wrapping)."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def records_progress(verb: str) -> Iterator[Progress]:
    """A bar of records; a task's description, when not empty, follows ``verb`` (a job's state)."""
    columns = (
        TextColumn(f"[bold]{verb}[/] {{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield progress


@contextmanager
def bytes_progress(verb: str) -> Iterator[Progress]:
    """A bar of bytes sent, with the rate and the time left (uploads)."""
    columns = (
        TextColumn(f"[bold]{verb}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield progress


def print_summary(s: Summary, seconds: float) -> None:
    rate = s.seen / seconds if seconds > 0 else 0.0
    console.print(
        f"inputs: {s.inputs} new, {s.existing} already there; annotations: {s.annotations} "
        f"({s.regions} regions); concepts: {s.concepts} new; skipped: {len(s.skipped)} "
        f"— {s.seen} records in {seconds:.2f} s ({rate:,.0f}/s)",
        soft_wrap=True,
    )
    for e in s.skipped[:50]:
        say(f"  skipped {e}")
    if len(s.skipped) > 50:
        console.print(f"  … and {len(s.skipped) - 50} more")
