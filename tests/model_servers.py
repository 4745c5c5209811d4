"""Small model servers the tests run on their own ports (stdlib ``http.server`` in a thread): one
speaking the Open Inference Protocol, one the Label Studio ML backend protocol. Each records the
requests it got and answers what the test set (``answer``), slowly (``delay_s``) or as garbage."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, Any], tuple[int, bytes]]


@dataclass
class ModelServer:
    url: str = ""
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    answer: Answer | None = None
    delay_s: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0  # the most requests it was answering at once
    lock: threading.Lock = field(default_factory=threading.Lock)

    def json_answer(self, body: Any, code: int = 200) -> None:
        self.answer = lambda path, req: (code, json.dumps(body).encode())


def _handler(state: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            body = json.loads(raw) if raw else None
            with state.lock:
                state.requests.append((self.command, self.path, dict(self.headers), body))
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                if state.delay_s:
                    time.sleep(state.delay_s)
                code, data = state.answer(self.path, body) if state.answer else (404, b"{}")
            finally:
                with state.lock:
                    state.in_flight -= 1
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                pass

        do_GET = do_POST = _serve

    return Handler


@contextmanager
def model_server(answer: Answer | None = None) -> Iterator[ModelServer]:
    """A model server on a free port; ``answer(path, body) -> (status, bytes)`` if given."""
    state = ModelServer()
    if answer is not None:
        state.answer = answer
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
