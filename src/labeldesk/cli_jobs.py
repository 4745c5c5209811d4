"""``labeldesk import --server`` and ``labeldesk jobs``: imports run as background jobs on a running
server (an uploaded archive or a folder on the server), watched with a progress bar of records.

stdout carries only a job id (``--no-wait``); every message goes to stderr. Ctrl-C while watching
stops watching only: the job runs on, and the message says how to watch it again."""

from __future__ import annotations

import shlex
from datetime import datetime, timezone
from pathlib import Path

import click
from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from rich.console import Console
from rich.table import Table

from labeldesk.cli_progress import bytes_progress, records_progress, say
from labeldesk.client.archive import archive_of
from labeldesk.client.rest import MOVING, Remote
from labeldesk.client.upload import upload_file

#: jobs read per page, and pages at most, when looking past PostInputs calls' jobs for imports
SCAN_PER_PAGE = 200
SCAN_PAGES = 10
#: exit status after Ctrl-C (the shell's convention for SIGINT)
INTERRUPTED = 130
STATE_NAMES = {
    status_code_pb2.JOB_QUEUED: "queued",
    status_code_pb2.JOB_RUNNING: "running",
    status_code_pb2.JOB_PAUSED: "paused",
    status_code_pb2.JOB_COMPLETED: "completed",
    status_code_pb2.JOB_FAILED: "failed",
    status_code_pb2.JOB_CANCELLED: "cancelled",
}


def connect(server: str, key: str, app_spec: str) -> Remote:
    """The client of ``app_spec`` (USER/APP) on ``server`` with ``key``; a usage error names what
    is missing."""
    if not server:
        raise click.UsageError("Missing option '--server' (or LABELDESK_SERVER).")
    if not key:
        raise click.UsageError("give an API key or PAT: --key, or LABELDESK_KEY / CLARIFAI_PAT")
    user_id, sep, app_id = app_spec.partition("/")
    if not (sep and user_id and app_id) or "/" in app_id:
        raise click.BadParameter(f"{app_spec!r} is not USER/APP", param_hint="--app")
    return Remote(server, key, user_id, app_id)


def watch_command(remote: Remote, job_id: str) -> str:
    """The command that watches ``job_id`` again (the key stays in the environment)."""
    app = f"{remote.user_id}/{remote.app_id}"
    return shlex.join(["labeldesk", "jobs", "watch", job_id, "--server", remote.server, "--app", app])


def start_import(
    remote: Remote, fmt: str, path: str, server_path: str, dataset_id: str, no_wait: bool
) -> int:
    """Start an import job (``server_path`` a file:// URL on the server, else ``path`` uploaded);
    with ``no_wait`` print its id, else watch it. The exit status."""
    if server_path:
        job = remote.post_inputs_data_sources(server_path, fmt, dataset_id)
    else:
        try:
            upload = _upload(remote, Path(path))
        except KeyboardInterrupt:
            say("\nupload stopped: nothing was imported; what was sent is deleted from the server")
            return INTERRUPTED
        job = remote.post_inputs_uploads(upload.id, fmt, dataset_id)
    say(f"import job {job.id} started on {remote.server}")
    if no_wait:
        click.echo(job.id)
        return 0
    return watch(remote, job.id)


def _upload(remote: Remote, path: Path) -> resources_pb2.Upload:
    if not path.exists():
        raise click.BadParameter(f"{path} does not exist", param_hint="PATH")
    with archive_of(path) as archive, bytes_progress("uploading") as bar:
        size = archive.stat().st_size
        say(f"uploading {archive.name} ({size:,} bytes) to {remote.server}")
        task = bar.add_task("upload", total=size)
        upload = upload_file(remote, archive, lambda n: bar.advance(task, n))
    say(f"uploaded {archive.name} ({size:,} bytes) as upload {upload.id}")
    return upload


