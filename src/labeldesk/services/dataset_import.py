"""Bulk import of dataset records (``labeldesk import``, and import jobs).

Records arrive from a format reader (:mod:`labeldesk.datasets_io`) and are written in chunks, one
transaction each, with multi-row inserts (:mod:`labeldesk.storage.repos.bulk`): a chunk of 5,000
inputs is a few statements, not 20,000 round trips. Ids are stable (from the files), so a second
run of the same import skips what is there and creates no duplicates: inputs, their input-level
annotation (the input's concepts) and one annotation with the regions, whose id is derived from
the input id. Concepts and the target dataset are created when missing.

A bad record stops the import before its chunk is written (earlier chunks stay; nothing of the
failing one does) unless errors are skipped, in which case it is left out and listed.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import os
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from sqlalchemy import Connection

from labeldesk.datasets_io.records import Item, Record, RecordError, Region
from labeldesk.domain import errors
from labeldesk.services.annotation_views import stored_data
from labeldesk.services.context import AppRef
from labeldesk.services.file_refs import FileSink, local_file_sink
from labeldesk.services.hosting import Hosting, Pending
from labeldesk.services.hosting import blob_key as _blob_key
from labeldesk.services.import_encoding import input_data, regions_data
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import accounts, bulk, input_writes
from labeldesk.storage.repos import datasets as ds_repo
from labeldesk.wire.printer import NESTED_JSON_FORMAT

CHUNK = 10_000
RAMPED_CHUNK = 5_000  # chunks at least this large start with a fifth of one (see _chunks)
_sha1 = hashlib.sha1
_URL_PREFIXES = ("http://", "https://")
HOSTED_CHUNK = 1_000  # copying files: the chunk's images and thumbnails are held in memory
HOST_THREADS = min(8, (os.cpu_count() or 1) + 2)
DOWNLOADED = status_code_pb2.INPUT_DOWNLOAD_SUCCESS
SUCCESS = status_code_pb2.ANNOTATION_SUCCESS
# the columns each row binds; the rest are the same for a whole chunk (``fixed``)
INPUT_COLUMNS = ("id", "data", "metadata")
ANNOTATION_COLUMNS = ("id", "input_pk", "data", "data_json")


@dataclass(frozen=True)
class Target:
    app: AppRef
    dataset_id: str = ""
    task_id: str = ""


@dataclass
class Summary:
    inputs: int = 0  # new inputs
    existing: int = 0  # inputs already there (a re-run)
    annotations: int = 0  # new region annotations
    regions: int = 0
    concepts: int = 0  # new concepts
    skipped: list[RecordError] = field(default_factory=list)
    seen: int = 0  # records read (good or bad)


class ImportStopped(Exception):
    """A bad record stopped the import; ``summary`` counts what earlier chunks wrote."""

    def __init__(self, error: RecordError, summary: Summary) -> None:
        super().__init__(str(error))
        self.error = error
        self.summary = summary


def annotation_id(kind: str, input_id: str) -> str:
    """The stable id of an imported input's ``kind`` ("input-level" or "regions") annotation."""
    return _sha1((kind + "\x00" + input_id).encode()).hexdigest()[:32]


def import_records(
    db: Database,
    target: Target,
    items: Iterable[Item],
    *,
    skip_errors: bool = False,
    sink: FileSink | None = None,
    hosting: Hosting | None = None,
    chunk_size: int = 0,
    progress: Callable[[Summary], None] | None = None,
) -> Summary:
    summary = Summary()
    sink = sink or local_file_sink()
    chunk_size = chunk_size or (CHUNK if hosting is None else HOSTED_CHUNK)
    with import_running():
        _import_chunks(db, target, items, skip_errors, sink, hosting, chunk_size, progress, summary)
    return summary


