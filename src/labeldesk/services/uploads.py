"""Uploads: PostUploads, PutUploadContentParts, GetUpload, ListUploads, DeleteUploads.

An upload is an archive (zip, tar, tar.gz) sent in parts so no request carries more than the body
cap; PostInputsUploads (:mod:`labeldesk.services.import_jobs`) then imports it in the background.

- Parts may come in any order, several per call. Each is stored as a blob of the app (key
  ``upload.<upload pk>.<range_start>.<sha256 prefix>``; blob names carry no ``/``) and recorded
  with its range and hash. A part sent again with the same range and bytes is a harmless retry;
  one that overlaps a stored part otherwise is refused, so parts never overlap and the upload is
  UPLOAD_DONE exactly when the stored bytes add up to ``content_length``.
- The archive is put together by streaming its parts in byte order (:func:`assemble`), so any
  :class:`~labeldesk.files.store.BlobStore` (an S3 one too) can hold them.
- An upload expires :data:`TTL` after it was made or last given to an import job; the server's
  sweep (:func:`sweep`) then deletes its bytes and it answers UPLOAD_EXPIRED. An upload a queued
  or running job reads never expires.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import datetime, timedelta
from functools import partial
from typing import IO, Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from sqlalchemy import Connection, Row

from labeldesk.config import Settings
from labeldesk.domain import errors
from labeldesk.domain.upload_parts import Part, PartRefused, gaps, place
from labeldesk.files.archives import SUFFIXES
from labeldesk.files.store import BlobStore
from labeldesk.services import registry as rpc
from labeldesk.services.common import check_id, page_of, require_unique, timestamp
from labeldesk.services.context import RequestContext
from labeldesk.services.hosting import Hosting
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database, after_commit
from labeldesk.storage.repos import uploads as repo

TTL = timedelta(hours=24)
STATES = {
    repo.IN_PROGRESS: (status_code_pb2.UPLOAD_IN_PROGRESS, "Upload in progress"),
    repo.DONE: (status_code_pb2.UPLOAD_DONE, "Upload done"),
    repo.EXPIRED: (status_code_pb2.UPLOAD_EXPIRED, "Upload expired"),
}


def upload_proto(row: Row[Any]) -> resources_pb2.Upload:
    code, description = STATES[row.state]
    details = (
        f"{row.received:,} of {row.content_length:,} bytes received" if row.state == repo.IN_PROGRESS else ""
    )
    return resources_pb2.Upload(
        id=row.id,
        content_name=row.content_name,
        content_length=row.content_length,
        status=status_pb2.Status(code=code, description=description, details=details),
        created_at=timestamp(row.created_at),
        modified_at=timestamp(row.modified_at),
        expires_at=timestamp(row.expires_at),
    )


def require(
    conn: Connection, app_pk: int, upload_id: str, where: str = "upload_id", lock: bool = False
) -> Row[Any]:
    row = repo.get(conn, app_pk, upload_id, lock) if upload_id else None
    if row is None:
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"{where}: upload '{upload_id}' does not exist",
            "PostUploads answers the upload's id; ListUploads lists the app's uploads",
        )
    return row


def expired(upload_id: str, where: str = "upload_id") -> errors.ApiError:
    """The error of a request that needs the bytes of an expired upload."""
    return errors.invalid(
        f"{where}: upload '{upload_id}' has expired and its bytes are gone",
        "upload the archive again (PostUploads, PutUploadContentParts)",
    )


def _part(row: Row[Any]) -> Part:
    return Part(row.range_start, row.length, row.sha256, row.part_number)


def missing_ranges(conn: Connection, upload: Row[Any]) -> list[tuple[int, int]]:
    """The byte ranges (first, last) not received yet."""
    return gaps([_part(p) for p in repo.parts(conn, upload.pk)], upload.content_length)


def assemble(store: BlobStore, app_pk: int, parts: list[Row[Any]], out: IO[bytes]) -> None:
    """Write the upload's bytes to ``out`` by streaming its ``parts`` (in byte order, as
    :func:`~labeldesk.storage.repos.uploads.parts` reads them)."""
    for part in parts:
        f = store.open(str(app_pk), part.blob_key)
        if f is None:
            raise FileNotFoundError(f"part {part.part_number} (bytes from {part.range_start:,}) is gone")
        with f:
            shutil.copyfileobj(f, out, 1 << 20)


def part_key(upload_pk: int, start: int, sha256: str) -> str:
    """A part's blob: named by its upload, range and bytes (blob names carry no ``/``)."""
    return f"{_prefix(upload_pk)}{start}.{sha256[:16]}"


PREFIX = "upload."


