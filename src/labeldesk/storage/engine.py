"""Database engines and transactions.

SQLite (the embedded default) runs in WAL mode with foreign keys on. Write transactions start
with ``BEGIN IMMEDIATE`` so that two writers never both read, then both try to upgrade their
lock (SQLite's classic "database is locked" deadlock): the second one waits on busy_timeout.
PostgreSQL uses ordinary READ COMMITTED transactions; row locks live in the repositories.

Read transactions are read-only in the database itself (``PRAGMA query_only`` on SQLite, ``SET
TRANSACTION READ ONLY`` on PostgreSQL): an RPC registered as a read that writes fails loudly
instead of having its writes rolled back in silence.

Database errors become client errors in exactly one place, :func:`translate_errors`, which both
kinds of transaction go through: a constraint violation (duplicate id, missing reference, a
concurrent insert of the same row) is DATABASE_CONSTRAINT_VIOLATED (HTTP 409), a lock timeout or
deadlock is TRY_AGAIN (HTTP 503); nothing was written in either case.

Contention is the server's problem, not the client's: :meth:`Database.run` runs a whole unit of
work (the dispatcher's handler, authentication included) in one transaction and runs it again
from the start, up to :data:`RETRY_ATTEMPTS` times with jittered exponential backoff, when the
database aborted it for a serialization failure, a deadlock or a lock timeout (PostgreSQL SQLSTATE
40001/40P01/55P03, SQLite "database is locked"/busy). Only when every attempt lost does the client
see TRY_AGAIN.

On SQLite the write units of work that queue while another holds the writer's turn share one
transaction, each in a savepoint of its own (group commit, :mod:`labeldesk.storage.write_groups`):
each caller still gets its own answer, error and after-commit effects.

Per-call cost (docs/performance.md, "per-call overhead"): on SQLite, read transactions use
their own pool of connections opened with ``PRAGMA query_only=1`` (no pragma round trips per
call); on PostgreSQL the driver's ``read_only`` flag makes the ``BEGIN`` itself read-only (no
``SET TRANSACTION`` round trip); transactions keep their connections checked out in between
(:mod:`labeldesk.storage.idle_connections`). :func:`account_generation` counts committed changes
to the tables authentication reads, so the authenticator's short-lived key cache forgets at once;
other processes hear of them through :mod:`labeldesk.storage.account_news`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.sql.dml import UpdateBase

from labeldesk.config import usable_cores
from labeldesk.domain import errors
from labeldesk.storage import account_news
from labeldesk.storage.account_news import AccountNews
from labeldesk.storage.checkpoints import FALLBACK_PAGES, WalCheckpointer
from labeldesk.storage.idle_connections import IdleConnections
from labeldesk.storage.raw import Sql
from labeldesk.storage.unit_turns import UnitTurns, stepped_out
from labeldesk.storage.write_groups import RunAlone, Unit, WriteGroups

log = logging.getLogger("labeldesk")

DEFAULT_URL = "sqlite:///./labeldesk.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: words of the drivers' messages for "another transaction holds the lock; try again"
_BUSY_WORDS = ("locked", "deadlock", "could not serialize", "lock timeout")
#: PostgreSQL's serialization_failure, deadlock_detected, lock_not_available
_BUSY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
#: attempts of one unit of work before the client sees TRY_AGAIN
RETRY_ATTEMPTS = 5
#: first backoff ceiling in seconds; doubles per attempt, the sleep is uniform in [0, ceiling]
RETRY_BASE_DELAY = 0.005
#: PostgreSQL connections per process: kept open, and opened beyond that under bursts
PG_POOL_SIZE = 16
PG_POOL_OVERFLOW = 16
#: connections kept checked out between transactions, per engine (storage/idle_connections.py)
CONNECTIONS_KEPT = 8
# WAL pages after which a bulk import's commit checkpoints the WAL into the file (256 MB of 4 kB pages)
BULK_CHECKPOINT_PAGES = 65_536

R = TypeVar("R")


def resolve_url(url: str | None) -> str:
    """The --database-url value, else LABELDESK_DATABASE_URL, else ./labeldesk.db."""
    return url or os.environ.get("LABELDESK_DATABASE_URL") or DEFAULT_URL


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_file(url: str | URL) -> str | None:
    """The file of the SQLite database at ``url``: None for one in memory, or another database
    (the files kept beside it -- account news, writer lock, model backends' slots -- need one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    path = parsed.database or ""
    return path if path not in ("", ":memory:") else None


#: the tables whose rows decide who a key is and what it may do (services/auth.py caches that)
ACCOUNT_TABLES = frozenset({"keys", "apps", "collaborators", "users"})
_generation = 0
_generation_lock = threading.Lock()


#: the news of the open databases (storage/account_news.py): changes other processes committed
_news: tuple[AccountNews, ...] = ()
_news_lock = threading.Lock()


def account_generation() -> int:
    """A number that changes whenever a statement writing :data:`ACCOUNT_TABLES` runs, and again
    when its transaction ends, in this process; and whenever another process or replica tells
    of such a change it committed (:mod:`labeldesk.storage.account_news`)."""
    generation = _generation
    for news in _news:
        generation += news.current()
    return generation


def _listen_to(news: AccountNews) -> None:
    global _news
    with _news_lock:
        _news = (*_news, news)


def _stop_listening_to(news: AccountNews) -> None:
    global _news
    with _news_lock:
        _news = tuple(n for n in _news if n is not news)


def _bump_generation() -> None:
    global _generation
    with _generation_lock:
        _generation += 1


def _watch_accounts(conn: Connection, clause: Any, *_args: Any) -> None:
    if isinstance(clause, UpdateBase):
        table = getattr(clause, "table", None)
        if getattr(table, "name", None) in ACCOUNT_TABLES:
            conn.info["accounts_changed"] = True  # (Database tells the other processes on commit)
            _bump_generation()


def _transaction_ended(conn: Connection) -> None:
    # an invalidated (dead) connection has no info to read: forget the cached keys to be safe
    if conn.invalidated or conn.info.pop("accounts_changed", False):
        _bump_generation()


def _watch(engine: Engine) -> Engine:
    event.listen(engine, "before_execute", _watch_accounts)
    event.listen(engine, "commit", _transaction_ended)
    event.listen(engine, "rollback", _transaction_ended)
    return engine


def _sqlite_read_only_on_connect(dbapi_conn: Any, record: Any) -> None:
    _sqlite_on_connect(dbapi_conn, record)
    dbapi_conn.execute("PRAGMA query_only=1")


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see module doc)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")  # storage/checkpoints.py does it
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


