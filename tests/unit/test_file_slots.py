"""A model backend's call slots on SQLite (storage/file_slots.py): never more holders than slots,
whether they are threads of one process or other processes, a waiting taker gets the slot the
moment it is let go, and a process killed while holding one loses it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from labeldesk.storage import file_slots
from labeldesk.storage.engine import sqlite_file

KEY = "oip|http://m:8000|det"


def test_threads_never_hold_more_slots_than_there_are(tmp_path: Path) -> None:
    directory, slots = str(tmp_path / "db.slots"), 3
    holding, most = [0], [0]
    lock = threading.Lock()

    def call() -> None:
        for _ in range(5):
            with file_slots.slot(directory, KEY, slots):
                with lock:
                    holding[0] += 1
                    most[0] = max(most[0], holding[0])
                time.sleep(0.01)
                with lock:
                    holding[0] -= 1

    threads = [threading.Thread(target=call) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert most[0] == slots  # reached, never exceeded


def test_backends_have_slots_of_their_own(tmp_path: Path) -> None:
    directory = str(tmp_path / "db.slots")
    with file_slots.slot(directory, KEY, 1), file_slots.slot(directory, "another backend", 1):
        pass  # the second did not wait for the first's only slot


def _hold(directory: str, taken: Connection, let_go: Connection) -> None:
    with file_slots.slot(directory, KEY, 1):
        taken.send("taken")
        let_go.poll(30)  # a pipe, not an Event: a killed waiter would hang an Event's set()


def test_another_process_s_slot_is_waited_for_and_a_killed_process_s_is_freed(tmp_path: Path) -> None:
    directory = str(tmp_path / "db.slots")
    spawn = multiprocessing.get_context("spawn")
    for ending in ("released", "killed"):
        taken, their_taken = spawn.Pipe()
        let_go, their_let_go = spawn.Pipe()
        holder = spawn.Process(target=_hold, args=(directory, their_taken, their_let_go), daemon=True)
        holder.start()
        got = threading.Event()

        def take(got: threading.Event = got) -> None:
            with file_slots.slot(directory, KEY, 1):
                got.set()

        try:
            assert taken.poll(30) and taken.recv() == "taken"
            waiter = threading.Thread(target=take, daemon=True)
            waiter.start()
            assert not got.wait(0.3), "the only slot is the other process's"
            if ending == "released":
                let_go.send("go")
            else:
                assert holder.pid is not None
                os.kill(holder.pid, signal.SIGKILL)
            assert got.wait(10), f"the slot came free when its holder {ending} it"
            waiter.join(10)
        finally:
            if holder.is_alive():
                holder.kill()
            holder.join(10)


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite:///labeldesk.db", "labeldesk.db"),
        ("sqlite:////var/lib/labeldesk/x.db", "/var/lib/labeldesk/x.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql+psycopg://u@h/db", None),
    ],
)
def test_the_files_beside_a_database_need_an_sqlite_file(url: str, file: str | None) -> None:
    assert sqlite_file(url) == file