def _prefix(upload_pk: int) -> str:
    return f"{PREFIX}{upload_pk}."


def _upload_pk(key: str) -> int | None:
    """The upload a part's blob belongs to (None for a key that is not a part's)."""
    pk = key[len(PREFIX) :].split(".", 1)[0]
    return int(pk) if key.startswith(PREFIX) and pk.isdigit() else None


def _delete_bytes(store: BlobStore, app_pk: int, upload_pk: int) -> None:
    """Every blob of the upload: its recorded parts, and any part whose bytes were stored by a
    server that died before recording it (found by the key's prefix)."""
    app = str(app_pk)
    for key in store.keys(app, _prefix(upload_pk)):
        store.delete(app, key)


def collect_orphans(db: Database, store: BlobStore) -> int:
    """Delete the part blobs whose upload is gone or expired, and answer how many went:
    DeleteUploads and the expiry sweep delete an upload's bytes after their commit, so a server
    that died in between left them, and a deleted app's uploads leave with its rows alone. Run by
    the server every minute; a store that cannot list its apps is left alone (as
    :func:`~labeldesk.jobs.version_exports.collect_archives` does).

    The check is made again, and the blobs deleted, inside a write transaction: on SQLite a new
    upload may take the pk of the newest deleted one, and no upload is made or given a part while
    the transaction holds the write lock (PostgreSQL never reuses a pk). A part stored after the
    listing is not in it, so it is never deleted here."""
    apps = getattr(store, "apps", None)
    if apps is None:
        return 0
    done = 0
    for app in apps():
        if not app.isdigit():
            continue
        owners = {key: pk for key in store.keys(app, PREFIX) if (pk := _upload_pk(key)) is not None}
        if not owners:
            continue
        pks = set(owners.values())
        with db.read() as conn:
            if repo.live_pks(conn, int(app), pks) == pks:
                continue  # the usual round: every blob has its upload
        with db.write() as conn:
            live = repo.live_pks(conn, int(app), pks)
            for key, pk in owners.items():
                if pk not in live:
                    store.delete(app, key)
                    done += 1
    return done


def sweep(db: Database, store: BlobStore, now: datetime | None = None, batch: int = 100) -> int:
    """Expire the uploads past their time that no queued or running job reads: their bytes go,
    their rows stay (UPLOAD_EXPIRED). Answers how many expired. A round with none due is a read."""
    now = now or utcnow()
    with db.read() as conn:  # the usual round: nothing due, and no wait for the write lock
        if not repo.due(conn, now, 1):
            return 0
    done = 0
    while True:
        with db.write() as conn:
            rows = repo.due(conn, now, batch)
            for row in rows:
                repo.expire(conn, row.pk)
                # once expired for good (a rollback keeps both); a crash before then leaves bytes
                # of an expired upload, which collect_orphans finds
                after_commit(conn, partial(_delete_bytes, store, row.app_pk, row.pk))
        done += len(rows)
        if len(rows) < batch:
            return done