@contextmanager
def import_running() -> Iterator[None]:
    """Two settings of the whole process while any import runs in it; the first import to start
    takes them, the last to end gives the old ones back:

    - Python's cyclic garbage collector is off: an import allocates millions of rows, records
      and parsed JSON objects, none in a reference cycle, and the collector would walk them again
      and again (a quarter of the CPU of a COCO import with boxes). Reference counting still
      frees them.
    - the GIL is handed between threads every 0.5 ms instead of 5: the reader thread and the
      writer share it, and back from SQLite (which runs without it) the writer waits for the
      reader to hand it over; a shorter interval keeps the writer's statements flowing."""
    with _running_lock:
        if not _running.imports:
            _running.gc_was_on = gc.isenabled()
            _running.interval = sys.getswitchinterval()
            gc.disable()
            sys.setswitchinterval(min(_running.interval, 0.0005))
        _running.imports += 1
    try:
        yield
    finally:
        with _running_lock:
            _running.imports -= 1
            if not _running.imports:
                sys.setswitchinterval(_running.interval)
                if _running.gc_was_on:
                    gc.enable()


@dataclass
class _Running:
    """Imports running in this process, and the settings from before the first of them."""

    imports: int = 0
    gc_was_on: bool = True
    interval: float = 0.005


_running = _Running()
_running_lock = threading.Lock()


def _import_chunks(
    db: Database,
    target: Target,
    items: Iterable[Item],
    skip_errors: bool,
    sink: FileSink,
    hosting: Hosting | None,
    chunk_size: int,
    progress: Callable[[Summary], None] | None,
    summary: Summary,
) -> None:
    prepare = functools.partial(_prepare, sink if hosting is None else None)
    with db.bulk_writes() as writes:
        for chunk in _prepared(items, chunk_size, prepare):
            _import_chunk(db, writes, target, chunk, skip_errors, sink, hosting, progress, summary)


def _import_chunk(
    db: Database,
    writes: Callable[[], contextlib.AbstractContextManager[Connection]],
    target: Target,
    chunk: _Chunk,
    skip_errors: bool,
    sink: FileSink,
    hosting: Hosting | None,
    progress: Callable[[Summary], None] | None,
    summary: Summary,
) -> None:
    """Write one chunk in one transaction (``writes``: the import's own, see
    :meth:`~labeldesk.storage.engine.Database.bulk_writes`)."""
    if chunk.problems and not skip_errors:
        summary.seen += chunk.first_problem_at
        raise ImportStopped(chunk.problems[0], summary)
    summary.seen += chunk.seen
    summary.skipped += chunk.problems
    stored: dict[str, tuple[bytes, list[Pending]]] = {}
    written: list[str] = []
    if hosting is not None:  # local files: checked and put in the blob store before the transaction
        stored, written, bad = _host_files(db, hosting, target.app.pk, [e.record for e in chunk.entries])
        for error in bad.values():
            if not skip_errors:
                hosting.remove_files(target.app.pk, written)
                raise ImportStopped(error, summary)
            summary.skipped.append(error)
        if bad:
            chunk = chunk.without(bad)
    try:
        with writes() as conn:
            made = _write_chunk(conn, target, chunk, summary, None if hosting is None else stored, sink)
            if hosting is not None:  # the files of the inputs made now (others keep theirs)
                hosting.record(
                    conn, target.app.pk, [(pk, stored[i][1]) for i, pk in made.items() if i in stored]
                )
    except BaseException:
        if hosting is not None:
            hosting.remove_files(target.app.pk, written)
        raise
    if hosting is not None:  # inputs another writer made meanwhile keep their own files
        extra = [p for i, (_, p) in stored.items() if i not in made]
        hosting.remove_files(target.app.pk, _keys_of(extra))
    if progress is not None:
        progress(summary)


@dataclass(slots=True)
class _Entry:
    """A good record with the parts of its rows no database state decides (made ahead)."""

    record: Record
    row: tuple[str, bytearray | None, str | None]  # the input's id, stored data, metadata
    level_id: str  # its input-level annotation's id
    regions_id: str  # its region annotation's id ("" without regions)
    regions: tuple[bytearray, bytearray, list[str]] | None  # that annotation's data, JSON, concepts


