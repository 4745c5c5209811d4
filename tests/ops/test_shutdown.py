"""SIGTERM/SIGINT on ``labeldesk serve`` and ``labeldesk demo``: in-flight requests finish within
the grace period, the process exits by itself, "stopping…" is said once, a second signal exits
at once. Run as child processes (signals and exits are the point)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ops.proc import ServerProcess, start

# Long enough that "waited for the grace period" and "did not" stay apart on a loaded CI machine.
GRACE = 6.0
BODY = b'{"concepts": [{"id": "c1"}]}'


def _begin_request(server: ServerProcess, key: str) -> socket.socket:
    """A POST whose body is only half sent: the request stays in flight until we send the rest."""
    sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
    head = (
        f"POST /v2/concepts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Key {key}\r\nContent-Length: {len(BODY)}\r\n\r\n"
    ).encode()
    sock.sendall(head + BODY[:5])
    time.sleep(0.2)  # let the server start reading the body (the request is now in flight)
    return sock


def _command(kind: str, tmp_path: Path) -> tuple[list[str], str]:
    """The command line, and an app key for the app it serves ("" for demo: it prints one)."""
    db = f"sqlite:///{tmp_path / 'shutdown.db'}"
    grace = ["--shutdown-grace", str(GRACE)]
    if kind == "demo":
        return ["demo", "--database-url", db, *grace], ""
    cli = [sys.executable, "-m", "labeldesk.cli"]
    init = [*cli, "init", "--database-url", db, "--user-id", "u", "--app-id", "a"]
    subprocess.run(init, check=True, capture_output=True)
    made = subprocess.run(
        [*cli, "keys", "create", "u", "a", "--database-url", db], check=True, capture_output=True, text=True
    )
    return ["serve", "--database-url", db, *grace], made.stdout.strip()


def _start(kind: str, tmp_path: Path) -> tuple[ServerProcess, str]:
    command, key = _command(kind, tmp_path)
    server = start(command, tmp_path)
    return server, key or server.stdout_key()


def test_in_flight_request_finishes_then_the_process_exits(tmp_path: Path) -> None:
    server, key = _start("serve", tmp_path)
    sock = _begin_request(server, key)
    server.signal(signal.SIGTERM)
    time.sleep(0.3)
    assert server.proc.poll() is None  # still serving the request in flight
    sock.sendall(BODY[5:])
    chunks = []
    while chunk := sock.recv(65536):  # the server closes the connection after answering (stopping)
        chunks.append(chunk)
    answer = b"".join(chunks).decode("latin-1")
    assert answer.startswith("HTTP/1.1 200"), answer  # the request was carried out, not reset
    assert '"code":10000' in answer.replace(" ", "")
    sock.close()
    code, took = server.wait_exit(GRACE + 10)
    assert code == 0, server.stderr
    assert took < GRACE, "nothing was in flight any more, yet the stop waited for the grace period"
    assert server.stderr.count("stopping…") == 1


def test_a_stuck_request_does_not_hold_the_process_past_the_grace_period(tmp_path: Path) -> None:
    server, key = _start("serve", tmp_path)
    sock = _begin_request(server, key)  # never completed
    server.signal(signal.SIGTERM)
    code, took = server.wait_exit(GRACE + 10)
    sock.close()
    assert took >= GRACE - 0.5, "the in-flight request was not given its grace period"
    assert code == 0, server.stderr
    assert server.stderr.count("stopping…") == 1


@pytest.mark.parametrize(
    "kind,first,second", [("serve", signal.SIGTERM, signal.SIGTERM), ("demo", signal.SIGINT, signal.SIGTERM)]
)
def test_second_signal_exits_at_once(kind: str, first: int, second: int, tmp_path: Path) -> None:
    server, key = _start(kind, tmp_path)
    sock = _begin_request(server, key)  # keeps the graceful stop waiting
    server.signal(first)
    time.sleep(0.3)
    server.signal(second)
    code, took = server.wait_exit(GRACE + 10)
    sock.close()
    assert took < GRACE - 1, f"the second signal took {took:.1f} s: it waited for the grace period"
    assert code != 0
    assert server.stderr.count("stopping…") == 1, server.stderr
    assert "second signal" in server.stderr
