"""What tests share: the per-test app (``AppFixture``), unique ids, assertions and constants.
Fixtures themselves are in ``tests/conftest.py``."""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.app import RunningServer
from labeldesk.services import admin
from labeldesk.storage.engine import Database, sqlite_file
from labeldesk.wire.printer import message_to_json

IMG = "https://samples.clarifai.com/metro-north.jpg"
#: a real 1x1 PNG: bytes posted as data.image.base64 must be an image
PNG_1PX = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS"
    b"\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)
Meta = tuple[tuple[str, str]]
TRANSPORTS = ["rest", "grpc"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class AppFixture:
    """A user with an app: ids, the owner's PAT and an app key."""

    user_id: str
    app_id: str
    pat: str
    app_key: str
    server: RunningServer

    @property
    def uai(self) -> resources_pb2.UserAppIDSet:
        return resources_pb2.UserAppIDSet(user_id=self.user_id, app_id=self.app_id)

    @property
    def meta(self) -> tuple[tuple[str, str]]:
        """gRPC metadata authenticating as the owner (PAT)."""
        return (("authorization", f"Key {self.pat}"),)

    @property
    def key_meta(self) -> tuple[tuple[str, str]]:
        """gRPC metadata with the app-scoped key (no user_app_id needed)."""
        return (("authorization", f"Key {self.app_key}"),)

    def new_user(self, prefix: str = "user", collaborator: bool = True) -> tuple[str, tuple[tuple[str, str]]]:
        """Another user (by default a collaborator of this app): id and auth metadata."""
        uid = unique(prefix)
        pat = admin.create_user(self.server.app.db, uid, f"{uid}@example.com")
        if collaborator:
            admin.add_collaborator(self.server.app.db, self.user_id, self.app_id, uid)
        return uid, (("authorization", f"Key {pat}"),)


@contextmanager
def worker_database(url: str, worker: str) -> Iterator[str]:
    """A fresh PostgreSQL database beside ``url``'s for one pytest-xdist worker (``<name>_gw0``),
    so two workers never migrate the same schema at once; dropped afterwards."""
    base = sa.make_url(url)
    own = base.set(database=f"{base.database}_{worker}")
    admin_engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    drop = sa.text(f'DROP DATABASE IF EXISTS "{own.database}" WITH (FORCE)')
    try:
        with admin_engine.connect() as conn:
            conn.execute(drop)
            conn.execute(sa.text(f'CREATE DATABASE "{own.database}"'))
        yield own.render_as_string(hide_password=False)
        with admin_engine.connect() as conn:
            conn.execute(drop)
    finally:
        admin_engine.dispose()


def ok(resp: Any) -> Any:
    """The response, after checking it succeeded (the status is shown when it did not)."""
    assert resp.status.code == sc.SUCCESS, resp.status
    return resp


def fails(resp: Any, code: int, *texts: str) -> Any:
    """The response, after checking it failed with ``code`` and a description naming ``texts``."""
    assert resp.status.code == code, resp.status
    for text in texts:
        assert text in resp.status.description + resp.status.details, resp.status
    return resp


def rest_listing_matches_grpc(base_url: str, grpc_stub: Any, meta: Meta, uai: Any, **fields: Any) -> int:
    """ListAnnotations as raw REST JSON (served by the JSON view) equals the gRPC answer rendered
    by the REST printer, status ``req_id`` aside; answers how many annotations were compared."""
    url = f"{base_url}/v2/users/{uai.user_id}/apps/{uai.app_id}/annotations"
    params = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
    rest = requests.get(url, params=params, headers=dict(meta), timeout=30).json()
    req = service_pb2.ListAnnotationsRequest(user_app_id=uai, **fields)
    printed = message_to_json(ok(grpc_stub.ListAnnotations(req, metadata=meta)))
    for body in (rest, printed):
        body["status"].pop("req_id")
    canonical = functools.partial(json.dumps, sort_keys=True)  # true is not 1, 1.0 is not 1
    assert canonical(rest) == canonical(printed)
    return len(rest["annotations"])


def best_time(fn: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs of ``fn`` in seconds, timed without the coverage tracer
    (which slows Python code several times over) so a speed bound means the same in CI."""
    tracer = sys.gettrace()
    sys.settrace(None)
    try:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)
    finally:
        sys.settrace(tracer)


@contextmanager
def scratch_database(path: str, ddl: str) -> Iterator[Database]:
    """A :class:`Database` over a new SQLite file at ``path`` holding the one table ``ddl`` makes."""
    db = Database(f"sqlite:///{path}")
    with db.write() as conn:
        conn.exec_driver_sql(ddl)
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def sqlite_write_lock_held(db: Database) -> Iterator[None]:
    """Another connection holds SQLite's write lock (``BEGIN IMMEDIATE``) meanwhile, as another
    process's write would; skips the test on PostgreSQL."""
    path = sqlite_file(db.url)
    if path is None:
        pytest.skip("SQLite's write lock")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def beside_a_writer(db: Database, call: Callable[[], Any], seconds: float = 3.0) -> tuple[bool, list[Any]]:
    """``call()`` in a thread while another connection holds SQLite's write lock for up to
    ``seconds``: whether it answered before the lock was let go, and ``[its answer]`` (given once
    the lock is let go, if not before)."""
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    try:
        with sqlite_write_lock_held(db):
            thread.start()
            thread.join(seconds)
            answered = not thread.is_alive()
    finally:
        if thread.ident is not None:
            thread.join(30)
    return answered, answers


def sqlite_plans(db: Database, table: str, call: Callable[[], Any]) -> dict[str, str]:
    """Run ``call()`` and answer SQLite's plan (``EXPLAIN QUERY PLAN``, steps joined by " | ") of
    each SELECT or UPDATE it sent that names ``table``, on either of the database's pools."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE")) and f" {table}" in statement:
            seen.append((statement, params))

    engines = {db.engine, db.read_engine}  # writes, and reads (a pool of their own on SQLite)
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", capture)
    with db.engine.connect() as conn:
        return {
            statement: " | ".join(
                str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            )
            for statement, params in seen
        }