@dataclass
class _Chunk:
    """A chunk of items sorted out: its good records (first of each id, in the source's order,
    and by input, input-level and region annotation id: the order their rows are written in)
    and its bad ones."""

    seen: int
    problems: list[RecordError]
    first_problem_at: int  # items up to and including the first problem
    entries: list[_Entry]
    by_input: list[_Entry]
    by_level: list[_Entry]
    by_regions: list[_Entry]
    ids: list[str]  # of ``entries``
    concepts: set[str]  # every concept the records name

    def without(self, bad: Collection[str]) -> _Chunk:
        keep = [e for e in self.entries if e.record.input_id not in bad]
        return _sorted_chunk(self.seen, self.problems, self.first_problem_at, keep)


def _prepare(sink: FileSink | None, items: list[Item]) -> _Chunk:
    """Sort a chunk's items into good and bad records and make what the good ones' rows need
    (ids, stored data: ``sink`` turns local files into URLs; None: the chunk's files are
    copied into the blob store, their data is made then)."""
    good: dict[str, Record] = {}
    problems: list[RecordError] = []
    first = 0
    for n, item in enumerate(items, start=1):
        if isinstance(item, RecordError):
            problems.append(item)
        elif item.input_id in good:
            problems.append(
                RecordError(item.source, "", f"input id {item.input_id!r} appears twice in the dataset")
            )
        else:
            good[item.input_id] = item
            continue
        first = first or n
    dumps, entries, encode, sha1 = bulk.stored_json, [], input_data, _sha1
    for r in good.values():  # (_input_data and annotation_id inlined: ~3 µs a record less)
        iid, src = r.input_id, r.source
        if src.startswith(_URL_PREFIXES):
            url = src
        elif sink is not None:
            url = sink(src)
        else:  # copied into the blob store: its data is made then
            url = ""
        if not url:
            data = None
        else:
            data = bytearray(encode(url, r.width, r.height) if r.width and r.height else encode(url))
        regions = (annotation_id("regions", iid), _stored_regions(r.regions)) if r.regions else ("", None)
        row = (iid, data, dumps(r.metadata) if r.metadata else None)
        level_id = sha1(b"input-level\x00" + iid.encode()).hexdigest()[:32]
        entries.append(_Entry(r, row, level_id, *regions))
    return _sorted_chunk(len(items), problems, first, entries)


def _stored_regions(regions: tuple[Region, ...]) -> tuple[bytearray, bytearray, list[str]]:
    got = regions_data(regions)
    concepts = list(dict.fromkeys(c for g in regions for c in g.concepts))
    return bytearray(got["data"]), bytearray(got["data_json"]), concepts


def _sorted_chunk(seen: int, problems: list[RecordError], first: int, entries: list[_Entry]) -> _Chunk:
    by_input = sorted(entries, key=_entry_input_id)  # pks follow ids: (app_pk, id) is appended to
    by_level = sorted(entries, key=attrgetter("level_id"))
    by_regions = sorted((e for e in entries if e.regions is not None), key=attrgetter("regions_id"))
    ids = [e.record.input_id for e in entries]
    concepts = {c for e in entries for c in e.record.concepts}
    concepts.update(c for e in by_regions for g in e.record.regions for c in g.concepts)
    return _Chunk(seen, problems, first, entries, by_input, by_level, by_regions, ids, concepts)


_entry_input_id = attrgetter("record.input_id")


_DONE = object()


