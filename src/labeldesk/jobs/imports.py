"""Job kind ``inputs_import``: a dataset import from a folder on the server (PostInputsDataSources)
or from an uploaded archive (PostInputsUploads), the same bulk import as ``labeldesk import`` with
bad records skipped and counted. Resumable: the progress stores how many records are done
(checkpointed after every chunk of 2,000), and a resumed run skips them and notes where it went on
(``resumed_from``); a chunk written just before the server died but not yet checkpointed is written
again harmlessly (ids are stable). Cancellable: a cancelled job's next progress report stops it
(:mod:`labeldesk.jobs.worker`), so it ends after its current chunk.

An archive is put together from its parts (streamed from the blob store in byte order) in a work
folder, unpacked there safely (:mod:`labeldesk.files.archives`) and imported from there; the
work folder (in the system's temporary folder, ``TMPDIR``) is removed afterwards, and a resumed
run unpacks again.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Row

from labeldesk.datasets_io.formats import READERS, detect_format
from labeldesk.datasets_io.records import FormatError
from labeldesk.domain.archive_safety import Limits
from labeldesk.files import archives
from labeldesk.jobs.worker import FinalError, Handler, Report
from labeldesk.services import dataset_import as imp
from labeldesk.services import uploads
from labeldesk.services.context import AppRef
from labeldesk.services.hosting import Hosting
from labeldesk.services.import_jobs import MAX_SKIPPED_SHOWN
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import uploads as uploads_repo


def handler(hosting: Hosting | None) -> Handler:
    """The import handler; with ``hosting``, local images are stored in the blob store."""

    def run_hosted(db: Database, job: Row[Any], report: Report) -> dict[str, Any]:
        return run(db, job, report, hosting)

    return run_hosted


def run(db: Database, job: Row[Any], report: Report, hosting: Hosting | None = None) -> dict[str, Any]:
    p = job.payload
    if "upload" not in p:
        return _import(db, job, report, hosting, Path(p["path"]), p["format"])
    if hosting is None:
        raise FinalError("this server has no blob store to read uploads from")
    with tempfile.TemporaryDirectory(prefix="labeldesk-import-") as work:
        root = _unpack(db, hosting, p, Path(work), report)
        return _import(db, job, report, hosting, root, p.get("format") or detect_format(root))


def _unpack(db: Database, hosting: Hosting, p: dict[str, Any], work: Path, report: Report) -> Path:
    """The uploaded archive of payload ``p``, unpacked below ``work``: the folder to import."""
    u = p["upload"]
    report({"extraction": "running", "extracted_files": 0})
    with db.read() as conn:
        upload = uploads_repo.by_pk(conn, int(u["pk"]))
        parts = uploads_repo.parts(conn, int(u["pk"])) if upload is not None else []
    if upload is None or upload.state != uploads_repo.DONE:
        raise FinalError(f"upload '{u['id']}' was deleted or expired before its import ran")
    archive = work / "archive"
    try:
        with archive.open("wb") as out:
            uploads.assemble(hosting.store, upload.app_pk, parts, out)
    except OSError as e:
        raise FinalError(f"upload '{u['id']}' cannot be read: {e}") from e
    limits = Limits(int(p["limits"]["max_bytes"]), int(p["limits"]["max_files"]))
    (work / "files").mkdir()
    try:
        root = archives.extract(
            archive,
            work / "files",
            limits,
            u["content_name"],
            on_file=lambda n: report({"extracted_files": n}),
        )
    except archives.ArchiveError as e:
        raise FinalError(str(e)) from e
    finally:
        archive.unlink(missing_ok=True)
    report({"extraction": "done"})
    return root


def _import(
    db: Database, job: Row[Any], report: Report, hosting: Hosting | None, path: Path, fmt: str
) -> dict[str, Any]:
    p = job.payload
    app = AppRef(pk=job.app_pk, id=p["app_id"], owner_id=p["owner_id"])
    done = int((job.progress or {}).get("done", 0))
    try:
        items = list(READERS[fmt](path))
    except FormatError as e:
        raise FinalError(str(e)) from e
    except OSError as e:
        raise FinalError(f"cannot read {p.get('path') or path.name}: {e}") from e
    totals = {k: int((job.progress or {}).get(k, 0)) for k in ("success", "failed")}
    resumed = list((job.progress or {}).get("resumed_from", [])) + ([done] if done else [])
    report({"total": len(items), "done": done, **totals, "resumed_from": resumed, "format": fmt})

    def progress(s: imp.Summary) -> None:
        report(
            {
                "done": done + s.seen,
                "success": totals["success"] + s.inputs + s.existing,
                "failed": totals["failed"] + len(s.skipped),
            }
        )

    target = imp.Target(app, p.get("dataset_id", ""), "")
    summary = imp.import_records(
        db,
        target,
        itertools.islice(items, done, None),
        skip_errors=True,
        hosting=hosting,
        chunk_size=CHUNK,
        progress=progress,
    )
    return {
        "inputs": summary.inputs,
        "existing": summary.existing,
        "annotations": summary.annotations,
        "concepts": summary.concepts,
        "skipped_count": len(summary.skipped),
        "skipped": [str(e) for e in summary.skipped[:MAX_SKIPPED_SHOWN]],
    }


CHUNK = 2_000  # records per transaction and per progress report (a cancel stops between two)
