"""Hosted files: inputs posted as bytes are kept in the blob store and answered with URLs of
labeldesk's ``/files`` route, the Clarifai way (``data.image.url``, ``data.image.hosted``).

- PostInputs: :meth:`Hosting.take_bytes` checks the posted bytes of one input and answers the
  ``Data`` to store on the input row (bytes removed; ``hosted.suffix`` holds the blob key,
  ``hosted.prefix`` stays empty, ``image_info`` filled) plus what to write; :meth:`Hosting.save`
  writes the bytes and the ``blobs`` rows once the input rows exist.
- Reading inputs: :func:`render_media` turns the stored marker into signed URLs for the caller.
- The ``/files`` route: :meth:`Hosting.open_file` checks a signed URL and finds the bytes.
- Deleting an input detaches its blobs (foreign key ``ON DELETE SET NULL``), so their URLs stop
  working at once; :meth:`Hosting.collect_garbage`, run by the server every minute, deletes
  their bytes and rows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from sqlalchemy import Connection

from labeldesk.domain import errors
from labeldesk.files import media
from labeldesk.files.signing import FileLinks, UrlSigner
from labeldesk.files.store import BlobStore
from labeldesk.services.common import new_id
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import blobs as repo

log = logging.getLogger("labeldesk")

MEDIA = media.KINDS  # ("image", "video", "audio"): the Data fields that can carry bytes
REFUSED = status_code_pb2.CONN_INSUFFICIENT_SCOPES  # answered with HTTP 403


@dataclass(frozen=True)
class Pending:
    """One posted file, checked and rendered, waiting for its input row to exist."""

    key: str
    prepared: media.Prepared


@dataclass(frozen=True)
class Opened:
    """A file the ``/files`` route may serve: a local path or the bytes, and how to label them."""

    content_type: str
    etag: str
    max_age: int
    path: Path | None = None
    data: bytes = b""


def blob_key(key: str, size: str) -> str:
    """The store's name of a hosted file's ``size`` (the original, or a thumbnail)."""
    return key if size == media.ORIG else f"{key}.{size}"


def _own_marker(block: resources_pb2.Image | resources_pb2.Video | resources_pb2.Audio) -> bool:
    """A block whose ``hosted`` is labeldesk's stored marker (a key, no prefix)."""
    return bool(block.hosted.suffix) and not block.hosted.prefix


def render_media(data: resources_pb2.Data, app_pk: int, links: FileLinks | None) -> None:
    """Answer a stored ``Data`` to a caller: no bytes echoed, hosted files as signed URLs."""
    for kind in MEDIA:
        if not data.HasField(kind):  # never add an empty image/video/audio block
            continue
        block = getattr(data, kind)
        block.ClearField("base64")
        if not _own_marker(block):
            continue
        key = block.hosted.suffix
        if links is None:  # no transport (e.g. the demo seeder): nothing to link to
            block.ClearField("hosted")
            continue
        app = str(app_pk)
        block.url = links.url(app, key)
        block.hosted.prefix = links.prefix
        block.hosted.suffix = links.suffix(app, key)


def _hosted_block(kind: str, key: str, p: media.Prepared) -> resources_pb2.Data:
    """The ``Data`` fields stored for a hosted file (the marker read by :func:`render_media`)."""
    hosted = resources_pb2.HostedURL(prefix="", suffix=key, sizes=list(p.variants))
    if kind == "image":
        info = resources_pb2.ImageInfo(
            width=p.orig.width, height=p.orig.height, format=p.format, color_mode=p.color_mode
        )
        image = resources_pb2.Image(hosted=hosted, image_info=info)
        for size, v in p.variants.items():
            image.hosted_image_info[size].CopyFrom(
                resources_pb2.ImageInfo(
                    width=v.width, height=v.height, format=v.content_type.split("/")[-1].upper()
                )
            )
        return resources_pb2.Data(image=image)
    if kind == "video":
        return resources_pb2.Data(video=resources_pb2.Video(hosted=hosted))
    return resources_pb2.Data(audio=resources_pb2.Audio(hosted=hosted))


