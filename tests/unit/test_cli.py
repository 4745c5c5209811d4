"""The CLI contract of DESIGN.md, run as a real subprocess: keys alone on stdout, messages on
stderr, clear errors with exit status 1, and ``serve`` answering both transports."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.helpers import PNG_1PX

TOKEN = re.compile(r"^[0-9a-f]{32}$")


def run(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABELDESK_DATABASE_URL": db}
    return subprocess.run(
        [sys.executable, "-m", "labeldesk.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_users_create_prints_only_the_pat(db: str) -> None:
    res = run("users", "create", "alice", "--email", "alice@example.com", db=db)
    assert res.returncode == 0, res.stderr
    assert TOKEN.match(res.stdout.strip()), res.stdout
    assert res.stdout.count("\n") == 1
    assert "alice" in res.stderr


def test_duplicate_user_is_a_clear_error(db: str) -> None:
    assert run("users", "create", "bob", db=db).returncode == 0
    res = run("users", "create", "bob", db=db)
    assert res.returncode == 1
    assert res.stdout == ""
    assert "already exists" in res.stderr


def test_init_apps_keys_and_migrate(db: str) -> None:
    init = run("init", "--user-id", "carol", "--app-id", "main", db=db)
    assert init.returncode == 0 and TOKEN.match(init.stdout.strip()), init.stderr
    assert run("apps", "create", "carol", "second", db=db).returncode == 0
    key = run("keys", "create", "carol", "second", "--scopes", "Inputs:Get", db=db)
    assert key.returncode == 0 and TOKEN.match(key.stdout.strip())
    missing = run("keys", "create", "carol", "nope", db=db)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert run("migrate", "--database-url", db, db=db).returncode == 0


def test_invalid_ids_are_refused(db: str) -> None:
    res = run("users", "create", "no spaces please", db=db)
    assert res.returncode == 1 and "not a valid user id" in res.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_rest_and_grpc_then_stops_on_sigterm(db: str, tmp_path: Path) -> None:
    pat = run("init", "--user-id", "dave", "--app-id", "app1", db=db).stdout.strip()
    http_port, grpc_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labeldesk.cli",
            "serve",
            "--database-url",
            db,
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
            "--blob-dir",
            str(tmp_path / "files"),
            "--public-url",
            "https://label.example.com/",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    before: list[str] = []
    try:
        # the banner comes once both listeners are up; a server that dies ends stderr instead
        for line in proc.stderr:
            before.append(line)
            if "listening" in line:
                break
        assert "listening" in "".join(before), "".join(before)
        assert requests.get(f"http://127.0.0.1:{http_port}/healthz", timeout=10).ok
        meta = (("authorization", f"Key {pat}"),)
        uai = resources_pb2.UserAppIDSet(user_id="dave", app_id="app1")
        # clarifai-grpc picks its response decoder when the stub is built: build each stub
        # right after its channel.
        make_channels = (
            lambda: ClarifaiChannel.get_json_channel(base_url=f"http://127.0.0.1:{http_port}"),
            lambda: ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=grpc_port),
        )
        for make_channel in make_channels:
            stub = service_pb2_grpc.V2Stub(make_channel())
            resp = stub.ListInputs(service_pb2.ListInputsRequest(user_app_id=uai), metadata=meta)
            assert resp.status.code == status_code_pb2.SUCCESS
            image = resources_pb2.Image(base64=PNG_1PX)
            req = service_pb2.PostInputsRequest(
                user_app_id=uai, inputs=[resources_pb2.Input(data=resources_pb2.Data(image=image))]
            )
            posted = stub.PostInputs(req, metadata=meta)
            assert posted.inputs[0].data.image.url.startswith("https://label.example.com/files/orig/")
        assert len(list((tmp_path / "files").rglob("*.small"))) == 2  # --blob-dir holds the files
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == ""


def test_demo_without_serving_prints_a_working_key(db: str, tmp_path: Path) -> None:
    demo_db = f"sqlite:///{tmp_path / 'demo.db'}"
    first = run("demo", "--no-serve", "--database-url", demo_db, db=db)
    assert first.returncode == 0, first.stderr
    assert TOKEN.match(first.stdout.strip())
    again = run("demo", "--no-serve", "--database-url", demo_db, db=db)
    assert again.returncode == 0, "demo must be re-runnable on the same database"
    assert len(list((tmp_path / "demo.blobs").rglob("*.tiny"))) == 4  # pictures posted as bytes
    with sqlite3.connect(tmp_path / "demo.db") as conn:  # the built-in face model, registered once
        rows = conn.execute("SELECT id, metadata FROM models").fetchall()
    assert [(i, json.loads(m)) for i, m in rows] == [
        ("face-detection", {"labeldesk": {"backend": "builtin", "model_name": "face-detection"}})
    ]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--cors-origin", "labels.example.com"], "https://host"),
        (["--max-body-mb", "0"], "--max-body-mb"),
        (["--max-body-mb", "lots"], "--max-body-mb"),
    ],
)
def test_serve_refuses_bad_limits_and_origins(db: str, flags: list[str], message: str) -> None:
    res = run("serve", "--http-port", "0", "--grpc-port", "0", *flags, db=db)
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert res.stdout == ""
