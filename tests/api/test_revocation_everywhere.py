"""A key revoked through one server stops working on every other server of the database at once
(storage/account_news.py), even one that had just let it through and remembers it: here the
session's server and a ``labeldesk serve`` process of its own over the same database (the SQLite
file, or PostgreSQL with LABELDESK_TEST_DATABASE_URL). Before, the other process kept the key for
its cache's 5 seconds."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from tests.helpers import AppFixture, ok
from tests.ops.proc import ServerProcess, start

#: how long PostgreSQL's NOTIFY may take to reach the other process (SQLite: not at all)
PG_WITHIN = 2.0


@pytest.fixture
def other_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    other = start(["serve", "--database-url", database_url], tmp_path)
    yield other
    other.signal(signal.SIGTERM)
    other.wait_exit(20)


def _rejected_after(call: Any, within: float) -> float:
    """Seconds until ``call()`` answers KEY_INVALID (0.0: the first call did); fails after ``within``."""
    began = time.monotonic()
    while True:
        code = call()
        if code == sc.CONN_KEY_INVALID:
            return time.monotonic() - began
        assert code == sc.SUCCESS, code
        assert time.monotonic() - began < within, f"the revoked key still worked after {within} s"
        time.sleep(0.01)


def test_a_key_deleted_through_one_server_fails_at_once_on_another(
    grpc_stub: Any, app: AppFixture, other_server: ServerProcess, database_url: str
) -> None:
    channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=other_server.grpc_port)
    there = service_pb2_grpc.V2Stub(channel)

    def grpc_call() -> int:
        return int(there.ListInputs(s.ListInputsRequest(), metadata=app.key_meta).status.code)

    def rest_call() -> int:
        got = requests.get(
            f"{other_server.base_url}/v2/users/{app.user_id}/apps/{app.app_id}/inputs",
            headers={"Authorization": f"Key {app.app_key}"},
            timeout=10,
        ).json()
        return int(got["status"]["code"])

    assert grpc_call() == rest_call() == sc.SUCCESS  # the other server knows the key now
    ok(
        grpc_stub.DeleteKey(
            s.DeleteKeyRequest(user_app_id=r.UserAppIDSet(user_id="me"), key_id=app.app_key),
            metadata=app.meta,
        )
    )
    within = 0.0 if database_url.startswith("sqlite") else PG_WITHIN
    if within:
        _rejected_after(grpc_call, within)
    else:
        assert grpc_call() == sc.CONN_KEY_INVALID  # the very next call
    assert rest_call() == sc.CONN_KEY_INVALID