class Hosting:
    """The blob store, the URL signer and the upload limit, wired once by ``app.build``."""

    def __init__(self, db: Database, store: BlobStore, signer: UrlSigner, max_upload_bytes: int) -> None:
        self.db = db
        self.store = store
        self.signer = signer
        self.max_upload_bytes = max_upload_bytes

    def take_bytes(
        self, data: resources_pb2.Data, where: str, thumbnails: bool = True
    ) -> tuple[resources_pb2.Data, list[Pending]]:
        """``data`` as stored on the input row, and the files to write (none without bytes).
        ``thumbnails`` False (bulk imports): image thumbnails are made when first asked for.

        A ``hosted`` block sent by the client is dropped: only labeldesk names hosted files.
        """
        kept = resources_pb2.Data()
        kept.CopyFrom(data)
        pending: list[Pending] = []
        for kind in MEDIA:
            if not kept.HasField(kind):
                continue
            block = getattr(kept, kind)
            block.ClearField("hosted")
            if not block.base64:
                continue
            if block.url:
                raise errors.invalid(
                    f"{where}.data.{kind}: give either url or base64, not both",
                    "labeldesk hosts the bytes and answers their own url",
                )
            try:
                prepared = media.prepare(kind, block.base64, self.max_upload_bytes, thumbnails)
            except media.MediaError as e:
                raise errors.invalid(f"{where}.data.{kind}.base64: {e}", e.hint) from e
            key = new_id()
            getattr(kept, kind).CopyFrom(getattr(_hosted_block(kind, key, prepared), kind))
            pending.append(Pending(key, prepared))
        return kept, pending

    def save(self, conn: Connection, app_pk: int, items: list[tuple[int, list[Pending]]]) -> None:
        """Write the files of inputs just inserted (``(input_pk, pending)`` pairs) and their
        ``blobs`` rows; on a failure, remove what was written before re-raising."""
        written: list[str] = []
        try:
            for _, pending in items:
                written += self.write_files(app_pk, pending)
            self.record(conn, app_pk, items)
        except BaseException:
            self.remove_files(app_pk, written)
            raise

    def write_files(self, app_pk: int, pending: list[Pending]) -> list[str]:
        """Write the bytes of ``pending`` (no rows yet); answer the blob keys written."""
        app = str(app_pk)
        written: list[str] = []
        try:
            for f in pending:
                for size, v in f.prepared.variants.items():
                    if v.data or size == media.ORIG:  # planned thumbnails are made when asked for
                        self.store.put(app, blob_key(f.key, size), v.data, v.content_type)
                        written.append(blob_key(f.key, size))
        except BaseException:
            self.remove_files(app_pk, written)
            raise
        return written

    def remove_files(self, app_pk: int, keys: list[str]) -> None:
        for key in keys:
            self.store.delete(str(app_pk), key)

    def record(self, conn: Connection, app_pk: int, items: list[tuple[int, list[Pending]]]) -> None:
        """The ``blobs`` rows of files already written (:meth:`write_files`)."""
        rows = []
        for input_pk, pending in items:
            for f in pending:
                thumbs = [v for s, v in f.prepared.variants.items() if s != media.ORIG]
                rows.append(
                    {
                        "app_pk": app_pk,
                        "key": f.key,
                        "input_pk": input_pk,
                        "kind": f.prepared.kind,
                        "content_type": f.prepared.content_type,
                        "thumb_content_type": thumbs[0].content_type if thumbs else "",
                        "size": f.prepared.size,
                        "width": f.prepared.orig.width,
                        "height": f.prepared.orig.height,
                        "sha256": f.prepared.sha256,
                        "sizes": ",".join(f.prepared.variants),
                    }
                )
        repo.insert_many(conn, rows)

    def open_file(self, size: str, app: str, key: str, exp: str, sig: str) -> Opened:
        """The file a signed ``/files`` URL names; ApiError (403/404 shape) when it may not be read."""
        why = self.signer.check(app, key, exp, sig)
        if why:
            raise errors.ApiError(
                REFUSED,
                f"this file URL is {why}",
                "file URLs are signed and short-lived: read the input again for a fresh data.image.url",
            )
        with self.db.read() as conn:
            row = repo.live(conn, int(app), key) if app.isdigit() else None
        sizes = row.sizes.split(",") if row is not None else []
        if row is None or size not in sizes:
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"no file {app}/{key} of size {size!r}",
                f"its input was deleted, or the size is not one of {sizes}"
                if row
                else "its input was deleted",
            )
        content_type = row.content_type if size == media.ORIG else row.thumb_content_type
        max_age = max(0, int(exp) - int(time.time()))
        etag = f'"{row.sha256[:32]}-{size}"'
        name = blob_key(key, size)
        path = self.store.local_path(app, name)
        if path is not None:
            return Opened(content_type, etag, max_age, path=path)
        f = self.store.open(app, name)
        if f is None and size != media.ORIG:  # an imported image's thumbnail, made on first request
            made = self._make_thumbnails(app, key).get(size)
            if made is not None:
                return Opened(content_type, etag, max_age, data=made)
        if f is None:
            raise errors.ApiError(errors.DOES_NOT_EXIST, f"the bytes of file {app}/{key} are missing")
        with f:
            return Opened(content_type, etag, max_age, data=f.read())

    def _make_thumbnails(self, app: str, key: str) -> dict[str, bytes]:
        """Make and store the thumbnails of a hosted image whose thumbnails were only planned."""
        f = self.store.open(app, key)
        if f is None:
            return {}
        with f:
            data = f.read()
        try:
            made = media.thumbnails_of(data)
        except media.MediaError:
            return {}
        for size, v in made.items():
            self.store.put(app, blob_key(key, size), v.data, v.content_type)
        return {size: v.data for size, v in made.items()}

    def collect_garbage(self, batch: int = 500) -> int:
        """Delete the stored bytes and rows of blobs whose input is gone; answer how many.

        A detached blob never gets an input again (its key was new when it was stored), so its
        bytes go outside any transaction -- an object store's deletes must not hold SQLite's
        write lock, which every labeler's submission waits for -- and its row after them, in a
        short write: a server that dies between the two deletes the same bytes again next round.
        A round with nothing to collect is one read."""
        done = 0
        while True:
            with self.db.read() as conn:
                rows = repo.orphans(conn, batch)
            for r in rows:
                for size in r.sizes.split(","):
                    self.store.delete(str(r.app_pk), blob_key(r.key, size))
            if rows:
                with self.db.write() as conn:
                    repo.delete_pks(conn, [r.pk for r in rows])
            done += len(rows)
            if len(rows) < batch:
                return done
