"""Slots of a model backend shared by every process on one SQLite file (``serve --workers``).

Calls to one backend must never exceed its ``max_concurrency``, whichever process makes them. On
PostgreSQL a slot is an advisory lock (:mod:`labeldesk.storage.repos.backend_slots`); on SQLite
slot ``i`` of a backend is an exclusive ``flock`` of the file ``<database>.slots/<key>.<i>``,
held on a descriptor of its own for as long as the call runs. Every process (and every thread:
each takes the lock on a descriptor it opened) sees the same locks, a waiting taker sleeps in
the kernel without the interpreter lock, and the kernel drops a dead process's locks, so a
crashed server never keeps a slot.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager


def directory_for(database_path: str) -> str:
    """Where the slot files of the SQLite database at ``database_path`` live."""
    return f"{database_path}.slots"


@contextmanager
def slot(directory: str, key: str, slots: int) -> Iterator[int]:
    """Hold one of the ``slots`` slots of backend ``key`` while the block runs (a free one if there
    is one, else wait for one); answers its number."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    stem = os.path.join(directory, hashlib.sha256(key.encode()).hexdigest()[:16])
    number, fd = _take(stem, slots)
    try:
        yield number
    finally:
        os.close(fd)  # closing the descriptor releases its lock


def _take(stem: str, slots: int) -> tuple[int, int]:
    for i in range(slots):
        fd = _open(stem, i)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return i, fd
    i = random.randrange(slots)  # all taken: queue behind one of them
    fd = _open(stem, i)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return i, fd


def _open(stem: str, i: int) -> int:
    return os.open(f"{stem}.{i}", os.O_RDWR | os.O_CREAT, 0o600)