def make_engine(url: str, read_only: bool = False) -> Engine:
    """The engine of ``url``; ``read_only`` (SQLite): its connections refuse writes
    (``PRAGMA query_only``), for read transactions."""
    if is_sqlite(url):
        if url in ("sqlite://", "sqlite:///:memory:"):
            raise ValueError("an in-memory SQLite database cannot be shared by a server; use a file path")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=16,
            max_overflow=16,
        )
        if read_only:  # its connections cannot write: nothing to watch
            event.listen(engine, "connect", _sqlite_read_only_on_connect)
            return engine
        event.listen(engine, "connect", _sqlite_on_connect)
        return _watch(engine)
    # No pool_pre_ping: it costs a "SELECT 1" round trip on every checkout, i.e. per RPC. A pooled
    # connection the server dropped (restart, idle timeout) fails its first statement instead, the
    # pool is invalidated and Database.run runs the unit of work again on a fresh connection.
    return _watch(create_engine(url, pool_size=PG_POOL_SIZE, max_overflow=PG_POOL_OVERFLOW))


def is_busy(error: DBAPIError) -> bool:
    """True when the database gave up on the transaction because of another one (retryable:
    nothing was written)."""
    if getattr(error.orig, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    return isinstance(error, OperationalError) and any(w in str(error.orig).lower() for w in _BUSY_WORDS)


def is_stale_connection(error: DBAPIError) -> bool:
    """True when the connection was found dead (SQLAlchemy invalidated it and the pool) before the
    transaction could commit: nothing was written, and a fresh connection will do."""
    return bool(error.connection_invalidated) and not getattr(error, "in_commit", False)


def backoff(attempt: int) -> float:
    """Seconds to sleep after losing ``attempt`` (1-based): full jitter, so that the losers of
    one conflict do not collide again in lockstep."""
    return random.uniform(0, RETRY_BASE_DELAY * 2 ** (attempt - 1))


def translated(error: DBAPIError) -> errors.ApiError | None:
    """The client error a database failure means, or None for a server fault (left to the
    dispatcher's "internal error")."""
    text = str(error.orig)
    if isinstance(error, IntegrityError):
        return errors.ApiError(
            errors.CONSTRAINT_VIOLATED,
            "the request conflicts with existing data or a concurrent change (a duplicate id or a "
            "missing reference); nothing was written",
            "retry the request; if it fails again, check the ids it names: " + text.splitlines()[0][:200],
        )
    if is_busy(error):
        return errors.ApiError(
            errors.TRY_AGAIN, "the database is busy; nothing was written", "retry the request"
        )
    return None


@contextmanager
def translate_errors() -> Iterator[None]:
    """Raise database errors that a client can act on as :class:`~labeldesk.domain.errors.ApiError`."""
    try:
        yield
    except DBAPIError as e:
        api = translated(e)
        if api is None:
            raise
        raise api from e


_BEGIN_IMMEDIATE = Sql("BEGIN IMMEDIATE")
_SAVEPOINT = Sql("SAVEPOINT unit")
_ROLLBACK_TO_SAVEPOINT = Sql("ROLLBACK TO SAVEPOINT unit")
_RELEASE_SAVEPOINT = Sql("RELEASE SAVEPOINT unit")
#: the after-commit effects of each open write transaction, by its connection's ``id`` (not in
#: ``Connection.info``: reading that revalidates the connection, which fails once it is dead)
_EFFECTS: dict[int, list[Callable[[], None]]] = {}


def after_commit(conn: Connection, effect: Callable[[], None]) -> None:
    """Run ``effect`` once the write transaction of ``conn`` has committed (after the writer's
    turn is passed on), never when it rolls back, nor for an attempt the database aborted and
    :meth:`Database.run` runs again: for effects outside the database that must follow what was
    written, e.g. deleting stored bytes whose rows a delete removed. A failing effect is logged;
    the transaction stands."""
    effects = _EFFECTS.get(id(conn))
    if effects is None:
        raise RuntimeError("after_commit needs a write transaction (Database.write or run(write=True))")
    effects.append(effect)


def _each_in_a_savepoint(conn: Connection, group: list[Unit[Any]]) -> None:
    """Run each unit of ``group`` in a savepoint of its own: one that fails is rolled back to it
    (its effects dropped with it) and the others go on."""
    for unit in group:
        _EFFECTS[id(conn)] = unit.effects
        _SAVEPOINT.run(conn, ())
        try:
            unit.run(conn)
        except Exception as e:
            _ROLLBACK_TO_SAVEPOINT.run(conn, ())
            unit.failed(e)
        _RELEASE_SAVEPOINT.run(conn, ())


def _run_effects(effects: list[Callable[[], None]]) -> None:
    """A committed transaction's after-commit effects: a failing one is logged; the transaction
    stands and the rest still run."""
    for effect in effects:
        try:
            effect()
        except Exception:  # the effect's failure is the operator's to see
            log.exception("an effect after the commit failed")


def _commit(conn: Connection, raw: Any) -> None:
    try:
        raw.commit()
    except conn.dialect.loaded_dbapi.Error as e:
        conn._handle_dbapi_exception(e, "COMMIT", (), None, None)


class Database:
    """One engine plus the two kinds of transaction the services use.

    ``shared_file=True`` (SQLite): several server processes write this file (``serve --workers``);
    their writers then also queue on an advisory lock of ``<database>.writer-lock``, so the file's
    write lock passes from process to process at once instead of through SQLite's busy handler."""

    def __init__(self, url: str, shared_file: bool = False, turns: int = 0) -> None:
        self.url = url
        self.engine = make_engine(url)
        #: units of work run again: "retries" (the database aborted them for contention),
        #: "reconnects" (a pooled connection was dead); /metrics shows them
        self.counts = {"retries": 0, "reconnects": 0}
        self._counts_lock = threading.Lock()
        self.sqlite = is_sqlite(url)
        if self.sqlite:  # group commit's (storage/write_groups.py)
            self.counts.update(group_commits=0, grouped_writes=0)
        #: read transactions' connections (SQLite: a pool opened read-only; else the same engine)
        self.read_engine = make_engine(url, read_only=True) if self.sqlite else self.engine
        #: connections kept checked out between transactions (storage/idle_connections.py); on
        #: PostgreSQL reads and writes share one engine, so one stack (the pool's size still bounds both)
        self._writes = IdleConnections(self.engine, CONNECTIONS_KEPT)
        self._reads = IdleConnections(self.read_engine, CONNECTIONS_KEPT) if self.sqlite else self._writes
        # SQLite admits one writer at a time anyway; queueing this process's writers on a lock
        # hands the database over at once, where SQLite's busy handler sleeps 1-100 ms between
        # retries (p99 of LABEL_START with 8 workers: ~2 s without the lock, ~30 ms with it).
        # Other processes on the same file wait through busy_timeout unless ``shared_file``.
        self._write_lock: threading.Lock | None = threading.Lock() if self.sqlite else None
        self._file_lock: int | None = None
        #: SQLite: concurrent units of work of :meth:`run` share a transaction (group commit)
        self._groups = WriteGroups(self._run_group) if self.sqlite else None
        #: copies the WAL into the file off the writers' path (SQLite; storage/checkpoints.py)
        self._checkpointer: WalCheckpointer | None = None
        #: PostgreSQL: at most ``turns`` units of work at once (storage/unit_turns.py; 0: two per core)
        self._turns: UnitTurns | None = None
        if not self.sqlite:  # the connection hearing of other replicas' key changes went
            self.counts.update(account_news_lost=0, unit_waits=0)
            self._turns = UnitTurns(turns or 2 * usable_cores(), lambda: self._count("unit_waits"))
        path = sqlite_file(url)
        #: news of account changes committed by other processes, and ours for them
        self.news = account_news.for_database(
            url, path, None if self.sqlite else self._listener, lambda: self._count("account_news_lost")
        )
        _listen_to(self.news)
        if path is not None:
            self._checkpointer = WalCheckpointer(path).start()
            if shared_file:
                self._file_lock = os.open(f"{path}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)

    @property
    def turns(self) -> UnitTurns | None:
        """PostgreSQL: the process's turns, which the transports' executors take for their calls
        (storage/unit_turns.py); SQLite: None."""
        return self._turns

    def _listener(self) -> Any:
        """A new autocommit driver connection to the database, outside the pool (PostgreSQL's
        account news listens on it)."""
        args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        return self.engine.dialect.loaded_dbapi.connect(*args, **{**kwargs, "autocommit": True})

    def run(self, work: Callable[[Connection], R], *, write: bool) -> R:
        """``work(conn)`` in one transaction (read-write when ``write``), re-run from the start
        when the database aborted it for contention (see the module doc); database errors that
        remain are translated as :func:`translate_errors` does."""
        with translate_errors():
            for attempt in range(1, RETRY_ATTEMPTS):
                try:
                    return self._attempt(work, write)
                except DBAPIError as e:
                    if is_stale_connection(e):
                        self._count("reconnects")
                        continue  # at once: the pool was emptied, the next connection is new
                    if not is_busy(e):
                        raise
                self._count("retries")
                with stepped_out():  # a call that holds its turn (transport/workers.py) lends it meanwhile
                    time.sleep(backoff(attempt))
            return self._attempt(work, write)

    def _attempt(self, work: Callable[[Connection], R], write: bool) -> R:
        if self._turns is not None:  # PostgreSQL: in one of the process's turns
            with self._turns.turn():
                return self._attempt_now(work, write)
        return self._attempt_now(work, write)

    def _attempt_now(self, work: Callable[[Connection], R], write: bool) -> R:
        if write and self._groups is not None:
            try:
                result, effects = self._groups.run(work)
            except RunAlone:  # its group's transaction failed: nothing of it was written
                pass
            else:
                _run_effects(effects)
                return result
        with self._write() if write else self._read() as conn:
            return work(conn)

    def _run_group(self, group: list[Unit[Any]]) -> None:
        """The units of ``group`` in one write transaction (storage/write_groups.py): each in a
        savepoint of its own when there are several, so that one failing leaves the others."""
        try:
            with self._committed(group[0].effects) as conn:
                if len(group) == 1:  # its failure rolls the transaction back
                    group[0].run(conn)
                else:
                    _each_in_a_savepoint(conn, group)
        except Exception as e:
            for unit in group:
                unit.failed(e if len(group) == 1 else RunAlone())
            return
        if len(group) > 1:
            self._count("group_commits")
            self._count("grouped_writes", len(group))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction, committed when the block ends without an exception."""
        with translate_errors(), self._write() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        effects: list[Callable[[], None]] = []
        with self._committed(effects) as conn:
            yield conn
        _run_effects(effects)  # committed, and the writer's turn passed on

    @contextmanager
    def _committed(self, effects: list[Callable[[], None]]) -> Iterator[Connection]:
        """A write transaction in the writer's turn, committed when the block ends without an
        exception; :func:`after_commit` puts its effects in ``effects`` (for the caller to run)."""
        # The connection is taken inside the writer's turn, the one serial section of all the
        # server's processes on one SQLite file: the kept connections are a stack, so one process's
        # writes keep reusing the connection used last, whose page cache stays warm (taken before the
        # turn, 32 waiting threads rotated through 32 connections, each finding its cache stale:
        # 0.33-0.36 ms of CPU per write call instead of 0.26-0.27, queue_wait.py), and taking it from
        # the stack costs no pool check-out (~0.1 ms through the pool, benchmarks/work_queue.py).
        with self._writer_turn(), self._writes.connection() as conn, self._transaction(conn):
            _EFFECTS[id(conn)] = effects
            try:
                yield conn
            finally:
                del _EFFECTS[id(conn)]
        if self._checkpointer is not None:  # committed: the checkpointer has pages to copy
            self._checkpointer.wrote()

    @contextmanager
    def _transaction(self, conn: Connection) -> Iterator[None]:
        """A read-write transaction on ``conn``, committed when the block ends without an
        exception."""
        raw: Any = conn.connection.dbapi_connection
        if self.sqlite:  # the driver's own calls (as _read's): ~40 µs less per write than SQLAlchemy's
            _BEGIN_IMMEDIATE.run(conn, ())
        else:
            if raw.read_only:  # left so by a read whose clean-up failed (see _read)
                raw.read_only = None
            conn.begin()
        try:
            yield
        except BaseException:
            conn.rollback()
            if self.sqlite:
                raw.rollback()  # BEGIN IMMEDIATE's, when no statement ran through SQLAlchemy
            raise
        # read before the commit, whose event (_transaction_ended) clears it
        announce = conn.info.get("accounts_changed", False)
        if announce and self.news.notify_sql:  # delivered if and once this commits
            conn.exec_driver_sql(self.news.notify_sql)  # (failing, nothing is committed: may re-run)
        try:
            conn.commit()
            if self.sqlite:  # when every statement went to the driver (storage/raw.py)
                _commit(conn, raw)
        except DBAPIError as e:
            e.in_commit = True  # type: ignore[attr-defined]  # it may have committed: no re-run
            raise
        if announce:  # after the commit: a process that hears it must find the change
            self.news.announce()

    @contextmanager
    def bulk_writes(self) -> Iterator[Callable[[], contextlib.AbstractContextManager[Connection]]]:
        """Write transactions of one bulk import (``with writes() as conn:`` each, as :meth:`write`).

        SQLite: on a connection of its own (closed at the end, not returned to the pool: nothing
        else ever uses it), with foreign keys off (the import checks the rows it refers to
        itself: ~25 % of its inserts' cost) and the WAL checkpointed when it passes
        :data:`BULK_CHECKPOINT_PAGES` pages instead of SQLite's 1,000 (4 MB: every chunk's commit,
        each checkpoint writing the pages again and syncing the file); its commits do not wake the
        server's checkpointer, and at the end the import checkpoints what it wrote (PASSIVE: waits
        for no reader), so no later server write pays for its pages.
        PostgreSQL: :meth:`write`."""
        if not self.sqlite:
            yield self.write
            return
        conn = self.engine.connect()
        try:
            raw: Any = conn.connection.dbapi_connection
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute(f"PRAGMA wal_autocheckpoint={BULK_CHECKPOINT_PAGES}")

            @contextmanager
            def writes() -> Iterator[Connection]:
                with translate_errors(), self._writer_turn(), self._transaction(conn):
                    yield conn

            yield writes
        finally:
            # the import pays for its own pages: the next server write must not checkpoint them
            # (a broken connection is closed below all the same)
            with contextlib.suppress(Exception):
                raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.invalidate()  # closed, not back to the pool with these settings
            conn.close()

    def kept_idle(self) -> int:
        """Connections of :attr:`engine` kept between transactions: checked out of its pool, but
        idle (``/metrics`` counts them as idle, not in use)."""
        return len(self._writes)

    def _count(self, what: str, n: int = 1) -> None:
        with self._counts_lock:
            self.counts[what] += n

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            if self._file_lock is None:
                yield
                return
            fcntl.flock(self._file_lock, fcntl.LOCK_EX)  # waits (without the GIL) for other processes
            try:
                yield
            finally:
                fcntl.flock(self._file_lock, fcntl.LOCK_UN)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction; a write in it fails (see the module doc). On SQLite it reads
        one snapshot throughout; on PostgreSQL (READ COMMITTED) each statement reads what was
        committed when it began."""
        with translate_errors(), self._read() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        # kept checked out between reads (storage/idle_connections.py): kept again only when no
        # transaction is left open on it, which a failed clean-up below leaves
        with self._reads.connection() as conn:
            raw: Any = conn.connection.dbapi_connection
            if self.sqlite:
                raw.execute("BEGIN")  # the driver's own call: no statement compilation, no result set
            else:
                raw.read_only = True  # psycopg: the next BEGIN is "BEGIN READ ONLY"
                conn.begin()
            try:
                yield conn
            finally:
                conn.rollback()
                if self.sqlite:
                    raw.rollback()  # the BEGIN above, when no statement ran through SQLAlchemy
                else:
                    with contextlib.suppress(Exception):  # a broken connection: not kept
                        raw.read_only = None  # the driver default

    def optimize(self) -> None:
        """Refresh SQLite's planner statistics where tables grew (cheap; PostgreSQL's autovacuum
        does this by itself). Without statistics SQLite picks poor indexes once tables are large."""
        if not self.sqlite:
            return
        with self._writer_turn(), self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            conn.exec_driver_sql("PRAGMA optimize")

    def dispose(self) -> None:
        _stop_listening_to(self.news)
        self.news.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._reads.close()
        self._writes.close()
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        if self._file_lock is not None:
            os.close(self._file_lock)
            self._file_lock = None
