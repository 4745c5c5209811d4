"""Running a model: the bytes of inputs (posted, hosted, file:// or http(s) URLs), the model's
adapter, and predictions as Clarifai ``Output``s (concepts with values; regions with a bounding box
or a polygon and their concepts). Shared by PostModelOutputs and the auto-annotation jobs."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.domain import model_binding as mb
from labeldesk.models import http
from labeldesk.models.adapters import adapter_for
from labeldesk.models.base import BAD_INPUT, BackendError, Image, Prediction
from labeldesk.services.annotation_views import stored_data
from labeldesk.services.common import new_id
from labeldesk.services.file_refs import local_path_of
from labeldesk.services.hosting import Hosting
from labeldesk.storage import file_slots
from labeldesk.storage.engine import sqlite_file
from labeldesk.storage.repos import backend_slots
from labeldesk.storage.repos import models as models_repo
from labeldesk.storage.unit_turns import stepped_out

SC = status_code_pb2
# What a backend failure answers, per input (the description says what happened)
FAILURE_CODES = {BAD_INPUT: SC.INPUT_DOWNLOAD_FAILED}
MODEL_FAILED = SC.MODEL_PREDICTION_FAILED


@dataclass(frozen=True)
class ModelRef:
    """What running a model needs, read from its row inside a transaction and used outside it."""

    id: str
    version_id: str
    binding: mb.Binding
    concepts: list[str]


def model_ref(row: Row[Any]) -> ModelRef:
    binding = mb.parse(row.metadata)
    if binding is None:
        raise errors.ApiError(
            errors.INVALID_REQUEST,
            f"model {row.id!r} is bound to no inference backend",
            'set metadata.labeldesk with PatchModels, e.g. {"labeldesk": {"backend": "builtin"}}',
        )
    return ModelRef(row.id, row.version_id, binding, list(row.concepts))


#: how long PostModelOutputs trusts what it read of a model without looking at the row again
RECHECK_SECONDS = 1.0
_changes = 0  # PatchModels / DeleteModel(s) made by this process


def models_changed() -> None:
    """A model of this process's database was patched or deleted: cached copies are looked at again."""
    global _changes
    _changes += 1


class ModelCache:
    """Per model, what a call needs from its row -- the :class:`ModelRef` and the ``Model`` proto
    an ``Output`` names -- so a call neither reads the row (JSON metadata and concepts) nor builds
    both again. An entry is trusted for :data:`RECHECK_SECONDS`, and only while this process made
    no PatchModels or DeleteModel(s) since it was read (:func:`models_changed`); then one prepared
    query of the model's ``(pk, version_id, modified_at)`` tells whether it is still current
    (PatchModels moves ``modified_at``, DeleteModels removes the row). So a change made through this
    process takes effect on its very next call, one made through another replica or ``--workers``
    process within a second."""

    MAX = 1024

    def __init__(self) -> None:
        self._entries: dict[
            tuple[int, str], tuple[tuple[Any, ...], float, int, ModelRef, resources_pb2.Model]
        ] = {}
        self._lock = threading.Lock()

    def get(
        self,
        conn: Connection,
        app_pk: int,
        model_id: str,
        load: Callable[[], tuple[ModelRef, resources_pb2.Model]],
    ) -> tuple[ModelRef, resources_pb2.Model] | None:
        """The model's entry, ``load()``-ed when missing or stale; None when there is no such model."""
        key = (app_pk, model_id)
        hit = self._entries.get(key)
        now = time.monotonic()
        if hit is not None and hit[1] > now and hit[2] == _changes:
            return hit[3], hit[4]
        changes = _changes
        row = models_repo.stamp(conn, app_pk, model_id)
        if row is None:
            return None
        stamp = tuple(row)
        if hit is not None and hit[0] == stamp:
            ref, proto = hit[3], hit[4]
        else:
            ref, proto = load()
        with self._lock:
            if len(self._entries) >= self.MAX:
                self._entries.clear()
            self._entries[key] = (stamp, now + RECHECK_SECONDS, changes, ref, proto)
        return ref, proto


def image_bytes(
    data: resources_pb2.Data, app_pk: int, hosting: Hosting | None, timeout_s: float, stored: bool = True
) -> bytes:
    """The image bytes of an input's data; BackendError(BAD_INPUT) when there are none to read.
    Only ``stored`` inputs may name server-side files (hosted ones, or file:// URLs an import made);
    inline data from a request is read from its bytes or an http(s) URL, never the server's disk."""
    img = data.image
    if img.base64:
        return bytes(img.base64)
    if not stored and not img.url.startswith(("http://", "https://")):
        raise BackendError(BAD_INPUT, "inline inputs give data.image.base64 or an http(s) data.image.url")
    if img.hosted.suffix and not img.hosted.prefix and hosting is not None:
        f = hosting.store.open(str(app_pk), img.hosted.suffix)
        if f is None:
            raise BackendError(BAD_INPUT, "the input's hosted image is missing from the blob store")
        with f:
            raw: bytes = f.read()
            return raw
    local = local_path_of(img.url)
    if local is not None:
        try:
            return local.read_bytes()
        except OSError as e:
            raise BackendError(BAD_INPUT, f"cannot read {img.url}: {e.strerror}") from e
    if img.url.startswith(("http://", "https://")):
        try:
            with stepped_out():  # another call may use the database meanwhile
                return http.fetch_bytes(img.url, timeout_s)
        except BackendError as e:
            raise BackendError(BAD_INPUT, e.message) from e
    raise BackendError(BAD_INPUT, "the input has no image (data.image.url or data.image.base64)")


