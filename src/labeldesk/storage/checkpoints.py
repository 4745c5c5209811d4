"""SQLite's write-ahead log copied into the database file by a thread of its own.

In WAL mode every commit appends the pages it changed to ``<database>-wal``; a *checkpoint* copies
them back into the database file (and syncs both), after which the log starts over. By default
SQLite checkpoints inside the commit that takes the log past 1,000 pages: that commit's writer
copies ~4 MB and waits for two syncs while it still holds the write lock, so every other writer
of every server process waits too, and the copying runs on the thread (and interpreter lock) of
a request. Measured in process (``benchmarks/profile_writes.py``): 15-20 % of a 128-row
PostAnnotations' CPU, all of it in the writer's serial section.

Here the server's write connections checkpoint in the foreground only past
:data:`FALLBACK_PAGES` (a safety net should this thread fall behind), and
:class:`WalCheckpointer` runs ``PRAGMA wal_checkpoint(PASSIVE)`` every :data:`INTERVAL_SECONDS`
after a commit on a connection of its own. A passive checkpoint never waits: it copies what no
reader still needs and leaves the rest for the next round; the sqlite3 driver releases the
interpreter lock while SQLite copies, so the work runs on the other core. Several server
processes on one file (``serve --workers``) each run one; SQLite lets one checkpoint at a time,
and a passive checkpoint that finds another running returns at once.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from urllib.parse import quote

log = logging.getLogger(__name__)

#: seconds between two checkpoints (when something was committed in between)
INTERVAL_SECONDS = 0.2
#: WAL pages after which a commit checkpoints in the foreground anyway (40 MB of 4 kB pages)
FALLBACK_PAGES = 10_000


class WalCheckpointer:
    """Checkpoints the SQLite database at ``path`` from a daemon thread, at most every
    ``interval`` seconds and only after :meth:`wrote` said a commit happened. :meth:`stop` ends the
    thread (after one last checkpoint) and closes its connection."""

    def __init__(self, path: str, interval: float = INTERVAL_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._dirty = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self.checkpoints = 0

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def wrote(self) -> None:
        """A transaction committed: the next round has pages to copy (a plain store: no lock)."""
        self._dirty = True

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stopping.wait(self._interval):
                conn = self._round(conn)
            conn = self._round(conn)  # the last one may open the connection: closed below
        finally:
            if conn is not None:
                conn.close()

    def _round(self, conn: sqlite3.Connection | None) -> sqlite3.Connection | None:
        """One checkpoint if something was committed; answers the connection to use next time
        (opened on the first commit, so the file exists: ``mode=rw`` never creates one)."""
        if not self._dirty:
            return conn
        self._dirty = False
        try:
            if conn is None:
                uri = f"file:{quote(self._path)}?mode=rw"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error:  # e.g. the file was removed under a test; the next commit tries again
            log.debug("checkpoint of %s failed", self._path, exc_info=True)
        return conn