def _prepared(items: Iterable[Item], size: int, prepare: Callable[[list[Item]], _Chunk]) -> Iterator[_Chunk]:
    """``prepare`` of each chunk of ``items``, run by a thread up to two chunks ahead of the
    caller: reading the source and making rows (Python) overlaps with SQLite's inserts and
    commits, which run without the GIL. A failure of the reader (a FormatError) is raised here,
    where the chunk would have been; leaving early stops the thread."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def work() -> None:
        # the chunks handed over are kept until the caller is surely done with them (it holds at
        # most the one it writes and two in the queue): the last reference, and the freeing of a
        # chunk's objects (~14 ms for 10,000 records), is this thread's, not the writer's
        kept: deque[_Chunk] = deque(maxlen=4)
        try:
            for chunk in _chunks(items, size):
                kept.append(prepare(chunk))
                ready.put(kept[-1])
                if stop.is_set():
                    return
            ready.put(_DONE)
        except BaseException as e:  # handed to the caller
            ready.put(_Failed(e))

    thread = threading.Thread(target=work, name="import-reader", daemon=True)
    thread.start()
    try:
        while (got := ready.get()) is not _DONE:
            if isinstance(got, _Failed):
                raise got.error
            yield got
    finally:
        stop.set()
        while thread.is_alive():  # it may wait to put a chunk: take them until it sees ``stop``
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        thread.join()


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Lists of ``size`` items; the first of large ones is a fifth of that, so that the writer
    starts sooner (a 2,000-record chunk is ready ~50 ms after the source is parsed, not ~110)."""
    chunk: list[Item] = []
    first = size // 5 if size >= RAMPED_CHUNK else size
    for item in items:
        chunk.append(item)
        if len(chunk) >= first:
            yield chunk
            chunk, first = [], size
    if chunk:
        yield chunk


def _write_chunk(
    conn: Connection,
    target: Target,
    chunk: _Chunk,
    s: Summary,
    hosted: dict[str, tuple[bytes, list[Pending]]] | None,
    sink: FileSink,
) -> dict[str, int]:
    """Write one chunk; answer the inputs it made (id -> pk). ``hosted``: the stored data of
    the chunk's files copied into the blob store (None: files are referenced, and the entries'
    data was made ahead)."""
    app = target.app
    if not bulk.app_exists(conn, app.pk):  # (no foreign key checks on the import's connection)
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"app '{app.id}' was deleted during the import",
            "nothing of this chunk was written; create the app again and re-run the import",
        )
    bulk.prepare_bulk(conn)
    input_writes.hold(conn, app.pk)  # its inputs' pks are seen at commit: the planners must know
    ts = bulk.stored_time(conn, utcnow())
    times = {"created_at": ts, "modified_at": ts}
    have = bulk.existing_ids(conn, t.inputs, app.pk, chunk.ids)
    new = [e for e in chunk.by_input if e.record.input_id not in have] if have else chunk.by_input
    s.existing += len(chunk.ids) - len(new)
    _create_concepts(conn, app.pk, chunk.concepts, ts, s)
    rows = [e.row for e in new] if hosted is None else [_input_row(e, hosted, sink) for e in new]
    fixed = {"app_pk": app.pk, "status": DOWNLOADED}
    keys = bulk.insert_numbered(conn, t.inputs, INPUT_COLUMNS, rows, fixed, times)
    made = dict(zip([e.record.input_id for e in new], keys))
    s.inputs += len(new)
    pks = {**have, **made} if have else made
    concept_pairs: list[tuple[str, list[str]]] = []
    tagged, plain = [], []  # input-level annotations with concepts, and the empty ones
    for e in chunk.by_level:
        pk = made.get(e.record.input_id)
        if pk is None:
            continue
        if e.record.concepts:
            d = _concepts_data(e.record.concepts)
            tagged.append((e.level_id, pk, d["data"], d["data_json"]))
            concept_pairs.append((e.level_id, list(dict.fromkeys(e.record.concepts))))
        else:
            plain.append((e.level_id, pk))
    # only inputs that were there before can have their region annotation already
    older = [e.regions_id for e in chunk.by_regions if e.record.input_id in have]
    taken = bulk.existing_ids(conn, t.annotations, app.pk, older) if older else {}
    regions = []
    for e in chunk.by_regions:
        if e.regions_id in taken or e.regions is None:
            continue
        data, data_json, concepts = e.regions
        regions.append((e.regions_id, pks[e.record.input_id], data, data_json))
        concept_pairs.append((e.regions_id, concepts))
        s.annotations += 1
        s.regions += len(e.record.regions)
    ann_pks = _insert_annotations(conn, app, tagged, "", True, times)
    ann_pks.update(_insert_annotations(conn, app, plain, "", True, times, _concepts_data(())))
    ann_pks.update(_insert_annotations(conn, app, regions, target.task_id, False, times))
    index = [(ann_pks[aid], c) for aid, concepts in concept_pairs for c in concepts]
    bulk.insert_rows(
        conn,
        t.annotation_concepts,
        ("annotation_pk", "concept_id"),
        index,
        fixed={"value": 1.0, "app_pk": app.pk},
    )
    if target.dataset_id:
        _add_to_dataset(conn, app.pk, target.dataset_id, [pks[i] for i in chunk.ids], set(have.values()), ts)
    return made


