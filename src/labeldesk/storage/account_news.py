"""News of changed keys, apps, collaborators and users, for every process and replica at once.

Each server process remembers what a key resolved to for a few seconds (``services/auth.py``) and
forgets it all when :func:`labeldesk.storage.engine.account_generation` changes. A change committed
by the process itself changes that at once. A change committed elsewhere -- by another process of
``serve --workers``, by another replica, by ``labeldesk`` run from a shell -- reaches the process
as *news*, so that a revoked key stops working everywhere with the next call instead of within
the cache's few seconds:

- SQLite (one host): an 8-byte file beside the database, ``<database>.accounts``, mapped into the
  memory of every process that opens the database. A process that committed such a change writes
  eight fresh random bytes into it; every authentication reads them (a memory read, no system
  call), so the next call in any process sees that something changed.
- PostgreSQL (any number of hosts): the transaction that changes them also sends
  ``NOTIFY labeldesk_accounts``, which PostgreSQL delivers only if it commits, and after it has.
  Each server process listens on a connection of its own, in a thread started with its first
  authentication, and counts what it hears. Losing that connection, and getting it back, count as
  news too (what was said meanwhile is unknown); while it is down the cache's own few seconds
  are what bounds a revocation, as before.

The news says only *that* something changed, never what: a process that hears it looks its keys
up again.
"""

from __future__ import annotations

import logging
import mmap
import os
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: PostgreSQL's channel for the news
CHANNEL = "labeldesk_accounts"
#: seconds between attempts to get the listening connection back
RECONNECT_SECONDS = 1.0
_SIZE = 8


class AccountNews:
    """No news to tell or hear (a database no other process opens: SQLite in memory)."""

    #: sent inside the changing transaction, before its commit (PostgreSQL)
    notify_sql: str | None = None

    def current(self) -> int:
        """A number that changes whenever another process told of a change."""
        return 0

    def announce(self) -> None:
        """Tell the others: called after a transaction that changed accounts committed."""

    def close(self) -> None:
        """Stop listening; :meth:`current` must not be asked after."""


class FileNews(AccountNews):
    """SQLite's: eight bytes of a file shared through memory (see the module doc)."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)  # zeros; two processes doing it at once write the same
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)  # the mapping keeps the file

    def current(self) -> int:
        try:
            return int.from_bytes(self._map[:_SIZE], "little")
        except ValueError:  # closed by Database.dispose under a call still running: a change
            return -1

    def announce(self) -> None:
        # random, not a count: two processes announcing at once still leave a value both differ from
        self._map[:_SIZE] = os.urandom(_SIZE)

    def close(self) -> None:
        self._map.close()


class ListenedNews(AccountNews):
    """PostgreSQL's: ``NOTIFY`` from the changing transaction, ``LISTEN`` in a thread of each
    process. ``connect`` opens a new autocommit connection to the database; ``lost()`` is called
    each time that connection goes (``/metrics``: ``labeldesk_db_account_news_lost_total``)."""

    notify_sql = f"NOTIFY {CHANNEL}"

    def __init__(self, connect: Callable[[], Any], lost: Callable[[], None] | None = None) -> None:
        self._connect = connect
        self._lost = lost or (lambda: None)
        self._heard = 0
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._stop = threading.Event()
        #: whether the listening connection is up (tests and /metrics may ask)
        self.listening = threading.Event()

    def current(self) -> int:
        if self._thread is None:
            self._begin()
        return self._heard

    def _begin(self) -> None:
        with self._start:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._listen, name="account-news", daemon=True)
                self._thread.start()

    def _listen(self) -> None:
        complained = False
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._heard += 1  # whatever was said before this is unknown here
                    self.listening.set()
                    complained = False
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._heard += 1
            except Exception as e:  # the database went away: fall back on the cache's seconds
                if not complained:
                    log.warning("not hearing of key changes from other replicas (retrying): %s", e)
                    complained = True
            finally:
                if self.listening.is_set():
                    self.listening.clear()
                    self._heard += 1
                    self._lost()
            self._stop.wait(RECONNECT_SECONDS)

    def close(self) -> None:
        self._stop.set()  # the thread ends within a second (it is a daemon: nobody waits for it)


def for_database(
    url: str,
    sqlite_path: str | None,
    connect: Callable[[], Any] | None,
    lost: Callable[[], None] | None = None,
) -> AccountNews:
    """The news of the database at ``url``: ``sqlite_path`` is its file (None: in memory),
    ``connect`` opens a listening connection and ``lost`` hears of its loss (PostgreSQL)."""
    if url.startswith("sqlite"):
        return FileNews(f"{sqlite_path}.accounts") if sqlite_path else AccountNews()
    if url.startswith("postgresql") and connect is not None:
        return ListenedNews(connect, lost)
    return AccountNews()
