"""``labeldesk`` as a child process, for the tests that signal or kill it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

LISTENING = re.compile(r"listening: REST https?://[^:]+:(\d+)\s+gRPC\S* [^:]+:(\d+)")


@dataclass
class ServerProcess:
    """A running ``labeldesk serve`` / ``demo``; its stderr is collected line by line."""

    proc: subprocess.Popen[str]
    http_port: int = 0
    grpc_port: int = 0
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stdout_key(self) -> str:
        """The key ``labeldesk demo`` printed (its first stdout line)."""
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def wait_exit(self, timeout: float) -> tuple[int, float]:
        """(exit status, seconds it took); fails the test when the process outlives ``timeout``."""
        started = time.monotonic()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {timeout} s; stderr:\n{self.stderr}") from None
        if self._reader is not None:
            self._reader.join(5)
        return code, time.monotonic() - started


def start(args: list[str], cwd: Path, timeout: float = 60) -> ServerProcess:
    """Run ``labeldesk ARGS`` (with --http-port 0 --grpc-port 0 appended) and wait until it listens."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labeldesk.cli",
            *args,
            "--host",
            "127.0.0.1",
            "--http-port",
            "0",
            "--grpc-port",
            "0",
        ],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = ServerProcess(proc)
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            server.lines.append(line)
            found = LISTENING.search(line)
            if found:
                server.http_port, server.grpc_port = int(found[1]), int(found[2])
                ready.set()
        ready.set()

    server._reader = threading.Thread(target=read, daemon=True)
    server._reader.start()
    if not ready.wait(timeout) or not server.http_port:
        proc.kill()
        raise AssertionError(f"labeldesk did not start:\n{server.stderr}")
    return server
