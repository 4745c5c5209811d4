"""Every job kind labeldesk runs, and the worker that runs them (started by ``labeldesk serve``)."""

from __future__ import annotations

from pathlib import Path

from clarifai_grpc.grpc.api import resources_pb2

from labeldesk.files.store import BlobStore
from labeldesk.jobs import auto_annotation, imports, prelabels, version_exports
from labeldesk.jobs.version_exports import MediaLinker, no_links
from labeldesk.jobs.worker import Handler, Worker
from labeldesk.services.auto_annotation import AUTO_ANNOTATION_KIND
from labeldesk.services.dataset_versions import EXPORT_KIND
from labeldesk.services.export_links import ExportLinks
from labeldesk.services.hosting import Hosting, render_media
from labeldesk.services.import_jobs import IMPORT_KIND
from labeldesk.services.prelabels import PRELABELS_KIND
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import secrets


def export_links(db: Database, store: BlobStore) -> ExportLinks:
    """Archives are kept in ``store``, the blob store of the hosted files."""
    with db.write() as conn:
        secret = secrets.get_or_create(conn, "exports")
    return ExportLinks(store, secret)


def handlers(links: ExportLinks, hosting: Hosting | None = None) -> dict[str, Handler]:
    """Every job kind's handler; with ``hosting``, imports store local images in the blob store and
    archives link hosted images with signed ``/files`` URLs (and COCO archives carry their bytes)."""
    media: MediaLinker = no_links
    files = None
    if hosting is not None:
        signer, store = hosting.signer, hosting.store

        def media(data: resources_pb2.Data, app_pk: int, origin: str) -> None:
            render_media(data, app_pk, signer.links(origin))

        def files(app_pk: int, key: str) -> Path | None:
            return store.local_path(str(app_pk), key)

    return {
        IMPORT_KIND: imports.handler(hosting),
        EXPORT_KIND: version_exports.handler(links, media, files),
        AUTO_ANNOTATION_KIND: auto_annotation.handler(hosting),
        PRELABELS_KIND: prelabels.handler(hosting),
    }


def job_worker(
    db: Database, links: ExportLinks, hosting: Hosting | None = None, lease_seconds: float = 60.0
) -> Worker:
    return Worker(db, handlers(links, hosting), lease_seconds=lease_seconds)