class UploadsService:
    def __init__(self, hosting: Hosting | None, settings: Settings) -> None:
        self.hosting = hosting
        self.max_bytes = settings.max_archive_bytes

    def _hosting(self) -> Hosting:
        if self.hosting is None:
            raise errors.invalid("uploads: this server has no blob store to keep uploads in")
        return self.hosting

    def _store(self) -> BlobStore:
        return self._hosting().store

    @rpc.write("PostUploads")
    def post_uploads(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostUploadsRequest
    ) -> service_pb2.MultiUploadResponse:
        app = ctx.require_app()
        self._store()
        if not req.uploads:
            raise errors.invalid("uploads: give at least one upload (content_name and content_length)")
        require_unique("upload", [u.id for u in req.uploads if u.id], "uploads[].id")
        rows = []
        for n, upload in enumerate(req.uploads):
            name = upload.content_name
            if not name.lower().endswith(SUFFIXES):
                raise errors.invalid(
                    f"uploads[{n}].content_name: '{name[:100]}' must end in .zip, .tar, .tar.gz or .tgz",
                    "upload a zip or tar archive of the dataset folder",
                )
            if not 1 <= upload.content_length <= self.max_bytes:
                raise errors.invalid(
                    f"uploads[{n}].content_length: must be between 1 and {self.max_bytes:,} bytes, "
                    f"got {upload.content_length:,}",
                    "the server's limit is LABELDESK_MAX_ARCHIVE_BYTES",
                )
            upload_id = check_id("upload", upload.id, f"uploads[{n}].id")
            if repo.get(conn, app.pk, upload_id) is not None:
                raise errors.ApiError(
                    errors.DUPLICATE_KEY, f"uploads[{n}].id: upload '{upload_id}' already exists"
                )
            rows.append(
                repo.insert_upload(conn, app.pk, upload_id, name, upload.content_length, utcnow() + TTL)
            )
        return service_pb2.MultiUploadResponse(uploads=[upload_proto(r) for r in rows])

    @rpc.read("PutUploadContentParts")
    def put_upload_content_parts(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PutUploadContentPartsRequest
    ) -> service_pb2.SingleUploadResponse:
        """Registered as a read: a part's bytes go to the blob store outside any write transaction
        (8 MiB to disk, or to an object store, would hold SQLite's one writer -- every labeler's
        LABEL_SUBMIT -- for as long), then each part is recorded in a short write transaction of
        its own, with the upload locked, where retries and overlaps are decided."""
        app = ctx.require_app()
        store, db = self._store(), self._hosting().db
        upload = require(conn, app.pk, req.upload_id)
        if upload.state == repo.EXPIRED:
            raise expired(upload.id)
        if not req.content_parts:
            raise errors.invalid("content_parts: give at least one part (part_number, range_start, data)")
        for n, part in enumerate(req.content_parts):
            upload = self._put_part(db, store, upload, f"content_parts[{n}]", part)
        return service_pb2.SingleUploadResponse(upload=upload_proto(upload))

    def _put_part(
        self,
        db: Database,
        store: BlobStore,
        upload: Row[Any],
        where: str,
        part: resources_pb2.UploadContentPart,
    ) -> Row[Any]:
        sha = hashlib.sha256(part.data).hexdigest()
        new = Part(part.range_start, len(part.data), sha, part.part_number)
        # The key names the range and the bytes, so storing it again (a retry, or a part another
        # call records first) rewrites the same blob, and a refused part's key is no stored part's.
        key = part_key(upload.pk, new.start, sha)
        app = str(upload.app_pk)

        def record(conn: Connection) -> Row[Any]:
            now = require(conn, upload.app_pk, upload.id, lock=True)
            if now.state == repo.EXPIRED:
                raise expired(now.id)
            overlapping = [_part(p) for p in repo.overlapping(conn, now.pk, new.start, new.end)]
            if not place(new, now.content_length, overlapping):
                return now  # the same part again: a retry
            return repo.add_part(conn, now, new.start, new.size, new.number, sha, key)

        stored = False
        try:
            place(new, upload.content_length, [])  # a range refused alone: nothing is stored
            store.put(app, key, part.data, "application/octet-stream")
            stored = True
            return db.run(record, write=True)
        except PartRefused as e:
            if stored:
                store.delete(app, key)
            field = f"{where}.data" if not new.size else where
            raise errors.invalid(
                f"{field}: {e}", "send each byte range once; a retry repeats the same range_start and data"
            ) from e
        except errors.ApiError:  # the upload was deleted or expired meanwhile
            store.delete(app, key)
            raise

    @rpc.read("GetUpload")
    def get_upload(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetUploadRequest
    ) -> service_pb2.SingleUploadResponse:
        row = require(conn, ctx.require_app().pk, req.upload_id)
        return service_pb2.SingleUploadResponse(upload=upload_proto(row))

    @rpc.read("ListUploads")
    def list_uploads(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListUploadsRequest
    ) -> service_pb2.MultiUploadResponse:
        page = page_of(req.page, req.per_page)
        rows = repo.page(conn, ctx.require_app().pk, page.offset, page.per_page)
        return service_pb2.MultiUploadResponse(uploads=[upload_proto(r) for r in rows])

    @rpc.write("DeleteUploads")
    def delete_uploads(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteUploadsRequest
    ) -> status_pb2.BaseResponse:
        app = ctx.require_app()
        if not req.ids:
            raise errors.invalid("ids: give the ids of the uploads to delete")
        require_unique("upload", list(req.ids))
        rows = [require(conn, app.pk, i, f"ids[{n}]") for n, i in enumerate(req.ids)]
        for n, row in enumerate(rows):
            job = repo.busy_job(conn, row)
            if job:
                raise errors.invalid(
                    f"ids[{n}]: upload '{row.id}' is being imported by job '{job}'",
                    "cancel the job (CancelInputsAddJob) or wait for it to end, then delete the upload",
                )
        repo.delete_uploads(conn, [r.pk for r in rows])
        if self.hosting is not None:  # once the rows are gone for good: a rollback keeps both
            store = self.hosting.store
            for row in rows:
                after_commit(conn, partial(_delete_bytes, store, row.app_pk, row.pk))
        return status_pb2.BaseResponse()