def _input_row(
    e: _Entry, hosted: dict[str, tuple[bytes, list[Pending]]], sink: FileSink
) -> tuple[str, bytes | bytearray | None, str | None]:
    """The row of an input whose local file was copied into the blob store (``hosted``); a URL's
    was made ahead, a file not copied (its input was there when the files were copied, and no
    longer is) is referenced."""
    iid, data, metadata = e.row
    if iid in hosted:
        return (iid, hosted[iid][0], metadata)
    return e.row if data is not None else (iid, _input_data(e.record, sink), metadata)


def _insert_annotations(
    conn: Connection,
    app: AppRef,
    rows: list[tuple[Any, ...]],
    task_id: str,
    input_level: bool,
    times: dict[str, Any],
    shared: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Insert annotation ``rows`` of the app's owner, sorted by id (the unique index is written
    in order, not at random): id -> pk. Rows are (id, input pk, data, data_json), or without
    the data when all share the ``shared`` :func:`stored_data`; ``times`` are their times."""
    fixed = {
        "app_pk": app.pk, "user_id": app.owner_id, "data_json_format": NESTED_JSON_FORMAT, "status": SUCCESS,
        "task_id": task_id or None, "model_version_id": "", "embed_model_version_id": "",
        "input_level": input_level, "trusted": True,
    }  # fmt: skip
    columns: tuple[str, ...] = ANNOTATION_COLUMNS
    if shared is not None:
        fixed.update(data=shared["data"], data_json=shared["data_json"])
        columns = tuple(c for c in columns if c not in fixed)
    pks = bulk.insert_numbered(conn, t.annotations, columns, rows, fixed, times)
    return dict(zip([r[0] for r in rows], pks))


def _by_id(r: Record) -> str:
    return r.input_id


def _host_files(
    db: Database, hosting: Hosting, app_pk: int, records: list[Record]
) -> tuple[dict[str, tuple[bytes, list[Pending]]], list[str], dict[str, RecordError]]:
    """Check (Pillow) and write into the blob store the local image of each record whose input
    is not there yet, in a thread pool (Pillow and file writes release the GIL), before any
    transaction: the stored data (a hosted-file marker) and files of each, the blob keys written,
    and the unreadable or non-image files as bad records (by input id). Inputs already there are not read."""
    local = [r for r in records if not r.is_url]
    if not local:
        return {}, [], {}
    with db.read() as conn:
        have = bulk.existing_ids(conn, t.inputs, app_pk, [r.input_id for r in local])
    todo = [r for r in local if r.input_id not in have]
    with ThreadPoolExecutor(max_workers=HOST_THREADS) as pool:
        done = list(pool.map(functools.partial(_host_one, hosting, app_pk), todo))
    out: dict[str, tuple[bytes, list[Pending]]] = {}
    bad: dict[str, RecordError] = {}
    for r, got in zip(todo, done, strict=True):
        if isinstance(got, RecordError):
            bad[r.input_id] = got
        else:
            out[r.input_id] = got
    return out, _keys_of([p for _, p in out.values()]), bad


def _host_one(hosting: Hosting, app_pk: int, r: Record) -> tuple[bytes, list[Pending]] | RecordError:
    try:
        with open(r.source, "rb") as f:
            posted = resources_pb2.Data(image=resources_pb2.Image(base64=f.read()))
        data, pending = hosting.take_bytes(posted, r.input_id, thumbnails=False)
    except (OSError, errors.ApiError) as e:
        return RecordError(r.source, "", e.description if isinstance(e, errors.ApiError) else str(e))
    if r.width and r.height and not data.image.image_info.width:
        data.image.image_info.width, data.image.image_info.height = r.width, r.height
    hosting.write_files(app_pk, pending)
    return data.SerializeToString(), pending


def _keys_of(pendings: list[list[Pending]]) -> list[str]:
    return [_blob_key(f.key, size) for pending in pendings for f in pending for size in f.prepared.variants]


def _input_data(r: Record, sink: FileSink) -> bytearray:
    """The stored data of ``r``'s input: a bytearray, which the sqlite3 driver binds as a blob
    without looking for an adapter (as it does for every bytes value)."""
    url = r.source if r.source.startswith(("http://", "https://")) else sink(r.source)
    return bytearray(input_data(url, r.width, r.height) if r.width and r.height else input_data(url))


@functools.lru_cache(maxsize=4096)
def _concepts_data(concepts: tuple[str, ...]) -> dict[str, Any]:
    """The stored data of an input-level annotation: few distinct concept sets, rendered once."""
    return stored_data(
        resources_pb2.Data(concepts=[resources_pb2.Concept(id=c, value=1.0) for c in concepts])
    )


def _create_concepts(conn: Connection, app_pk: int, wanted: set[str], ts: Any, s: Summary) -> None:
    missing = sorted(wanted - bulk.existing_concepts(conn, app_pk, wanted))
    cols = ("app_pk", "id", "name", "language", "definition", "created_at", "modified_at")
    bulk.insert_rows(conn, t.concepts, cols, [(app_pk, c, c, "en", "", ts, ts) for c in missing])
    s.concepts += len(missing)


def _add_to_dataset(
    conn: Connection, app_pk: int, dataset_id: str, input_pks: list[int], older: set[int], ts: Any
) -> None:
    """Add the inputs to the dataset (made when missing); only ``older`` inputs can be in it."""
    ds_pk = bulk.dataset_pk(conn, app_pk, dataset_id)
    if ds_pk is None:
        ds_repo.insert_many(conn, app_pk, [{"id": dataset_id, "description": "", "metadata": None}])
        ds_pk = bulk.dataset_pk(conn, app_pk, dataset_id)
        assert ds_pk is not None
    there = bulk.dataset_members(conn, ds_pk, [p for p in input_pks if p in older]) if older else set()
    rows = [(p,) for p in dict.fromkeys(input_pks) if p not in there]
    if any(p in older for (p,) in rows):
        ds_repo.count_late_join(conn, ds_pk)
    bulk.insert_rows(
        conn, t.dataset_inputs, ("input_pk",), rows, fixed={"dataset_pk": ds_pk}, shared={"created_at": ts}
    )


def resolve_app(db: Database, spec: str) -> AppRef:
    """``USER/APP`` -> the app, or an ApiError naming what is wrong."""
    user_id, _, app_id = spec.partition("/")
    if not user_id or not app_id or "/" in app_id:
        raise errors.invalid(f"--app: '{spec}' is not USER/APP", "e.g. --app alice/birds")
    with db.read() as conn:
        row = accounts.get_app(conn, user_id, app_id)
    if row is None:
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"app '{app_id}' of user '{user_id}' does not exist",
            f"create it with: labeldesk apps create {user_id} {app_id}",
        )
    return AppRef(pk=row.pk, id=row.id, owner_id=row.user_id)
