"""``labeldesk serve --workers auto`` starts one server process per usable CPU core (the banner
says how many serve REST and gRPC) and stops them all on SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil
import pytest
import requests

from labeldesk.cli import MAX_WORKERS
from labeldesk.config import usable_cores
from tests.ops.proc import start


@pytest.mark.skipif(usable_cores() < 2, reason="needs 2 CPU cores for 'auto' to mean several processes")
def test_workers_auto_serves_from_one_process_per_core(tmp_path: Path) -> None:
    n = min(usable_cores(), MAX_WORKERS)
    server = start(
        ["serve", "--database-url", f"sqlite:///{tmp_path / 'auto.db'}", "--workers", "auto"], tmp_path
    )
    try:
        assert f"REST and gRPC served by {n} processes" in server.stderr
        children = psutil.Process(server.proc.pid).children()
        assert len([c for c in children if "multiprocessing" in " ".join(c.cmdline())]) >= n - 1
        assert requests.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
        server.signal(signal.SIGTERM)
        code, _ = server.wait_exit(30)
        assert code == 0
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    finally:
        if server.proc.poll() is None:
            server.kill()
