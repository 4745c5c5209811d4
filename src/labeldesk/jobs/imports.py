"""Job kind ``inputs_import``: a dataset import from a folder on the server (PostInputsDataSources),
the same bulk import as ``labeldesk import`` with bad records skipped and counted. Resumable: the
progress stores how many records are done (checkpointed after every chunk of 2,000), and a resumed
run skips them and notes where it went on (``resumed_from``); a chunk written just before the
server died but not yet checkpointed is written again harmlessly (ids are stable)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from sqlalchemy import Row

from labeldesk.datasets_io.formats import READERS
from labeldesk.datasets_io.records import FormatError
from labeldesk.jobs.worker import FinalError, Handler, Report
from labeldesk.services import dataset_import as imp
from labeldesk.services.context import AppRef
from labeldesk.services.hosting import Hosting
from labeldesk.storage.engine import Database


def handler(hosting: Hosting | None) -> Handler:
    """The import handler; with ``hosting``, local images are stored in the blob store."""

    def run_hosted(db: Database, job: Row[Any], report: Report) -> dict[str, Any]:
        return run(db, job, report, hosting)

    return run_hosted


def run(db: Database, job: Row[Any], report: Report, hosting: Hosting | None = None) -> dict[str, Any]:
    p = job.payload
    app = AppRef(pk=job.app_pk, id=p["app_id"], owner_id=p["owner_id"])
    done = int((job.progress or {}).get("done", 0))
    try:
        items = list(READERS[p["format"]](Path(p["path"])))
    except FormatError as e:
        raise FinalError(str(e)) from e
    except OSError as e:
        raise FinalError(f"cannot read {p['path']}: {e}") from e
    totals = {k: int((job.progress or {}).get(k, 0)) for k in ("success", "failed")}
    resumed = list((job.progress or {}).get("resumed_from", [])) + ([done] if done else [])
    report({"total": len(items), "done": done, **totals, "resumed_from": resumed})

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
        chunk_size=2_000,
        progress=progress,
    )
    return {
        "inputs": summary.inputs,
        "existing": summary.existing,
        "annotations": summary.annotations,
        "concepts": summary.concepts,
        "skipped": [str(e) for e in summary.skipped[:100]],
    }
