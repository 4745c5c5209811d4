"""Shared fixtures: one real labeldesk server per test session (REST + gRPC on free ports),
the official clarifai-grpc client on both of its channels, and small factories.

Set LABELDESK_TEST_DATABASE_URL to run the whole suite against PostgreSQL (``.ci/run`` does);
otherwise a fresh SQLite file is used. Under pytest-xdist every worker process has its own server
and its own database (a SQLite file, or a PostgreSQL database made beside the given one). Tests
isolate themselves by creating their own users and apps with unique ids, so no test depends on
another's data. What tests import (``AppFixture``, ``unique``, assertions) is in ``tests/helpers.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import service_pb2_grpc
from hypothesis import settings as hypothesis_settings

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings
from labeldesk.services import admin
from labeldesk.storage import clock as storage_clock
from tests.helpers import TRANSPORTS, AppFixture, unique, worker_database

# Property tests in CI: the same examples on every run (derandomize), a fixed count and no
# per-example deadline on a loaded machine, so a red run reproduces locally with
# HYPOTHESIS_PROFILE=ci. `.ci/run` sets it; a plain `pytest` keeps hypothesis's random search.
hypothesis_settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None, print_blob=True)
# Outside CI: random search, but no per-example deadline either (timing is for benchmarks/, and a
# loaded machine must not turn a correct example red).
hypothesis_settings.register_profile("dev", deadline=None, print_blob=True)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("LABELDESK_TEST_DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url and worker and url.startswith("postgresql"):
        with worker_database(url, worker) as own:
            yield own
    elif url:
        yield url
    else:
        path: Path = tmp_path_factory.mktemp("db") / "labeldesk-test.db"
        yield f"sqlite:///{path}"


@pytest.fixture
def private_database(tmp_path: Path) -> Iterator[Callable[[str, str], str]]:
    """``private_database(database, name)``: a database no other server uses -- a SQLite file
    ``name`` under the test's folder for ``"sqlite"``, else a fresh PostgreSQL database beside the
    URL ``database`` (dropped afterwards). Kill-and-restart tests need it: on a shared database the
    job worker of another test's server would take their jobs over."""
    with ExitStack() as stack:

        def make(database: str, name: str) -> str:
            if database == "sqlite":
                return f"sqlite:///{tmp_path / name}"
            return stack.enter_context(worker_database(database, f"own_{uuid.uuid4().hex[:10]}"))

        yield make


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = replace(Settings.from_env(), blob_dir=str(tmp_path_factory.mktemp("blobs")))
    running = RunningServer(build(database_url, settings=settings), "127.0.0.1", 0, 0).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def rest_stub(server: RunningServer) -> service_pb2_grpc.V2Stub:
    return service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=server.base_url))


@pytest.fixture(scope="session")
def grpc_stub(server: RunningServer) -> service_pb2_grpc.V2Stub:
    return service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
    )


@pytest.fixture(params=TRANSPORTS)
def stub(request: pytest.FixtureRequest, rest_stub: Any, grpc_stub: Any) -> service_pb2_grpc.V2Stub:
    """The official client's stub, once over the JSON/REST channel and once over gRPC."""
    return rest_stub if request.param == "rest" else grpc_stub


@pytest.fixture
def clock() -> Iterator[Callable[[float], None]]:
    """Let time pass without sleeping: ``clock(seconds)`` moves the server's clock forward (the
    servers of the session run in this process); the wall clock is back after the test."""
    yield storage_clock.advance
    storage_clock.reset()


@pytest.fixture
def app(server: RunningServer) -> AppFixture:
    user_id, app_id = unique("owner"), unique("app")
    pat = admin.create_user(server.app.db, user_id, f"{user_id}@example.com")
    admin.create_app(server.app.db, user_id, app_id)
    key = admin.create_app_key(server.app.db, user_id, app_id)
    return AppFixture(user_id, app_id, pat, key, server)