def read_images(
    datas: Sequence[resources_pb2.Data], app_pk: int, hosting: Hosting | None, timeout_s: float
) -> list[Image | BackendError]:
    """The images of stored inputs, each an Image or the BackendError that kept it from being read."""
    out: list[Image | BackendError] = []
    for data in datas:
        try:
            out.append(Image(image_bytes(data, app_pk, hosting, timeout_s), public_url(data)))
        except BackendError as e:
            out.append(e)
    return out


def public_url(data: resources_pb2.Data) -> str:
    url = data.image.url
    return url if url.startswith(("http://", "https://")) and not data.image.hosted.suffix else ""


_process_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


@contextmanager
def backend_slot(conn: Connection, binding: mb.Binding) -> Iterator[None]:
    """Hold one of the binding's ``max_concurrency`` call slots while the block runs: on
    PostgreSQL an advisory lock of ``conn``'s transaction (shared by every replica; released when
    the transaction ends), on an SQLite file a lock of a slot file beside it (shared by every
    process of ``serve --workers``: storage/file_slots.py), on an in-memory SQLite database a
    semaphore of this process."""
    key = binding.version_key()
    if conn.dialect.name == "postgresql":
        lock_key = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big", signed=True)
        backend_slots.take(conn, lock_key, binding.max_concurrency)
        yield
        return
    path = sqlite_file(conn.engine.url)
    if path is not None:
        with file_slots.slot(file_slots.directory_for(path), key, binding.max_concurrency):
            yield
        return
    with _slots_lock:
        sem = _process_slots.setdefault(
            (key, binding.max_concurrency), threading.BoundedSemaphore(binding.max_concurrency)
        )
    with sem:
        yield


def predict(
    model: ModelRef, images: Sequence[Image | BackendError], conn: Connection
) -> list[Prediction | BackendError]:
    """Predictions for the images that could be read, in one backend call made in one of the
    backend's slots (:func:`backend_slot`, held through ``conn``); the errors stay."""
    ok = [i for i in images if isinstance(i, Image)]
    out: list[Prediction | BackendError] = []
    try:
        if ok:
            # waiting for a slot and for the backend, the call gives its database turn to others
            with stepped_out(), backend_slot(conn, model.binding):
                preds = iter(adapter_for(model.binding, model.concepts).predict(ok))
        else:
            preds = iter([])
    except BackendError as e:
        return [e if isinstance(i, Image) else i for i in images]
    for i in images:
        out.append(next(preds) if isinstance(i, Image) else i)
    return out


def output_data(p: Prediction, app_id: str) -> resources_pb2.Data:
    data = resources_pb2.Data()
    fill_output_data(data, p, app_id)
    return data


def fill_output_data(data: resources_pb2.Data, p: Prediction, app_id: str) -> None:
    """Write a prediction into an (empty) ``Data``: concepts, and regions with their concepts."""
    for s in p.concepts:
        data.concepts.add(id=s.concept, name=s.concept, value=s.value, app_id=app_id)
    for n, r in enumerate(p.regions):
        region = data.regions.add(id=f"region-{n}", value=max((s.value for s in r.concepts), default=0.0))
        if r.box is not None:
            b = region.region_info.bounding_box
            b.top_row, b.left_col, b.bottom_row, b.right_col = r.box
        if r.polygon is not None:
            for x, y in r.polygon:
                region.region_info.polygon.points.add(col=x, row=y)
        for s in r.concepts:
            region.data.concepts.add(id=s.concept, name=s.concept, value=s.value, app_id=app_id)


def annotation_row(
    input_pk: int,
    owner_id: str,
    data: resources_pb2.Data,
    status: int,
    task_id: str,
    version_id: str,
    ts: datetime,
    info: dict[str, Any] | None = None,
    annotation_id: str = "",
) -> dict[str, Any]:
    """A model-made annotation of a task as an ``annotations`` row (for ``insert_many``): owned by
    the app owner, ``model_version_id`` the model's version."""
    return {
        "id": annotation_id or new_id(),
        "input_pk": input_pk,
        "user_id": owner_id,
        **stored_data(data),
        "annotation_info": info,
        "status": status,
        "task_id": task_id,
        "model_version_id": version_id,
        "embed_model_version_id": "",
        "input_level": False,
        "trusted": False,
        "created_at": ts,
        "modified_at": ts,
    }


def failure_status(e: BackendError, model_id: str) -> tuple[int, str]:
    return FAILURE_CODES.get(e.kind, MODEL_FAILED), f"model {model_id!r}: {e.message}"
