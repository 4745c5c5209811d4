"""Browser fixtures: Debian's Chromium driven by Playwright for Python (never a downloaded browser).

The tests skip — saying why — only when ``/usr/bin/chromium`` (or ``LABELDESK_CHROMIUM``) is absent;
``.ci/run`` installs it. Images are served by labeldesk itself when it hosts uploaded bytes, otherwise by
a throwaway local HTTP server (no internet either way)."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import io
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labeldesk.app import RunningServer
from tests.browser.scenario import Scenario, build_scenario, image_bytes

#: labeldesk stores posted bytes and answers URLs of its files route (else a local server hosts them)
HOSTED_FILES = importlib.util.find_spec("labeldesk.files") is not None

CHROMIUM = os.environ.get("LABELDESK_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: where screenshots go: a scratch folder, unless LABELDESK_SCREENSHOTS_DIR names one (e.g.
#: ``docs/screenshots`` to refresh the documentation's pictures) -- a plain test run leaves the
#: repository's files alone (their ids and times differ on every run)
SCREENSHOTS = Path(
    os.environ.get("LABELDESK_SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "labeldesk-screenshots"
).resolve()
VIEWPORT = {"width": 1440, "height": 900}


# package scope: Playwright's sync API keeps an event loop running in this thread while it lives, so
# it must stop when the browser tests end (asyncio.run in a later test would fail under it)
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install -e '.[test]' installs playwright"
    )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def static_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on a free port: (directory, base URL)."""
    root = tmp_path_factory.mktemp("static")
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def make_scenario(
    server: RunningServer, rest_stub: Any, static_files: tuple[Path, str]
) -> Callable[[int], Scenario]:
    """``make_scenario(n_images)``: a fresh owner, app, labelers, reviewer and FULL task with MANUAL
    review over ``n_images`` Pillow-made images, uploaded as bytes."""

    def make(n_images: int = 3) -> Scenario:
        suffix = uuid.uuid4().hex[:8]
        urls = None
        if not HOSTED_FILES:
            root, base = static_files
            urls = []
            for i in range(n_images):
                (root / f"{suffix}-{i}.png").write_bytes(image_bytes(i))
                urls.append(f"{base}/{suffix}-{i}.png")
        return build_scenario(server, rest_stub, suffix, image_urls=urls, n_images=n_images)

    return make


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, quietly, with single byte ranges (browsers can seek in a video only then)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        spec = self.headers.get("Range", "")
        path = Path(self.translate_path(self.path))
        if not spec.startswith("bytes=") or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        first, _, last = spec[6:].partition("-")
        start = int(first) if first else max(0, size - int(last))
        end = min(size - 1, int(last)) if first and last else size - 1
        with path.open("rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(body)