def watch(remote: Remote, job_id: str) -> int:
    """Poll the job about twice a second with a bar of records until it ends; its summary and the
    exit status (0 completed, 1 failed or cancelled, 130 after Ctrl-C)."""
    try:
        say(f"watching job {job_id} (Ctrl-C stops watching; the job keeps running on the server)")
        with records_progress("importing") as bar:
            task = bar.add_task("", total=None)

            def seen(job: resources_pb2.InputsAddJob) -> None:
                done, total = _counts(job)
                bar.update(task, completed=done, total=total or None, description=_state(job))

            job = remote.wait_for_job(job_id, seen)
    except KeyboardInterrupt:
        say(f"\nstopped watching; job {job_id} keeps running on the server. Watch it again with:")
        say(f"  {watch_command(remote, job_id)}")
        return INTERRUPTED
    return report(job)


def report(job: resources_pb2.InputsAddJob) -> int:
    """Print a finished job's summary (and skipped records); its exit status."""
    status, p = job.status, job.progress
    if status.code == status_code_pb2.JOB_COMPLETED:
        # labeldesk says what was added in status.details; another server may only count
        summary = status.details or f"{p.success_count:,} inputs added, {p.failed_count:,} skipped"
        say(f"job {job.id} completed: {summary}")
        for line in status.stack_trace:
            say(f"  skipped {line}")
        return 0
    say(f"error: job {job.id} {_state(job)}: {status.details or status.description}")
    if p.success_count:
        say(
            f"{p.success_count:,} inputs were added before it stopped "
            "(running the import again adds no duplicates)"
        )
    return 1


def newest_jobs(remote: Remote, limit: int, imports_only: bool) -> list[resources_pb2.InputsAddJob]:
    """The app's newest ``limit`` jobs; with ``imports_only``, background imports only (those name
    what they read in ``extraction_jobs``; a PostInputs call's own job does not), paging past the
    others for at most :data:`SCAN_PAGES` pages (as the console's Imports tab does)."""
    found: list[resources_pb2.InputsAddJob] = []
    per_page = SCAN_PER_PAGE if imports_only else limit
    for page in range(1, SCAN_PAGES + 1):
        got = remote.list_inputs_add_jobs(page=page, per_page=per_page)
        found += [j for j in got if j.extraction_jobs or not imports_only]
        if len(found) >= limit or len(got) < per_page:
            break
    return found[:limit]


def list_jobs(remote: Remote, limit: int, imports_only: bool = True) -> None:
    """A table of the app's newest jobs on stdout (wide when piped, so ids stay whole)."""
    table = Table("id", "status", "progress", "created", box=None, pad_edge=False)
    for job in newest_jobs(remote, limit, imports_only):
        done, total = _counts(job)
        percent = job.status.percent_completed or (100 * done // total if total else 0)
        failed = job.progress.failed_count
        progress = f"{done:,}/{total:,} ({percent}%)" + (f", {failed:,} skipped" if failed else "")
        created = datetime.fromtimestamp(job.created_at.seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(job.id, _state(job), progress, created)
    out = Console()
    if not out.is_terminal:
        out.width = 200
    out.print(table)


def _counts(job: resources_pb2.InputsAddJob) -> tuple[int, int]:
    """(records done, records in all) of a job's progress."""
    p = job.progress
    done = int(p.success_count + p.failed_count)
    return done, done + int(p.pending_count + p.in_progress_count)


def _state(job: resources_pb2.InputsAddJob) -> str:
    """queued, running (or unpacking: an uploaded archive's extraction), completed, failed, ..."""
    code = job.status.code
    if code == status_code_pb2.JOB_RUNNING and any(e.status.code in MOVING for e in job.extraction_jobs):
        return "unpacking"
    return STATE_NAMES.get(code, job.status.description or str(code))


def cancel(remote: Remote, job_id: str) -> None:
    job = remote.cancel_inputs_add_job(job_id)
    state = _state(job)
    say(
        f"job {job.id}: {state}"
        + (" (a running job stops after its current chunk)" if state != "cancelled" else "")
    )
