"""The README's curl examples, pasted as a reader would: every ```bash block that talks to the
server through ``$KEY`` runs against a real server with the demo data, and every call succeeds."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from labeldesk.app import RunningServer
from labeldesk.demo import seed_demo

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```bash\n(.*?)```", re.S)
# curl that fails on HTTP errors, so a wrong example fails the test.
PREAMBLE = 'set -euo pipefail\ncurl() { command curl -sS --fail-with-body "$@"; echo; }\n'


def curl_blocks() -> list[str]:
    blocks = [_code_only(b) for b in BLOCK.findall(README.read_text())]
    return [b for b in blocks if "$KEY" in b and "labeldesk " not in b]


def _code_only(block: str) -> str:
    """The block without comments and without the line where the reader pastes their key."""
    lines = [line.split(" #")[0] for line in block.splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(line for line in lines if not line.startswith("export KEY=")) + "\n"


def test_readme_has_curl_examples() -> None:
    assert len(curl_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(curl_blocks())))
def test_readme_curl_block_runs(server: RunningServer, index: int) -> None:
    key = seed_demo(server.app.db, server.app.hosting)
    script = curl_blocks()[index].replace("http://127.0.0.1:8080", server.base_url)
    res = subprocess.run(
        ["bash", "-c", PREAMBLE + script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"KEY": key, "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert res.returncode == 0, (
        f"README block {index} failed:\n{script}\n--- stdout\n{res.stdout}\n--- stderr\n{res.stderr}"
    )
    if "/v2/" in script.replace("/api/v2/", ""):  # Clarifai-style calls answer a status
        assert '"code":10000' in res.stdout.replace(" ", "")
